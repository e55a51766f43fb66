"""``python -m harness.cli``: the ``wastecoach`` command without its installed script."""

from harness.cli import main

main()
