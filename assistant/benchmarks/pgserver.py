"""A throwaway PostgreSQL server (Debian's ``postgresql`` package) for DuckLake catalogs in the
fleet benchmark and the tests.

``initdb`` into a temporary folder as user ``postgres`` (the server refuses to run as root), trust
authentication, a free loopback port, a socket in the same folder; stopped and deleted after.
``missing_reason()`` says why the server cannot run here (tests skip with it; the benchmark
says so and measures the file only).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

USER = "postgres"


def _bin_dir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return found[0].parent if found else None


def missing_reason() -> str | None:
    """Why no server can be started here, or None when one can."""
    if _bin_dir() is None:
        return "PostgreSQL is not installed (apt-get install postgresql; .ci/run does it)"
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return f"no {USER} user to run PostgreSQL as (Debian's postgresql package makes it)"
    if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != USER:
        return f"starting PostgreSQL needs root (to run it as {USER}) or the {USER} user"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Server:
    port: int
    folder: Path

    def lake(self, dbname: str) -> str:
        """A DuckLake connection string for database ``dbname`` (created on first use)."""
        return f"ducklake:postgres:dbname={dbname} host=127.0.0.1 port={self.port} user={USER}"

    def create_database(self, dbname: str) -> None:
        bin_dir = _bin_dir()
        assert bin_dir is not None, missing_reason()
        _run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, dbname]
        )


def _run(cmd: list[str]) -> None:
    as_user = [] if pwd.getpwuid(os.geteuid()).pw_name == USER else ["runuser", "-u", USER, "--"]
    subprocess.run([*as_user, *cmd], check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def running_server() -> Iterator[Server]:
    """Start a fresh server; stop it and delete its folder afterwards."""
    bin_dir = _bin_dir()
    assert bin_dir is not None, missing_reason()
    folder = Path(tempfile.mkdtemp(prefix="workbench-pg-"))
    entry = pwd.getpwnam(USER)
    os.chown(folder, entry.pw_uid, entry.pw_gid)
    data = folder / "data"
    port = _free_port()
    _run([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", USER, "--no-sync"])
    options = f"-k {folder} -h 127.0.0.1 -p {port} -c fsync=off -c max_connections=200"
    _run(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "-l",
            str(folder / "log"),
            "start",
        ]
    )
    try:
        yield Server(port=port, folder=folder)
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(folder, ignore_errors=True)
