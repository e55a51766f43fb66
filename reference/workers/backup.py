"""backup.database's work: ``pg_dump`` of the database in custom format, streamed to S3 as
``backups/<Korean date>.dump`` without touching the local disk.

The dump goes through a reader that counts and hashes it; when pg_dump fails (or runs past
``backup_timeout_seconds``) the reader raises at the end of the stream, which makes the upload
abort, so a truncated dump never lands under the day's key.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from typing import IO, Any

from boto3.s3.transfer import TransferConfig
from sqlalchemy.engine import make_url

from reference.analytics import days
from reference.common import storage
from reference.common.settings import Settings

CHUNK = 8 * 1024 * 1024


class BackupError(RuntimeError):
    """pg_dump is missing, failed or timed out; the message says which and why."""


@dataclass(frozen=True)
class Backup:
    bucket: str
    key: str
    size_bytes: int
    sha256: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "seconds": round(self.seconds, 3),
        }


def pg_dump_binary(settings: Settings) -> str:
    found = shutil.which(settings.pg_dump_path)
    if found is None:
        raise BackupError(
            f"pg_dump not found ({settings.pg_dump_path!r}): install the PostgreSQL client "
            "(matching the server's major version) or set WASTECOACH_PG_DUMP_PATH"
        )
    return found


def libpq_environment(database_url: str) -> dict[str, str]:
    """The connection as PG* variables: the password never appears on a command line."""
    url = make_url(database_url)
    env = {
        "PGHOST": url.host or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGDATABASE": url.database or "postgres",
        "PGUSER": url.username or "postgres",
        "PGCONNECT_TIMEOUT": "10",
    }
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    return env


def backups_bucket(settings: Settings) -> str:
    return settings.s3_backups_bucket or settings.s3_bucket


class _DumpReader:
    """pg_dump's stdout as a file for boto3; checks the exit status when the stream ends."""

    def __init__(self, process: subprocess.Popen[bytes], stderr: IO[bytes], deadline: float):
        self.process = process
        self.stderr = stderr
        self.deadline = deadline
        self.size = 0
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        assert self.process.stdout is not None
        if time.monotonic() > self.deadline:
            self.process.kill()
            raise BackupError("pg_dump ran past WASTECOACH_BACKUP_TIMEOUT_SECONDS; killed")
        chunk = self.process.stdout.read(size if size and size > 0 else CHUNK)
        if chunk:
            self.size += len(chunk)
            self.digest.update(chunk)
            return chunk
        code = self.process.wait(timeout=max(1.0, self.deadline - time.monotonic()))
        if code != 0:
            self.stderr.seek(0)
            detail = self.stderr.read().decode(errors="replace").strip().splitlines()
            raise BackupError(
                f"pg_dump exited with {code}: {' | '.join(detail[-3:]) or 'no message'}"
            )
        return b""


def backup(settings: Settings, day: date | None = None) -> Backup:
    """Dump the database to S3 under ``backups/<day>.dump`` (default: today in Korea)."""
    binary = pg_dump_binary(settings)
    key = f"backups/{(day or days.today()).isoformat()}.dump"
    bucket = backups_bucket(settings)
    started = time.monotonic()
    env = {**os.environ, **libpq_environment(settings.database_url)}
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            [binary, "--format=custom", "--no-password", "--compress=6"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        reader = _DumpReader(process, stderr, started + settings.backup_timeout_seconds)
        try:
            storage.s3_client(settings).upload_fileobj(
                reader,
                bucket,
                key,
                ExtraArgs={"ContentType": "application/vnd.postgresql.custom-dump"},
                Config=TransferConfig(multipart_chunksize=CHUNK, use_threads=False),
            )
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()
    return Backup(bucket, key, reader.size, reader.digest.hexdigest(), time.monotonic() - started)
