import sys

from ray_jobs.cli import main

sys.exit(main())
