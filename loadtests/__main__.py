"""``python -m loadtests``: run a scenario's load; see :mod:`loadtests.runner`."""

import sys

from loadtests.runner import main

sys.exit(main())
