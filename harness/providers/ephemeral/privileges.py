"""Running a server as an unprivileged user when the harness itself runs as root.

PostgreSQL refuses to run as root (CI and our containers are root), so its ephemeral server
and ``initdb`` run as a system user, by default ``wastecoach``, created on first use.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.providers.base import ProviderError

USER_VAR = "WASTECOACH_EPHEMERAL_USER"
DEFAULT_USER = "wastecoach"


@dataclass(frozen=True)
class RunAs:
    """The user a child process runs as."""

    name: str
    uid: int
    gid: int

    def popen_kwargs(self) -> dict[str, Any]:
        """Arguments for :class:`subprocess.Popen` that drop to this user and its group only."""
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def unprivileged_user() -> RunAs | None:
    """The user to run servers as: ``None`` unless we are root, else the dedicated user."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get(USER_VAR) or DEFAULT_USER
    entry = _lookup(name) or _create(name)
    if entry.pw_uid == 0:
        raise ProviderError(f"{USER_VAR}={name} is root; name an unprivileged user instead")
    return RunAs(name=name, uid=entry.pw_uid, gid=entry.pw_gid)


def hand_over(directory: Path, user: RunAs) -> None:
    """Give ``directory`` to ``user`` after checking the user can reach it at all."""
    for parent in directory.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            raise ProviderError(
                f"user {user.name} cannot reach {directory}: {parent} is not searchable by "
                "others; set TMPDIR to a directory such as /tmp"
            )
    os.chown(directory, user.uid, user.gid)


def _lookup(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _create(name: str) -> pwd.struct_passwd:
    useradd = shutil.which("useradd") or shutil.which("useradd", path="/usr/sbin:/sbin")
    if useradd is None:
        raise ProviderError(
            f"user {name} does not exist and useradd is missing; create an unprivileged user "
            f"and name it in {USER_VAR}"
        )
    result = subprocess.run(
        [
            useradd,
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    # Another process may have created it in the meantime; only its absence is an error.
    entry = _lookup(name)
    if entry is None:
        raise ProviderError(
            f"could not create user {name} ({result.stderr.strip() or result.returncode}); "
            f"create an unprivileged user and name it in {USER_VAR}"
        )
    return entry
