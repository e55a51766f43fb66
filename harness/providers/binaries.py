"""Finding locally installed server binaries and checking they are recent enough."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from harness.providers.base import ProviderError
from harness.providers.kinds import KindSpec, version_text

_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: str) -> tuple[int, ...] | None:
    """The first ``X.Y[.Z]`` in ``text`` as a tuple of ints, or ``None``."""
    match = _VERSION.search(text)
    if match is None:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def find_executable(
    name: str, *, override_var: str, extra_dirs: Sequence[str], spec: KindSpec, hint: str
) -> Path:
    """Locate ``name``: the path in ``override_var`` if set, else ``PATH``, else ``extra_dirs``.

    ``extra_dirs`` may hold glob patterns (``/usr/lib/postgresql/*/bin``); the newest match by
    version wins, because distributions install several majors side by side.
    """
    override = os.environ.get(override_var)
    if override:
        path = Path(override)
        if path.is_dir():
            path = path / name
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ProviderError(
                f"{override_var}={override} does not lead to an executable {name}; "
                f"fix or unset it. {hint}"
            )
        return path
    search = [os.environ.get("PATH", ""), *_expand(extra_dirs)]
    found = shutil.which(name, path=os.pathsep.join(part for part in search if part))
    if found is None:
        raise ProviderError(
            f"{spec.title} binary {name} not found on PATH or in {', '.join(extra_dirs)}; "
            f"{hint}, or set {override_var}"
        )
    return Path(found)


def command_version(command: Sequence[str | os.PathLike[str]], spec: KindSpec) -> tuple[int, ...]:
    """The version a ``--version`` style command prints."""
    try:
        result = subprocess.run(
            [os.fspath(part) for part in command],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProviderError(
            f"could not run `{' '.join(map(str, command))}` to learn the {spec.title} version "
            f"({exc}); check the installation"
        ) from exc
    version = parse_version(result.stdout + result.stderr)
    if version is None:
        raise ProviderError(
            f"`{' '.join(map(str, command))}` printed no version ({result.stdout.strip()!r}); "
            f"check the {spec.title} installation"
        )
    return version


def require_version(
    version: tuple[int, ...], where: Path, spec: KindSpec, hint: str
) -> tuple[int, ...]:
    """Raise :class:`ProviderError` if ``version`` is older than the spec's minimum."""
    if version[: len(spec.min_version)] < spec.min_version:
        raise ProviderError(
            f"{spec.title} {version_text(version)} at {where} is too old: the harness needs "
            f">= {version_text(spec.min_version)}; {hint}"
        )
    return version


def _expand(patterns: Sequence[str]) -> list[str]:
    dirs: list[str] = []
    for pattern in patterns:
        matches = glob.glob(pattern)
        matches.sort(key=lambda path: [int(n) for n in re.findall(r"\d+", path)], reverse=True)
        dirs.extend(matches)
    return dirs
