"""A throw-away PostgreSQL server for the test suite.

Usage::

    from pg_server import PostgresServer, create_database

    with PostgresServer() as url:   # postgresql+psycopg://postgres@127.0.0.1:PORT/tracelot_test
        other = create_database(url, "tracelot_other")
        ...

or, in a pytest fixture (``tests/conftest.py``)::

    @pytest.fixture(scope="session")
    def pg_url():
        server = PostgresServer()
        yield server.start()
        server.stop()

How it works: it finds ``initdb``/``pg_ctl`` (on PATH, else the highest version
under /usr/lib/postgresql/*/bin), runs ``initdb`` in a fresh ``tempfile.mkdtemp()``
directory, starts the server on 127.0.0.1 on a free port (unix sockets inside the
temp directory, so it never touches /var/run/postgresql), with durability turned
off (``fsync``, ``synchronous_commit``, ``full_page_writes``) for speed, creates a
database and hands back its SQLAlchemy URL. On exit: ``pg_ctl stop -m immediate``
and the directory is removed. Authentication is ``trust``: loopback only, tests only.

Running as root: PostgreSQL refuses to run as root, so the server processes run as
the ``postgres`` system user (created by Debian's postgresql packages; ``nobody``
when it does not exist), via ``subprocess``'s ``user=``/``group=`` arguments, and the
temp directory is chown'ed to that user. As any other user it runs as that user.

pytest-xdist: a session-scoped fixture runs once *per worker*, so each xdist worker
starts its own small cluster (about a second with ``initdb --no-sync``). No worker
ever shares a server, a port or a database with another one, and nothing needs a
lock file or a coordinator. Tests that need several databases on one server use
``create_database``.

``python tests/pg_server.py`` starts a server, prints ``SELECT version()`` and stops it.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

SUPERUSER = "postgres"
DEFAULT_DBNAME = "tracelot_test"


class PostgresError(RuntimeError):
    """The test PostgreSQL server could not be set up."""


def _version_key(path: str) -> tuple[int, ...]:
    m = re.search(r"/postgresql/([0-9.]+)/bin", path)
    return tuple(int(x) for x in m.group(1).split(".")) if m else (0,)


def find_pg_bindir() -> Path:
    """Directory holding initdb and pg_ctl: PATH first, else the highest
    /usr/lib/postgresql/<version>/bin."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    candidates = [
        d
        for d in glob.glob("/usr/lib/postgresql/*/bin")
        if os.access(os.path.join(d, "initdb"), os.X_OK)
        and os.access(os.path.join(d, "pg_ctl"), os.X_OK)
    ]
    if not candidates:
        raise PostgresError(
            "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in "
            "/usr/lib/postgresql/*/bin; run `make system-deps` (apt-get install postgresql)."
        )
    return Path(max(candidates, key=_version_key))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> pwd.struct_passwd | None:
    """The account to run the server as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresError("running as root and neither a 'postgres' nor a 'nobody' user exists")


class PostgresServer:
    """A private PostgreSQL cluster in a temp directory.

    ``with PostgresServer() as url`` gives the SQLAlchemy URL of a fresh database;
    ``start()``/``stop()`` do the same without ``with``.
    """

    def __init__(
        self,
        dbname: str = DEFAULT_DBNAME,
        bindir: Path | str | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.dbname = dbname
        self.settings = {"shared_buffers": "64MB", **(settings or {})}
        self.bindir = Path(bindir) if bindir else find_pg_bindir()
        self.user = SUPERUSER
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.url: str | None = None
        self.basedir: Path | None = None
        self._account = _run_as()

    # -- paths -------------------------------------------------------------
    @property
    def datadir(self) -> Path:
        assert self.basedir is not None
        return self.basedir / "data"

    @property
    def sockdir(self) -> Path:
        assert self.basedir is not None
        return self.basedir / "sock"

    @property
    def logfile(self) -> Path:
        assert self.basedir is not None
        return self.basedir / "postgres.log"

    # -- helpers -----------------------------------------------------------
    def _run(self, *args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL program, as the server account when we are root."""
        acc = self._account
        env = dict(os.environ, LC_ALL="C", LANG="C")
        env.pop("PGDATA", None)
        if acc is not None:
            env["HOME"] = str(self.basedir)
        return subprocess.run(
            [str(a) for a in args],
            cwd=self.basedir,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            user=acc.pw_uid if acc else None,
            group=acc.pw_gid if acc else None,
            extra_groups=[] if acc else None,
        )

    def _make_basedir(self) -> Path:
        base = Path(tempfile.mkdtemp(prefix="tracelot-pg-"))
        if self._account is None:
            return base
        os.chown(base, self._account.pw_uid, self._account.pw_gid)
        # The server account must be able to reach the directory: when TMPDIR
        # is somewhere private to root (e.g. under /root), fall back to /tmp.
        probe = subprocess.run(
            ["test", "-w", str(base)],
            user=self._account.pw_uid,
            group=self._account.pw_gid,
            extra_groups=[],
            check=False,
        )
        if probe.returncode != 0:
            shutil.rmtree(base, ignore_errors=True)
            base = Path(tempfile.mkdtemp(prefix="tracelot-pg-", dir="/tmp"))
            os.chown(base, self._account.pw_uid, self._account.pw_gid)
        return base

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    # -- life cycle --------------------------------------------------------
    def start(self) -> str:
        """Create and start the cluster, create the database, return its URL."""
        if self.url is not None:
            return self.url
        self.basedir = self._make_basedir()
        atexit.register(self.stop)
        try:
            self.sockdir.mkdir()
            if self._account is not None:
                os.chown(self.sockdir, self._account.pw_uid, self._account.pw_gid)
            proc = self._run(
                self.bindir / "initdb",
                "-D",
                self.datadir,
                "-U",
                self.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
            )
            if proc.returncode != 0:
                raise PostgresError(f"initdb failed:\n{proc.stdout}\n{proc.stderr}")
            with open(self.datadir / "postgresql.conf", "a") as conf:
                conf.write(
                    "\n# tracelot test server\n"
                    "listen_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.sockdir}'\n"
                    "fsync = off\n"
                    "synchronous_commit = off\n"
                    "full_page_writes = off\n"
                    "max_connections = 100\n"
                    "logging_collector = off\n"
                    + "".join(f"{k} = {v}\n" for k, v in self.settings.items())
                )
            self._start_on_free_port()
            self.url = f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.dbname}"
            create_database(self.url, self.dbname)
        except BaseException:
            self.stop()
            raise
        return self.url

    def _start_on_free_port(self, attempts: int = 5) -> None:
        last = ""
        for _ in range(attempts):
            port = _free_port()
            proc = self._run(
                self.bindir / "pg_ctl",
                "start",
                "-D",
                self.datadir,
                "-l",
                self.logfile,
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {port}",
            )
            if proc.returncode == 0:
                self.port = port
                return
            last = f"{proc.stdout}\n{proc.stderr}\n{self._log_tail()}"
            # Another process may have taken the port between our probe and the
            # server's bind (e.g. two xdist workers): try another one.
            self._run(self.bindir / "pg_ctl", "stop", "-D", self.datadir, "-m", "immediate")
            time.sleep(0.2)
        raise PostgresError(f"could not start PostgreSQL ({attempts} attempts):\n{last}")

    def stop(self) -> None:
        """Stop the server (immediate mode) and delete its directory."""
        if self.basedir is None:
            return
        if (self.datadir / "postmaster.pid").exists():
            self._run(self.bindir / "pg_ctl", "stop", "-D", self.datadir, "-m", "immediate", "-w")
        shutil.rmtree(self.basedir, ignore_errors=True)
        self.basedir = None
        self.url = None
        self.port = None
        atexit.unregister(self.stop)

    def create_database(self, name: str) -> str:
        assert self.url is not None, "server not started"
        return create_database(self.url, name)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _connect_admin(url: str) -> psycopg.Connection:
    u = make_url(url)
    return psycopg.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or SUPERUSER,
        password=u.password or None,
        dbname="postgres",
        autocommit=True,
        connect_timeout=10,
    )


def create_database(url: str, name: str) -> str:
    """Create database ``name`` on the server of ``url``; return its URL."""
    with _connect_admin(url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str, name: str) -> None:
    """Drop database ``name`` on the server of ``url`` (closing its connections)."""
    with _connect_admin(url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _demo() -> None:
    t0 = time.monotonic()
    with PostgresServer() as url:
        started = time.monotonic() - t0
        print(f"started in {started:.1f}s: {url}")
        u = make_url(url)
        with psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database) as c:
            row = c.execute("SELECT version()").fetchone()
            print(row[0] if row else "?")
        extra = create_database(url, "tracelot_extra")
        print(f"extra database: {extra}")
    print(f"stopped and removed, {time.monotonic() - t0:.1f}s in all")


if __name__ == "__main__":
    _demo()
