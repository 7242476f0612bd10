"""Engine, unit of work and migrations. SQLite file by default, PostgreSQL by ``DATABASE_URL``."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


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

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            # Every writing transaction takes the write lock up front; readers (their own engine)
            # take none and see a consistent snapshot (WAL).
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

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
        s = self.session
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": name})


class Database:
    def __init__(self, url: str, *, pool_size: int = 5):
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_engine = make_engine(url, pool_size=pool_size, readonly=True) if url.startswith("sqlite") else self.engine
        self.read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)

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


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)
