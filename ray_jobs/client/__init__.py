"""The client API: the one door the CLI and the dashboard go through."""

from ray_jobs.client.studio_client import *  # noqa: F401,F403
from ray_jobs.client.studio_client import __all__  # noqa: F401
