"""A real PostgreSQL server for the tests, from the machine's server binaries (``initdb``,
``pg_ctl``: Debian's ``postgresql-15`` puts them in ``/usr/lib/postgresql/15/bin``; or on PATH).

The cluster lives in a temporary folder, listens on 127.0.0.1 at a free port (its socket in the
same folder), trusts local connections, runs without fsync, and is stopped and removed in a
``finally``. PostgreSQL refuses to run as root, so as root the server runs as the unprivileged
``nobody`` user, which owns the folder. Without the binaries the calling test is skipped with the
reason (``.ci/run`` installs them where they are missing).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

USER = "nirs"  # the database superuser initdb creates
DB = "postgres"


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str
    db: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.db}"


def server_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (the newest version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_owner() -> dict:
    """subprocess arguments that run the server binaries as a non-root user."""
    if os.geteuid() != 0:
        return {}
    import grp
    import pwd

    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("running as root and no 'nobody' user to run PostgreSQL as (initdb refuses root)")
    group = "nogroup"
    try:
        grp.getgrnam(group)
    except KeyError:
        group = "nobody"
    return {"user": "nobody", "group": group, "extra_groups": []}


@contextlib.contextmanager
def postgres_server() -> Iterator[Server]:
    """Start a throw-away PostgreSQL server; stop and remove it afterwards."""
    bin_dir = server_binaries()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or on "
            "PATH; install Debian's postgresql-15 (.ci/run does where they are missing)"
        )
    owner = _as_owner()
    root = Path(tempfile.mkdtemp(prefix="nirs-pg-"))  # /tmp: reachable by the owner
    data, log = root / "data", root / "server.log"
    if owner:
        os.chown(root, *_ids(owner))
    root.chmod(0o700)
    port = _free_port()
    run = {"cwd": root, "check": True, "capture_output": True, "text": True, **owner}
    started = False
    try:
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync"],
            **run,
        )
        options = f"-h 127.0.0.1 -p {port} -k {root} -F -c max_connections=200"
        subprocess.run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "start",
            ],
            **run,
        )
        started = True
        yield Server("127.0.0.1", port, USER, DB)
    except subprocess.CalledProcessError as exc:
        detail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
        pytest.fail(
            f"PostgreSQL did not start: {' '.join(exc.cmd[:1])}: {exc.stderr or exc.stdout}\n{detail}"
        )
    finally:
        if started:
            subprocess.run(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                cwd=root, capture_output=True, **owner,
            )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def _ids(owner: dict) -> tuple[int, int]:
    import grp
    import pwd

    return pwd.getpwnam(owner["user"]).pw_uid, grp.getgrnam(owner["group"]).gr_gid
