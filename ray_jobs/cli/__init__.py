"""The command line: `python -m ray_jobs COMMAND`, a thin front over the client API."""
