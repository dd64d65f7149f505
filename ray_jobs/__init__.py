"""Everything that runs on the Ray cluster, and the client API and CLI that drive it."""
