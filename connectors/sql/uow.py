"""What every context's SQL unit of work shares: its own transaction on its store, a read-only one, or
joining a transaction its caller owns (a pipeline batch, an HTTP request with its audit line); and the
inbox every consumer keeps in its own store. A context's unit of work says only which repositories it
binds to the session (``_bind``)."""
from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime
from typing import TypeVar

from sqlalchemy.orm import Session

from accidentlink.pipeline import TopicNames, mark_processed
from connectors.sql.db import Database, UnitOfWork
from connectors.sql.models import ProcessedEvent

U = TypeVar("U", bound="SqlUnitOfWork")


class SqlInbox:
    """A consumer's ``processed_events`` in its own store."""

    def __init__(self, session: Session, consumer: str):
        self._s, self._consumer = session, consumer

    def seen(self, event_id: str) -> bool:
        return self._s.get(ProcessedEvent, (self._consumer, event_id)) is not None

    def mark(self, event_id: str, at: datetime) -> None:
        mark_processed(self._s, self._consumer, event_id, at)


class SqlUnitOfWork:
    """``owner``: whose relay publishes what the unit of work emits (the group, or ``web`` for a desk's
    actions); also its inbox's consumer name."""

    def __init__(self, db: Database | None, owner: str, topics: TopicNames, *, read_only: bool = False,
                 session: Session | None = None):
        self._db, self.owner, self._topics, self._read_only = db, owner, topics, read_only
        self._joined = session is not None
        self._stack: ExitStack | None = None
        self._tx: UnitOfWork | None = None
        if session is not None:
            self._bind(session)

    @classmethod
    def joining(cls: type[U], session: Session, owner: str, topics: TopicNames) -> U:
        """Part of a transaction its caller owns: entering and leaving it change nothing, and ``commit``
        leaves the commit to that caller."""
        return cls(None, owner, topics, session=session)

    def _bind(self, s: Session) -> None:
        raise NotImplementedError

    def __enter__(self: U) -> U:
        if self._joined:
            return self
        assert self._db is not None and self._stack is None, "a unit of work is entered once at a time"
        self._stack = ExitStack()
        if self._read_only:  # never takes SQLite's write lock
            self._bind(self._stack.enter_context(self._db.read()))
        else:
            self._tx = self._stack.enter_context(self._db.uow())
            self._bind(self._tx.session)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stack is not None:
            stack, self._stack, self._tx = self._stack, None, None
            stack.close()  # rolls back what was not committed

    def commit(self) -> None:
        if self._read_only:
            raise RuntimeError("a read-only unit of work has nothing to commit")
        if self._tx is not None:
            self._tx.commit()
