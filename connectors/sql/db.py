"""Engine, unit of work and migrations. SQLite file by default, PostgreSQL by ``DATABASE_URL``."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


class WriterQueue:
    """Writers to one SQLite file wait for each other on an OS file lock, which wakes the next one the
    moment the lock is free, instead of in SQLite's busy handler, which sleeps and retries (up to 100 ms a
    time): with several worker processes writing all the time, sleeping writers starved. Each writing
    connection holds the lock from its BEGIN until it goes back to the pool. SQLite still enforces its
    own single writer; this only orders the queue."""

    _by_path: dict[str, "WriterQueue"] = {}

    def __init__(self, path: str):
        import threading

        self.path = path
        self._held: dict[int, int] = {}  # id(dbapi connection) -> open lock file descriptor
        self._mine = threading.local()  # a thread already in the queue does not queue behind itself
        self._quiet = threading.Condition()

    @classmethod
    def for_url(cls, url: str) -> "WriterQueue | None":
        name = url.split("///", 1)[1] if "///" in url else ""
        if not name or name.startswith(":memory:") or "mode=memory" in url:
            return None
        path = str(Path(name.split("?", 1)[0]).resolve()) + ".writer-lock"
        return cls._by_path.setdefault(path, cls(path))

    def enter(self, dbapi_conn: object) -> None:
        import fcntl
        import os

        if id(dbapi_conn) in self._held or getattr(self._mine, "conn", None) is not None:
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # a separate open file per writer: threads queue too
        except BaseException:
            os.close(fd)
            raise
        with self._quiet:
            self._held[id(dbapi_conn)] = fd
        self._mine.conn = id(dbapi_conn)

    def leave(self, dbapi_conn: object) -> None:
        import os

        with self._quiet:
            fd = self._held.pop(id(dbapi_conn), None)
            if not self._held:
                self._quiet.notify_all()
        if fd is not None:
            if getattr(self._mine, "conn", None) == id(dbapi_conn):
                self._mine.conn = None
            os.close(fd)  # closing the file releases its lock

    def wait_quiet(self, timeout_s: float) -> None:
        """Wait (at most ``timeout_s``) until no thread of this process holds the write lock."""
        with self._quiet:
            self._quiet.wait_for(lambda: not self._held, timeout=timeout_s)


def make_engine(url: str, *, pool_size: int = 5, readonly: bool = False) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # Take transactions into our own hands: pysqlite's implicit BEGIN is DEFERRED, which in
            # WAL mode lets two writers both read and then fail to upgrade (SQLITE_BUSY_SNAPSHOT).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        queue = None if readonly else WriterQueue.for_url(url)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            # Every writing transaction takes the write lock up front; readers (their own engine)
            # take none and see a consistent snapshot (WAL).
            if queue is not None:
                queue.enter(conn.connection.dbapi_connection)
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        if queue is not None:
            @event.listens_for(engine, "checkin")
            def _sqlite_checkin(dbapi_conn, _record):  # type: ignore[no-untyped-def]
                queue.leave(dbapi_conn)  # the transaction is over (committed or rolled back)

            @event.listens_for(engine, "close")
            def _sqlite_close(dbapi_conn, _record):  # type: ignore[no-untyped-def]
                queue.leave(dbapi_conn)

        return engine
    kw = {"pool_size": pool_size, "max_overflow": 10, "pool_pre_ping": True}
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_engine(url, **kw)


class UnitOfWork:
    """One transaction: commits only when told to (``uow.commit()``), rolls back otherwise."""

    def __init__(self, session_factory: sessionmaker[Session]):
        self._factory = session_factory
        self.session: Session

    def __enter__(self) -> "UnitOfWork":
        self.session = self._factory()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def lock(self, name: str) -> None:
        """Serialise a critical section across processes (PostgreSQL advisory lock for the rest of
        the transaction; SQLite already holds the database write lock from BEGIN IMMEDIATE)."""
        self.lock_all([name])

    def lock_all(self, names: "list[str]") -> None:
        """Several such locks, in sorted order (two transactions taking overlapping sets never deadlock),
        with one statement."""
        s = self.session
        if not names or s.get_bind().dialect.name != "postgresql":
            return
        s.execute(text("SELECT count(pg_advisory_xact_lock(hashtext(n))) FROM "
                       "(SELECT unnest(CAST(:names AS text[])) AS n ORDER BY 1) AS ordered"),
                  {"names": sorted(set(names))})


class Database:
    def __init__(self, url: str, *, pool_size: int = 5):
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_engine = make_engine(url, pool_size=pool_size, readonly=True) if url.startswith("sqlite") else self.engine
        self.read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        self._writers = WriterQueue.for_url(url) if url.startswith("sqlite") else None

    def wait_for_writers(self, timeout_s: float) -> None:
        """Background work (the relay) yields to a transaction of this process that holds SQLite's write
        lock, which every other writer is waiting for: sharing the interpreter with it would slow it."""
        if self._writers is not None:
            self._writers.wait_quiet(timeout_s)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.sessions)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (never takes SQLite's write lock)."""
        with self.read_sessions() as s:
            yield s
            s.rollback()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as c:
                c.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()


def alembic_config(url: str, context: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS / context))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _ensure_place(url: str) -> None:
    """The folder of a SQLite file (owner-only), or the PostgreSQL schema a store URL selects."""
    from connectors.sql.stores import schema_of

    if url.startswith("sqlite:///"):
        from accidentlink.private_files import owner_only_dir, owner_only_file

        path = Path(url[len("sqlite:///"):].split("?", 1)[0])
        if not path.parent.exists():
            owner_only_dir(path.parent)
        if str(path) != ":memory:":
            owner_only_file(path)  # personal data and token hashes: the owner's alone (an empty file is a database)
        return
    schema = schema_of(url)
    if schema:
        engine = make_engine(url)
        try:
            with engine.connect() as c:
                c.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                c.commit()
        finally:
            engine.dispose()


def upgrade(url: str, revision: str = "head", *, context: str) -> None:
    from alembic import command

    _ensure_place(url)
    command.upgrade(alembic_config(url, context), revision)


def downgrade(url: str, revision: str = "base", *, context: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url, context), revision)
