"""A throwaway local PostgreSQL server (tests and benchmarks): ``initdb`` + ``pg_ctl``, unix socket only.

No TCP port is opened (``listen_addresses=''``): clients connect through a socket in a private
folder. PostgreSQL refuses to run as root, so when this process is root the server runs as
the ``postgres`` system user (Debian's ``postgresql`` package creates it) via ``runuser``, and
the folders are handed to that user. The binaries are found on ``PATH`` or in Debian's
``/usr/lib/postgresql/<version>/bin``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from keel.errors import RuntimeFailure

SUPERUSER = "keel"


def find_pg_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or ``None`` when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def _free_port() -> int:
    # only a number for the socket file's name (.s.PGSQL.<port>); nothing listens on TCP
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PostgresServer:
    """``with PostgresServer() as pg: url = pg.create_database("t1")`` — stopped and deleted on exit."""

    def __init__(self, max_connections: int = 200) -> None:
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise RuntimeFailure("PostgreSQL is not installed (initdb not found); apt-get install postgresql")
        self.bin = bin_dir
        self.max_connections = max_connections
        self.root = Path(tempfile.mkdtemp(prefix="keel-pg-"))
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.port = _free_port()
        self._run_as: str | None = "postgres" if os.geteuid() == 0 else None
        self._admin_url = ""

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", self._run_as, "--", *args] if self._run_as else list(args)

    def start(self) -> PostgresServer:
        self.sock.mkdir()
        if self._run_as:
            try:
                user = pwd.getpwnam(self._run_as)
            except KeyError:
                raise RuntimeFailure(
                    "running as root needs the 'postgres' system user (apt-get install postgresql)"
                ) from None
            for path in (self.root, self.sock):
                os.chown(path, user.pw_uid, user.pw_gid)
            os.chmod(self.root, 0o755)
        initdb = self._cmd(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        self._check(initdb, "initdb")
        options = (
            f"-k {self.sock} -p {self.port} -c listen_addresses='' -c max_connections={self.max_connections} "
            "-c fsync=on -c shared_buffers=64MB"
        )
        start = self._cmd(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        self._check(start, "pg_ctl start")
        self._admin_url = self.url("postgres")
        return self

    def _check(self, cmd: list[str], what: str) -> None:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.root)
        if done.returncode != 0:
            log = (self.root / "server.log").read_text() if (self.root / "server.log").exists() else ""
            raise RuntimeFailure(f"{what} failed: {done.stderr.strip() or done.stdout.strip()} {log[-2000:]}")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.sock}&port={self.port}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            host=str(self.sock), port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(
            host=str(self.sock), port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(
                self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"),
                capture_output=True,
                timeout=60,
                cwd=self.root,
            )
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
