"""A real, throw-away PostgreSQL server for the state store's tests.

It runs Debian's binaries (``/usr/lib/postgresql/<version>/bin``, the newest version; otherwise
``initdb`` on PATH) in a temporary folder, listening on 127.0.0.1 on a free port, with password
(SCRAM) authentication for TCP clients. ``initdb`` refuses to run as root, so as root the server
runs as the ``postgres`` system user (``runuser``). When something is missing,
:class:`PostgresUnavailable` says what, so the tests can skip with that reason; when all is there
but the server does not start, :class:`PostgresStartError` makes them fail.

The server is tuned for throw-away data (no fsync) and runs in a time zone far from UTC, so a
time the store reads back in the server's local time instead of UTC shows up as a wrong hour.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

#: UTC+13:45 (+12:45 in winter): far from UTC and not a whole number of hours.
SERVER_TIME_ZONE = "Pacific/Chatham"
ADMIN = "slc_admin"
_STARTS = 3


class PostgresUnavailable(Exception):
    """PostgreSQL is not installed here (the tests skip); the message says what is missing."""


class PostgresStartError(RuntimeError):
    """PostgreSQL is installed but did not start: a failure, not a reason to skip."""


def find_bin_dir() -> Path:
    """The folder with initdb, pg_ctl and postgres: Debian's newest, else the one on PATH."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)

    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version)
    candidates = [path.parent for path in reversed(debian)]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if all(os.access(folder / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) in /usr/lib/postgresql/*/bin "
        "or on PATH; install the Debian package `postgresql`"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _clean_env() -> dict[str, str]:
    """The environment without PG* settings that would point the tools at another server."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


@dataclass
class PostgresServer:
    """One running server; :meth:`stop` it (always: it is a separate process)."""

    bin_dir: Path
    root: Path
    password: str
    port: int = 0
    host: str = "127.0.0.1"
    user: str = ADMIN
    _as_postgres: list[str] = field(default_factory=list)
    _databases: int = 0

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(
        self, database: str = "postgres", *, password: str | None = None, driver: str = ""
    ) -> str:
        """An SQLAlchemy URL for ``database``; without ``driver``, a bare ``postgresql://`` as
        deployments write it (the store picks an installed driver)."""
        import sqlalchemy as sa

        return sa.engine.URL.create(
            f"postgresql+{driver}" if driver else "postgresql",
            username=self.user,
            password=self.password if password is None else password,
            host=self.host,
            port=self.port,
            database=database,
        ).render_as_string(hide_password=False)

    def create_database(self) -> str:
        """A new, empty database; returns its name."""
        import sqlalchemy as sa

        self._databases += 1
        name = f"state_{self._databases}"
        engine = sa.create_engine(
            self.url(driver="psycopg2"),
            isolation_level="AUTOCOMMIT",
            connect_args={"connect_timeout": 10},
            poolclass=sa.pool.NullPool,
        )
        try:
            with engine.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
        finally:
            engine.dispose()
        return name

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._as_postgres, *args],
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=check,
        )

    def _prepare(self) -> None:
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    "running as root, and initdb refuses root, but there is no `postgres` "
                    "system user to run the server as (the Debian package creates it)"
                ) from None
            if runuser is None:
                raise PostgresUnavailable("running as root, and `runuser` is not installed")
            self._as_postgres = [runuser, "-u", "postgres", "--"]
            for path in (self.root, *self.root.rglob("*")):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self.root.chmod(0o700)

    def start(self) -> None:
        """initdb and start; raises PostgresStartError with the server's log if it fails."""
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n", encoding="utf-8")
        (self.root / "sockets").mkdir()
        self._prepare()
        initdb = self._run(
            str(self.bin_dir / "initdb"),
            "--pgdata",
            str(self.data),
            "--username",
            self.user,
            "--pwfile",
            str(pwfile),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            check=False,
        )
        pwfile.unlink()
        if initdb.returncode != 0:
            raise PostgresStartError(f"initdb failed: {initdb.stderr.strip()[-2000:]}")
        for _ in range(_STARTS):
            # The port is free when probed but another process may take it before the server
            # binds it: then the start fails and a new port is tried.
            self.port = _free_port()
            options = " ".join(
                [
                    f"-p {self.port}",
                    f"-k {self.root / 'sockets'}",
                    "-c listen_addresses=127.0.0.1",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    f"-c timezone={SERVER_TIME_ZONE}",
                    "-c max_connections=200",
                ]
            )
            started = self._run(
                str(self.bin_dir / "pg_ctl"),
                "start",
                "--pgdata",
                str(self.data),
                "--log",
                str(self.log),
                "--wait",
                "--timeout=60",
                "--options",
                options,
                check=False,
            )
            if started.returncode == 0:
                return
            self.stop()
        log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        raise PostgresStartError(f"the server did not start: {started.stderr.strip()}\n{log}")

    def stop(self) -> None:
        """Stop the server (fast: open sessions are ended) if it runs; idempotent."""
        if (self.data / "postmaster.pid").exists():
            self._run(
                str(self.bin_dir / "pg_ctl"),
                "stop",
                "--pgdata",
                str(self.data),
                "--mode=fast",
                "--wait",
                "--timeout=60",
                check=False,
            )


def start_postgres() -> PostgresServer:
    """Start a server in a new temporary folder (as root in /tmp, not under pytest's root-only
    folders: the `postgres` user must reach it). Raises PostgresUnavailable to skip."""
    bin_dir = find_bin_dir()
    parent = "/tmp" if os.geteuid() == 0 and Path("/tmp").is_dir() else None
    root = Path(tempfile.mkdtemp(prefix="saleslayer-state-pg-", dir=parent))
    # Characters that must be escaped in URLs, so the tests prove they are.
    password = f"pw-{secrets.token_hex(8)}-@:/%?#"
    server = PostgresServer(bin_dir, root, password)
    try:
        server.start()
    except BaseException:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server


def remove(server: PostgresServer) -> None:
    """Stop the server and delete its folder."""
    try:
        server.stop()
    finally:
        shutil.rmtree(server.root, ignore_errors=True)
