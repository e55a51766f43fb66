"""``python -m loadtests``: run a scenario's load alone; see :mod:`loadtests.master`."""

import sys

from loadtests.master import main

sys.exit(main())
