"""The insurer's desk (issue 15 item 5) on the in-memory fake: claims searched by plate or claim number on the
server, each with its statutory deadlines (1/5/10 days) and the 交强险 limit that a payment is checked against."""
from __future__ import annotations

from datetime import datetime, timedelta

from accidentlink.clock import CST, iso
from accidentlink.reports import Party
from claims import services as C
from claims.commands import ClaimsQuery
from claims.ports import ClaimFile
from tests.fakes.claims import ClaimsState, FakeClaimsUnitOfWork
from web.routes.claim_views import desk_view

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=CST)


def claim(n: int, plate: str, insurer: str = "PICC", kind: str = "injury", **kw: object) -> ClaimFile:
    return ClaimFile(f"CL-20261122-{n:04d}", f"INC-20261122-{n:04d}", insurer, True, plate, None,
                     Party(name="张某", plate=plate, insurer=insurer), None, None, "opened", kind,
                     {"reported_at": iso(T0)}, T0 + timedelta(minutes=n), T0 + timedelta(minutes=n), **kw)  # type: ignore[arg-type]


def test_search_by_plate_or_claim_number_finds_only_the_insurers_own() -> None:
    state = ClaimsState()
    for c in (claim(1, "鲁P12345"), claim(2, "鲁P67890"), claim(3, "鲁P12399", insurer="CPIC"), claim(4, "鲁C11111")):
        state.claims[c.claim_id] = c

    def found(q: str) -> list[str]:
        return [c["claim_id"] for c in C.list_claims(ClaimsQuery(100, "PICC", None, q), FakeClaimsUnitOfWork(state))]

    assert found("p123") == ["CL-20261122-0001"], "part of a plate, any case; another insurer's claim stays hidden"
    assert found("0004") == ["CL-20261122-0004"]
    assert found("鲁P") == ["CL-20261122-0002", "CL-20261122-0001"]
    assert found("nothing") == []


def test_the_deadlines_count_down_and_the_limit_follows_liability() -> None:
    c = C.claim_json(claim(1, "鲁P12345"))
    view = desk_view(c, T0 + timedelta(hours=2))
    [first] = view["deadlines"]
    assert first["step"] == "list_documents" and first["days"] == 1 and first["done_at"] is None
    assert 0 < first["seconds_left"] <= 2 * 24 * 3600
    assert view["ci_limit"]["at_fault"] and view["ci_limit"]["medical_fen"] == 1_800_000
    no_fault = {**c, "facts": {**c["facts"], "liability": {"own_share": "none"}}}
    assert desk_view(no_fault, T0)["ci_limit"]["medical_fen"] == 180_000, "a driver without liability: 1,800 yuan"
