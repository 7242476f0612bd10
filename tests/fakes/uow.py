"""What every context's fake unit of work shares: inside ``with`` it works on a deep copy of its state,
which ``commit()`` makes the state; leaving without a commit drops the copy (a rollback), as a
database transaction would. A context's fake says only which repositories it binds to a state."""
from __future__ import annotations

import copy
from dataclasses import fields
from typing import Any, Generic, TypeVar

S = TypeVar("S")
U = TypeVar("U", bound="FakeUnitOfWork[Any]")


class FakeUnitOfWork(Generic[S]):
    def __init__(self, state: S):
        self.state = state
        self.commits = 0
        self._work: S | None = None
        self._bind(self.state)

    def _bind(self, s: S) -> None:
        raise NotImplementedError

    def __enter__(self: U) -> U:
        self._work = copy.deepcopy(self.state)
        self._bind(self._work)
        return self

    def __exit__(self, *exc: object) -> None:
        self._work = None
        self._bind(self.state)

    def commit(self) -> None:
        assert self._work is not None, "commit inside the unit of work"
        for f in fields(self.state):  # type: ignore[arg-type]
            setattr(self.state, f.name, copy.deepcopy(getattr(self._work, f.name)))
        self.commits += 1
