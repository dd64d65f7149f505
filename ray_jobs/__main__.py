import sys

from ray_jobs.cli.main import main

sys.exit(main())
