"""``python -m reference.migrations {upgrade|downgrade} [revision]`` against the configured DB."""

from __future__ import annotations

import sys

from reference.common.settings import get_settings
from reference.migrations import downgrade, upgrade


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in ("upgrade", "downgrade"):
        raise SystemExit("usage: python -m reference.migrations {upgrade|downgrade} [revision]")
    url = get_settings().database_url
    if argv[0] == "upgrade":
        upgrade(url, argv[1] if len(argv) > 1 else "heads")
    else:
        downgrade(url, argv[1] if len(argv) > 1 else "base")


if __name__ == "__main__":
    main(sys.argv[1:])
