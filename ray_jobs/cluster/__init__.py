"""What runs on (or talks straight to) the Ray cluster: connection, resources, the job model,
the registry actor, its workers and pool, and the Ray Jobs API."""
