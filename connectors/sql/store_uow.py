"""What every context's SQL unit of work shares (``connectors.sql.dispatch``, ``.fund``, ``.hospitals``):
how it begins and ends on the context's own store, and the store's inbox.

A unit of work is a transaction of its own on the store, a read-only one (never takes SQLite's write
lock), or part of a transaction its caller owns and commits (``joining``: a pipeline batch, or an HTTP
request that writes its audit line beside the action). Each context's subclass binds its repositories to
the session (``_bind``).
"""
from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime
from typing import Iterable, Self

from sqlalchemy.orm import Session

from accidentlink.pipeline import TopicNames, mark_processed
from connectors.sql.db import Database, UnitOfWork
from connectors.sql.models import ProcessedEvent


class _Joined(UnitOfWork):
    """The caller's transaction, seen as a ``UnitOfWork`` (for its locks); its caller ends it."""

    def __init__(self, session: Session):
        self.session = session


class StoreUnitOfWork:
    """``owner``: whose relay publishes what the unit of work emits (the consumer group, or ``web`` for
    what people do through HTTP); also its inbox's consumer name."""

    def __init__(self, db: Database | None, owner: str, topics: TopicNames, *, read_only: bool = False,
                 session: Session | None = None):
        self._db, self.owner, self._topics, self._read_only = db, owner, topics, read_only
        self._joined = session is not None
        self._stack: ExitStack | None = None
        self._tx: UnitOfWork | None = None
        if session is not None:
            self._tx = _Joined(session)
            self._bind(session)

    @classmethod
    def joining(cls, session: Session, owner: str, topics: TopicNames) -> Self:
        """Part of a transaction its caller owns (a pipeline batch, an HTTP request with its audit line): entering
        and leaving it change nothing, and ``commit`` leaves the commit to that caller."""
        return cls(None, owner, topics, session=session)

    def _bind(self, session: Session) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        if self._joined:
            return self
        assert self._db is not None and self._stack is None, "a unit of work is entered once at a time"
        self._stack = ExitStack()
        sessions = self._db.read_sessions if self._read_only else self._db.sessions  # read only: no write lock
        self._tx = self._stack.enter_context(UnitOfWork(sessions))
        self._bind(self._tx.session)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stack is not None:
            stack, self._stack, self._tx = self._stack, None, None
            stack.close()  # rolls back what was not committed

    def commit(self) -> None:
        if self._read_only:
            raise RuntimeError("a read-only unit of work has nothing to commit")
        if self._tx is not None and not self._joined:
            self._tx.commit()

    def lock_all(self, names: Iterable[str]) -> None:
        """Cross-process locks for the rest of the transaction (``UnitOfWork.lock_all``)."""
        assert self._tx is not None, "locks are taken inside a unit of work"
        self._tx.lock_all(list(names))


class SqlInbox:
    """The store's ``processed_events``: what this consumer has acted on."""

    def __init__(self, session: Session, consumer: str):
        self._s, self._consumer = session, consumer

    def seen(self, event_id: str) -> bool:
        return self._s.get(ProcessedEvent, (self._consumer, event_id)) is not None

    def mark(self, event_id: str, at: datetime) -> None:
        mark_processed(self._s, self._consumer, event_id, at)
