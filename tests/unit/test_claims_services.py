"""The claims use cases (``claims.services``, ``claims.quick_service``) on the in-memory fake of their ports
(``tests/fakes/claims.py``)."""
from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from accidentlink.clock import CST
from accidentlink.reports import AccidentReport, parse_report
from claims import quick_service as Q
from claims import services as C
from claims.commands import (
    AddPhoto, AnswerOwnVehicle, BillReceived, ClaimQuery, ClaimsQuery, ConfirmBySms, ConfirmFacts,
    DetermineLiability, IncidentReported, ObjectToLiability, PoliceQueueQuery, QuickCaseQuery, QuickFileQuery,
    RouteClaim, TakeClaimStep,
)
from claims.ports import ClaimFile, IncidentCopy, party_from_json
from tests.fakes.claims import ClaimsState, FakeClaimsUnitOfWork, FakePhotos
from tests.support.reports import ZHANGDIAN, party, report

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=CST)
INCIDENT = "INC-20261122-0001"
BASE_URL = "https://al.example"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()
CPIC_CAR = party("鲁C90001", "CPIC", phone="+8613811110001")
PICC_CAR = party("鲁C90002", "PICC", phone="+8613822220002")


class Claims:
    """The claims store in memory, and the use cases called the way the entry points call them."""

    def __init__(self) -> None:
        self.state = ClaimsState()
        self.photos = FakePhotos()

    def uow(self) -> FakeClaimsUnitOfWork:
        return FakeClaimsUnitOfWork(self.state)

    def reported(self, *parties: dict[str, Any], incident_id: str = INCIDENT, at: datetime = T0,
                 **kw: Any) -> list[ClaimFile]:
        """A report of the crash reaches claims; the pipeline has just brought claims' copy of the incident up
        to date (the counts of this report, the parties of every report so far, one per plate)."""
        r: AccidentReport = parse_report(json.dumps(report(lat=ZHANGDIAN[0], lon=ZHANGDIAN[1], at=T0,
                                                           parties=list(parties), **kw), ensure_ascii=False))
        known = {p.plate: p for p in self.state.parties.get(incident_id, ())}
        known.update((p.plate, p) for p in map(party_from_json, parties) if p.plate not in known)
        notes = self.state.incidents[incident_id].notes if incident_id in self.state.incidents else ()
        self.state.incidents[incident_id] = IncidentCopy(
            incident_id, r.location.lat, r.location.lon, "张店区人民西路", T0, r.injured, r.fatalities,
            r.vehicles_movable, r.hit_and_run, r.hazards, notes)
        self.state.parties[incident_id] = tuple(known.values())
        return C.open_claims_for_incident(IncidentReported(r, incident_id, at), self.uow(), base_url=BASE_URL,
                                          region="liaocheng")

    def claim(self, plate: str) -> ClaimFile:
        return next(c for c in self.state.claims.values() if c.plate == plate)

    def step(self, claim_id: str, action: str, insurer: str = "CPIC", at: datetime = T0, **fields: Any) -> dict[str, Any]:
        return C.act(TakeClaimStep(claim_id, insurer, action, fields, f"insurer:{insurer}理赔:t1", at), self.uow())

    def changes(self, topic: str = "claims.events", key: str | None = None) -> list[str]:
        return [v["change"] for t, k, v, _ in self.state.messages if t == topic and key in (None, k)]

    def links(self) -> dict[str, tuple[str, str]]:
        """The quick-handling link each party was texted: phone -> (quick id, token)."""
        out = {}
        for text, _ in self.state.texts.values():
            if text.purpose == "quick_link":
                quick_id, token = re.search(r"/quick/([^\s#?]+)[#?]t=([0-9a-f]+)", text.body).groups()  # type: ignore[union-attr]
                out[text.to] = (quick_id, token)
        return out

    def photos_and_confirm(self, quick_id: str, token: str, **confirm: Any) -> dict[str, Any]:
        for kind in ("front_side", "rear_side", "impact_point"):
            Q.add_photo(AddPhoto(quick_id, token, kind, PNG, T0), self.uow(), self.photos)
        return Q.confirm(ConfirmFacts(quick_id, token, at=T0 + timedelta(minutes=5), **confirm), self.uow())


@pytest.fixture
def claims() -> Claims:
    return Claims()


# ------------------------------------------------------------------------------- first notice of loss
def test_a_minor_two_car_crash_opens_a_claim_at_each_insurer_and_a_quick_case_with_a_link_per_party(
        claims: Claims) -> None:
    opened = claims.reported(CPIC_CAR, PICC_CAR)
    assert sorted((c.insurer, c.plate, c.status, c.kind) for c in opened) == [
        ("CPIC", "鲁C90001", "opened", "quick"), ("PICC", "鲁C90002", "opened", "quick")]
    cpic = claims.claim("鲁C90001")
    assert claims.changes(key=cpic.claim_id) == ["opened"] and claims.changes("claims.insurer.CPIC") == ["opened"]
    assert claims.changes("claims.insurer.PICC") == ["opened"], "each insurer's own topic carries its own claims"
    assert cpic.facts["quick_handling"]["eligible"] is True and cpic.facts["vehicles"] == ["鲁C90001", "鲁C90002"]
    (quick,) = claims.state.quick_cases.values()
    assert quick.status == "open" and [p.plate for p in quick.parties] == ["鲁C90001", "鲁C90002"]
    links = claims.links()
    assert set(links) == {"+8613811110001", "+8613822220002"} and {q for q, _ in links.values()} == {quick.quick_id}
    for p in quick.parties:  # a link carries its party's secret; only its hash is kept
        assert hashlib.sha256(links[p.phone or ""][1].encode()).hexdigest() == p.token_hash
        assert links[p.phone or ""][1] not in json.dumps([q.token_hash for q in quick.parties])
    assert [k for _, k, _, _ in claims.state.timeline] == ["claim_opened", "claim_opened", "quick_case_opened"]
    seen = Q.view_case(QuickCaseQuery(quick.quick_id, links["+8613811110001"][1]), claims.uow())
    assert seen["me"]["plate"] == "鲁C90001" and seen["me"]["phone"] == "+86138****0001"
    with pytest.raises(C.ClaimNotFound):
        Q.view_case(QuickCaseQuery(quick.quick_id, "wrong"), claims.uow())


def test_the_same_report_delivered_again_opens_nothing_more(claims: Claims) -> None:
    claims.reported(CPIC_CAR, PICC_CAR)
    before = (dict(claims.state.claims), list(claims.state.messages), dict(claims.state.texts))
    claims.reported(CPIC_CAR, PICC_CAR)
    assert (dict(claims.state.claims), list(claims.state.messages), dict(claims.state.texts)) == before
    assert len(claims.state.quick_cases) == 1


def test_an_uninsured_vehicle_refuses_quick_handling_with_the_reason(claims: Claims) -> None:
    claims.reported(CPIC_CAR, party("鲁C90003", None))
    assert claims.state.quick_cases == {} and claims.changes() == ["opened"], "the insured vehicle's claim still opens"
    assert claims.claim("鲁C90001").kind == "property"
    (note,) = claims.state.incidents[INCIDENT].notes
    assert note.kind == "quick_refused" and "交强险" in note.text and "鲁C90003" in note.text
    assert claims.changes("incidents") == ["quick_refused"], "dispatch reads why on incidents, and sends the police"
    claims.reported(CPIC_CAR, party("鲁C90003", None))  # noted once
    assert claims.changes("incidents") == ["quick_refused"] and len(claims.state.incidents[INCIDENT].notes) == 1


def test_a_later_call_naming_a_new_insured_vehicle_opens_its_claim_once(claims: Claims) -> None:
    claims.reported(CPIC_CAR, PICC_CAR)
    later = party("鲁C90004", "PINGAN", phone="+8613833330004")
    for _ in range(2):
        claims.reported(PICC_CAR, later, source="120", at=T0 + timedelta(minutes=4))
    assert sorted(c.plate for c in claims.state.claims.values()) == ["鲁C90001", "鲁C90002", "鲁C90004"]
    assert claims.changes("claims.insurer.PINGAN") == ["opened"]
    assert claims.changes().count("opened") == 3 and len(claims.state.quick_cases) == 1


def test_a_claim_whose_kind_changes_says_so_while_nothing_was_done_on_it(claims: Claims) -> None:
    claims.reported(CPIC_CAR, PICC_CAR)
    claims.reported(CPIC_CAR, injured=1, movable=False, source="120", at=T0 + timedelta(minutes=3))
    assert {c.kind for c in claims.state.claims.values()} == {"injury"}
    assert claims.changes().count("kind_changed") == 2


def test_an_unknown_insurers_claim_awaits_routing_by_an_administrator(claims: Claims) -> None:
    claims.reported(party("鲁C96001", "NEWINS"), PICC_CAR)
    unknown = claims.claim("鲁C96001")
    assert (unknown.status, unknown.routed) == ("awaiting_routing", False)
    assert claims.changes("claims.insurer.NEWINS") == [] and claims.changes(key=unknown.claim_id) == ["opened"]
    waiting = C.list_claims(ClaimsQuery(10, None, "awaiting_routing"), claims.uow())
    assert [c["claim_id"] for c in waiting] == [unknown.claim_id]
    with pytest.raises(C.ClaimConflict):
        C.route_claim(RouteClaim(unknown.claim_id, "NOSUCH", "dispatcher:管理员:t9", T0), claims.uow())
    routed = C.route_claim(RouteClaim(unknown.claim_id, "picc", "dispatcher:管理员:t9", T0), claims.uow())
    assert (routed["insurer"], routed["status"], routed["routed"]) == ("PICC", "routed", True)
    assert claims.changes("claims.insurer.PICC", unknown.claim_id) == ["routed"]
    with pytest.raises(C.ClaimConflict):
        C.route_claim(RouteClaim(unknown.claim_id, "PICC", "dispatcher:管理员:t9", T0), claims.uow())
    assert claims.step(unknown.claim_id, "request-documents", insurer="PICC")["status"] == "documents_requested"


def test_recent_claims_of_the_same_plate_or_person_are_flagged_for_a_person(claims: Claims) -> None:
    claims.reported(CPIC_CAR, PICC_CAR)
    claims.reported(CPIC_CAR, party("鲁C90009", "PICC", phone="+8613822220002"), incident_id="INC-20261122-0002",
                    at=T0 + timedelta(days=3))
    again = next(c for c in claims.state.claims.values() if c.incident_id == "INC-20261122-0002" and c.plate == "鲁C90001")
    assert [(f.code, f.claims) for f in again.flags] == [
        ("same_plate_recent_claims", (claims.claim("鲁C90001").claim_id,)),
        ("same_person_recent_claims", (claims.claim("鲁C90002").claim_id,))]  # all parties share an ID number


# ------------------------------------------------------------------------------- the insurer's desk
def test_the_insurer_takes_the_statutory_steps_in_order_and_pays_once(claims: Claims) -> None:
    claims.reported(CPIC_CAR, PICC_CAR)
    cid = claims.claim("鲁C90001").claim_id
    with pytest.raises(C.ClaimConflict):
        claims.step(cid, "pay")
    with pytest.raises(C.ClaimNotFound):
        claims.step(cid, "request-documents", insurer="PICC")  # another insurer's claim is not found
    with pytest.raises(C.ClaimNotFound):
        C.claim_detail(ClaimQuery(cid, "PICC"), claims.uow())
    for n, (action, fields) in enumerate([("request-documents", {}), ("documents-complete", {}),
                                          ("assess", {"amount_fen": 150_000}), ("decide", {"accepted": True}),
                                          ("agree", {}), ("pay", {})]):
        done = claims.step(cid, action, at=T0 + timedelta(hours=n), **fields)
    assert done["status"] == "paid" and done["paid_fen"] == 150_000 and done["decision"]["by"] == "insurer:CPIC理赔:t1"
    assert claims.changes(key=cid) == ["opened", "documents_requested", "documents_complete", "assessed",
                                       "cover_decided", "agreed", "paid"]
    assert [m.get("by") for t, k, m, _ in claims.state.messages if k == cid and t == "claims.events"] == \
        [None] + ["CPIC理赔"] * 6
    with pytest.raises(C.ClaimConflict):
        claims.step(cid, "pay")
    assert C.claim_detail(ClaimQuery(cid, "CPIC"), claims.uow())["version"] == 7


def test_a_refusal_needs_written_reasons_and_is_final(claims: Claims) -> None:
    claims.reported(CPIC_CAR, PICC_CAR)
    cid = claims.claim("鲁C90001").claim_id
    for action, fields in [("request-documents", {}), ("documents-complete", {}), ("assess", {"amount_fen": 9_000})]:
        claims.step(cid, action, **fields)
    with pytest.raises(ValueError):
        claims.step(cid, "decide", accepted=False)
    refused = claims.step(cid, "decide", accepted=False, reasons="非保险责任")
    assert refused["status"] == "refused" and refused["decision"]["reasons"] == "非保险责任"
    with pytest.raises(C.ClaimConflict):
        claims.step(cid, "decide", accepted=True)


def test_the_insurer_sees_only_its_own_claims_newest_first(claims: Claims) -> None:
    claims.reported(CPIC_CAR, PICC_CAR)
    claims.reported(party("鲁C90005", "CPIC"), party("鲁C90006", "PINGAN"), incident_id="INC-20261122-0002",
                    at=T0 + timedelta(hours=1))
    mine = C.list_claims(ClaimsQuery(10, "CPIC"), claims.uow())
    assert [c["plate"] for c in mine] == ["鲁C90005", "鲁C90001"] and mine[0]["party"]["phone"] == "+86139****0001"
    assert C.list_claims(ClaimsQuery(10, "CPIC", "paid"), claims.uow()) == []


# ------------------------------------------------------------------------------- hospitals' bills, timers
def bill(claims: Claims, bill_id: str, insurer_fen: int, plate: str = "鲁C90001") -> ClaimFile | None:
    return C.owe_hospital_share(BillReceived("bill_id:" + bill_id, bill_id, INCIDENT, "ZB-H-1", plate, 2_500_000,
                                             insurer_fen, T0 + timedelta(hours=2)), claims.uow())


def test_a_hospital_bill_makes_the_insurer_owe_its_share_once(claims: Claims) -> None:
    claims.reported(CPIC_CAR, PICC_CAR, injured=1, movable=False)
    owes = bill(claims, "B-1", 1_800_000)
    assert owes is not None and owes.owed_to_hospital_fen == 1_800_000
    assert [{k: b[k] for k in ("bill_id", "hospital_id", "insurer_fen", "amount_fen")}
            for b in owes.facts["hospital_bills"]] == [{"bill_id": "B-1", "hospital_id": "ZB-H-1",
                                                        "insurer_fen": 1_800_000, "amount_fen": 2_500_000}]
    assert bill(claims, "B-1", 1_800_000) is None, "the same bill delivered again"
    assert bill(claims, "B-2", 0) is None and bill(claims, "B-3", 100, plate="鲁X00000") is None
    assert claims.claim("鲁C90001").owed_to_hospital_fen == 1_800_000
    assert claims.changes(key=owes.claim_id) == ["opened", "hospital_bill_owed"]
    assert set(claims.state.processed) == {"bill_id:B-1", "bill_id:B-2", "bill_id:B-3"}


def test_overdue_steps_are_flagged_once(claims: Claims) -> None:
    claims.reported(CPIC_CAR, PICC_CAR)
    claims.step(claims.claim("鲁C90002").claim_id, "request-documents", insurer="PICC")
    later = T0 + timedelta(days=3)
    assert C.flag_overdue(later, claims.uow()) == 1 and C.flag_overdue(later, claims.uow()) == 0
    flagged = claims.claim("鲁C90001")
    assert [(o.step, o.flagged_at) for o in flagged.overdue_flags] == [("list_documents", later)]
    assert claims.changes(key=flagged.claim_id) == ["opened", "overdue"]


# ------------------------------------------------------------------------------- quick handling
def test_both_parties_sign_and_the_table_settles_liability_for_both_insurers(claims: Claims) -> None:
    claims.reported(CPIC_CAR, PICC_CAR)
    links = claims.links()
    (qid, a), (_, b) = links["+8613811110001"], links["+8613822220002"]
    with pytest.raises(Q.QuickError):
        Q.confirm(ConfirmFacts(qid, a, "周某", T0, ("rear_ending",)), claims.uow())  # photos first
    with pytest.raises(Q.QuickError):
        Q.add_photo(AddPhoto(qid, a, "front_side", "bm90IGFuIGltYWdl", T0), claims.uow(), claims.photos)
    first = claims.photos_and_confirm(qid, a, signature="周某", situations=("rear_ending",), weather="晴")
    assert first["status"] == "open" and first["me"]["confirmed"] and len(claims.photos.kept) == 1
    done = claims.photos_and_confirm(qid, b, signature="吴某")
    assert done["status"] == "agreed" and done["outcome"]["shares"] == {"鲁C90001": "full", "鲁C90002": "none"}
    assert done["outcome"]["agreement"]["weather"] == "晴"
    outcome_texts = [t for t, _ in claims.state.texts.values() if t.purpose == "quick_outcome"]
    assert len(outcome_texts) == 2 and all("全部责任" in t.body for t in outcome_texts)
    assert claims.claim("鲁C90001").facts["liability"]["own_share"] == "full"
    assert claims.changes().count("liability_determined") == 2 and claims.changes("claims.quick") == ["agreed"]
    with pytest.raises(C.ClaimConflict):
        Q.add_photo(AddPhoto(qid, a, "other", PNG, T0), claims.uow(), claims.photos)


def test_a_disputed_case_goes_to_the_police_who_determine_liability_once(claims: Claims) -> None:
    claims.reported(CPIC_CAR, PICC_CAR)
    for qid, token in claims.links().values():
        claims.photos_and_confirm(qid, token, signature="某", disputed=True)
    queue = Q.police_queue(PoliceQueueQuery(10), claims.uow())
    assert [q["quick_id"] for q in queue] == [qid] and queue[0]["parties"][0]["disputed"] is True
    assert claims.changes("claims.quick") == ["police_queue"]

    def determine(shares: dict[str, str], reason: str = "视频显示甲车变道未让行") -> dict[str, Any]:
        return Q.police_determine(DetermineLiability(qid, shares, reason, "dispatcher:交警:t2", T0), claims.uow())

    with pytest.raises(Q.QuickError):
        determine({"鲁C90001": "most"})
    with pytest.raises(Q.QuickError):
        determine({"鲁C90001": "primary", "鲁C90002": "secondary"}, reason=" ")
    assert determine({"鲁C90001": "primary", "鲁C90002": "secondary"})["status"] == "determined"
    with pytest.raises(C.ClaimConflict):
        determine({"鲁C90001": "full", "鲁C90002": "none"})
    assert claims.claim("鲁C90002").facts["liability"]["own_share"] == "secondary"
    assert Q.police_queue(PoliceQueueQuery(10), claims.uow()) == []


# ------------------------------------------------------------------------------- answers about one's own vehicle
SIGNATURE = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x01" * 200).decode()


def _answer(claims: Claims, qid: str, token: str, code: str, **kw: Any) -> dict[str, Any]:
    return Q.answer_own_vehicle(AnswerOwnVehicle(qid, token, code, T0 + timedelta(minutes=2), **kw), claims.uow())


def _photos(claims: Claims, qid: str, token: str) -> None:
    for kind in ("front_side", "rear_side", "impact_point"):
        Q.add_photo(AddPhoto(qid, token, kind, PNG, T0), claims.uow(), claims.photos)


def _sign(claims: Claims, qid: str, token: str, png: str = SIGNATURE) -> dict[str, Any]:
    return Q.confirm(ConfirmFacts(qid, token, "", T0 + timedelta(minutes=5), signature_png=png), claims.uow(),
                     claims.photos)


def test_the_rear_ended_standing_car_gets_no_liability_shown_before_signing_and_bound_after(claims: Claims) -> None:
    claims.reported(CPIC_CAR, PICC_CAR)
    links = claims.links()
    (qid, a), (_, b) = links["+8613811110001"], links["+8613822220002"]
    _photos(claims, qid, a)
    first = _answer(claims, qid, a, "stopped_waiting", weather="晴", point_of_impact="车尾")
    assert first["liability_preview"]["state"] == "waiting" and first["me"]["answer"]["zh"].startswith("停车等待")
    with pytest.raises(C.ClaimConflict):
        _sign(claims, qid, a)  # nothing to sign before the other party has answered
    seen_by_b = _answer(claims, qid, b, "rear_ending")
    assert seen_by_b["liability_preview"] == {"state": "settled", "shares": {"鲁C90002": "full", "鲁C90001": "none"},
                                              "reason": seen_by_b["liability_preview"]["reason"]}
    with pytest.raises(Q.QuickError):
        _sign(claims, qid, a, png=base64.b64encode(b"GIF89a" + b"\x00" * 80).decode())  # a PNG or nothing
    signed = _sign(claims, qid, a)
    assert signed["status"] == "open" and signed["me"]["signed"] and claims.changes().count("liability_determined") == 0
    with pytest.raises(C.ClaimConflict):
        _answer(claims, qid, b, "driving_normally")  # a party signed what was shown: no changing answers now
    done = _sign(claims, qid, b)
    assert done["status"] == "agreed" and done["outcome"]["shares"] == {"鲁C90002": "full", "鲁C90001": "none"}
    sha = hashlib.sha256(base64.b64decode(SIGNATURE)).hexdigest()
    parties = {p["plate"]: p for p in done["outcome"]["agreement"]["parties"]}
    assert parties["鲁C90001"]["signature_sha256"] == sha and parties["鲁C90002"]["own_vehicle"]["code"] == "rear_ending"
    assert parties["鲁C90001"]["liability"] == "none" and done["outcome"]["agreement"]["weather"] == "晴"
    assert claims.photos.kept[(qid, f"{sha}.png")] == base64.b64decode(SIGNATURE), "the image, under its hash"
    data, media = Q.quick_file(QuickFileQuery(qid, sha, a), claims.uow(), claims.photos)
    assert media == "image/png" and hashlib.sha256(data).hexdigest() == sha
    with pytest.raises(C.ClaimNotFound):
        Q.quick_file(QuickFileQuery(qid, sha, "wrong"), claims.uow(), claims.photos)
    assert {c["plate"]: (c["insurer_name"], c["hotline"]) for c in done["claims"]} == {
        "鲁C90001": ("太平洋财产保险", "95500"), "鲁C90002": ("中国人民财产保险", "95518")}
    assert {c["claim_id"] for c in done["claims"]} == {claims.claim("鲁C90001").claim_id, claims.claim("鲁C90002").claim_id}
    assert "异议" in done["after_signing"]["zh"]
    assert claims.claim("鲁C90002").facts["liability"]["own_share"] == "full"
    assert claims.claim("鲁C90001").facts["liability"]["own_share"] == "none"
    assert claims.changes().count("liability_determined") == 2 and claims.changes("claims.quick") == ["agreed"]


def test_contradicting_answers_go_to_the_police_at_once_with_both_answers(claims: Claims) -> None:
    claims.reported(CPIC_CAR, PICC_CAR)
    links = claims.links()
    (qid, a), (_, b) = links["+8613811110001"], links["+8613822220002"]
    _answer(claims, qid, a, "stopped_waiting")
    out = _answer(claims, qid, b, "driving_normally")  # the car behind says it was only driving along
    assert out["status"] == "police_queue" and out["outcome"]["reason"]["code"] == "answers_contradict:nobody_at_fault"
    with pytest.raises(C.ClaimConflict):
        _sign(claims, qid, a)
    (case,) = Q.police_queue(PoliceQueueQuery(10), claims.uow())
    assert {p["plate"]: p["answer"]["code"] for p in case["parties"]} == {"鲁C90001": "stopped_waiting",
                                                                         "鲁C90002": "driving_normally"}
    assert claims.changes("claims.quick") == ["police_queue"]
    Q.police_determine(DetermineLiability(qid, {"鲁C90001": "none", "鲁C90002": "full"}, "照片显示后车追尾", "police:交警:t", T0),
                       claims.uow())
    assert claims.claim("鲁C90002").facts["liability"]["own_share"] == "full"


def test_an_objection_before_both_signed_binds_nothing_and_the_officer_reads_it(claims: Claims) -> None:
    claims.reported(CPIC_CAR, PICC_CAR)
    links = claims.links()
    (qid, a), (_, b) = links["+8613811110001"], links["+8613822220002"]
    _photos(claims, qid, a)
    _answer(claims, qid, a, "lane_change")
    _answer(claims, qid, b, "driving_normally")
    _sign(claims, qid, b)
    with pytest.raises(Q.QuickError):
        Q.object_to_liability(ObjectToLiability(qid, a, "  ", T0), claims.uow())
    out = Q.object_to_liability(ObjectToLiability(qid, a, "对方车速过快，不是我全责", T0), claims.uow())
    assert out["status"] == "police_queue" and claims.changes().count("liability_determined") == 0
    (case,) = Q.police_queue(PoliceQueueQuery(10), claims.uow())
    mine = next(p for p in case["parties"] if p["plate"] == "鲁C90001")
    assert mine["objection"]["reason"] == "对方车速过快，不是我全责" and case["outcome"]["reason"]["code"] == "objection"
    assert [f["kind"] for f in case["photo_files"]] == ["front_side", "rear_side", "impact_point"]
    with pytest.raises(C.ClaimConflict):
        _sign(claims, qid, a)
    data, _ = Q.quick_file(QuickFileQuery(qid, case["photo_files"][0]["sha256"]), claims.uow(), claims.photos)
    assert data == base64.b64decode(PNG), "the officer sees the photo"


def test_a_party_confirms_the_facts_by_replying_to_its_text(claims: Claims) -> None:
    claims.reported(CPIC_CAR, PICC_CAR)
    assert "回复1" in Q.confirm_by_sms(ConfirmBySms("+8613811110001", "好的", T0), claims.uow())
    assert Q.confirm_by_sms(ConfirmBySms("+8613811110001", " 1 ", T0), claims.uow()).startswith("已确认")
    (quick,) = claims.state.quick_cases.values()
    assert quick.confirmations == {"sms:鲁C90001": {"at": "2026-11-22T08:00:00+08:00", "facts_confirmed": True}}
    assert Q.confirm_by_sms(ConfirmBySms("+8600000000000", "1", T0), claims.uow()) == ""
    assert [k for _, k, _, _ in claims.state.timeline][-1] == "quick_sms_confirmed"


def test_a_refused_step_keeps_nothing(claims: Claims) -> None:
    claims.reported(CPIC_CAR, PICC_CAR)
    cid = claims.claim("鲁C90001").claim_id
    claims.step(cid, "request-documents")
    claims.step(cid, "documents-complete")
    before = copy.deepcopy(claims.state)
    with pytest.raises(ValueError):
        claims.step(cid, "assess", amount_fen=-1)
    assert claims.state == before


# ------------------------------------------------------------------------------- knock-for-knock (互碰自赔)
def _police_determined(claims: Claims, shares: dict[str, str]) -> str:
    claims.reported(CPIC_CAR, PICC_CAR)
    for qid, token in claims.links().values():
        claims.photos_and_confirm(qid, token, signature="某", disputed=True)
    done = Q.police_determine(DetermineLiability(qid, shares, "视频显示甲车变道未让行", "dispatcher:交警:t2", T0),
                              claims.uow())
    return done["outcome"]["knock_for_knock_possible"]


def _assess_both(claims: Claims, cpic_fen: int, picc_fen: int) -> None:
    for plate, insurer, fen in (("鲁C90001", "CPIC", cpic_fen), ("鲁C90002", "PICC", picc_fen)):
        cid = claims.claim(plate).claim_id
        for action, fields in [("request-documents", {}), ("documents-complete", {}), ("assess", {"amount_fen": fen})]:
            claims.step(cid, action, insurer=insurer, **fields)


def test_primary_and_secondary_liability_is_knock_for_knock_each_insurer_paying_its_own_insureds_damage(
        claims: Claims) -> None:
    assert _police_determined(claims, {"鲁C90001": "primary", "鲁C90002": "secondary"}) is True
    waiting = claims.claim("鲁C90001").facts["knock_for_knock"]
    assert waiting["applies"] is False and {r["code"] for r in waiting["reasons"]} == {"loss_unknown"}, \
        "every side at fault, losses not assessed yet"
    _assess_both(claims, 150_000, 80_000)
    cpic, picc = claims.claim("鲁C90001"), claims.claim("鲁C90002")
    assert cpic.facts["knock_for_knock"]["applies"] is True and cpic.facts["knock_for_knock"]["own_vehicle_fen"] == 150_000
    assert picc.facts["knock_for_knock"]["own_vehicle_fen"] == 80_000
    assert claims.changes(key=picc.claim_id)[-2:] == ["assessed", "knock_for_knock"]
    for action, fields in [("decide", {"accepted": True}), ("agree", {})]:
        claims.step(cpic.claim_id, action, insurer="CPIC", **fields)
    with pytest.raises(ValueError, match="own vehicle"):
        claims.step(cpic.claim_id, "pay", insurer="CPIC", amount_fen=230_000)  # not the other car's damage too
    paid = claims.step(cpic.claim_id, "pay", insurer="CPIC")
    assert paid["paid_fen"] == 150_000
    assert [m for t, k, m, _ in claims.state.messages if k == cpic.claim_id and m["change"] == "paid"][0][
        "knock_for_knock"] is True


def test_full_and_none_liability_or_a_loss_above_2000_yuan_is_no_knock_for_knock(claims: Claims) -> None:
    assert _police_determined(claims, {"鲁C90001": "full", "鲁C90002": "none"}) is False
    _assess_both(claims, 150_000, 80_000)
    assert "knock_for_knock" not in claims.claim("鲁C90001").facts
    other = Claims()
    _police_determined(other, {"鲁C90001": "equal", "鲁C90002": "equal"})
    _assess_both(other, 250_000, 80_000)
    kfk = other.claim("鲁C90002").facts["knock_for_knock"]
    assert kfk["applies"] is False and [r["code"] for r in kfk["reasons"]] == ["loss_above_threshold"]


def test_every_side_at_fault_means_any_liability_but_none() -> None:
    from claims.settlement import every_side_at_fault

    assert every_side_at_fault({"A": "primary", "B": "secondary"}) and every_side_at_fault({"A": "equal", "B": "equal"})
    assert not every_side_at_fault({"A": "full", "B": "none"}) and not every_side_at_fault({"A": "equal"})


def rerouted(claims: Claims, bill_id: str, plate: str | None, insurer_fen: int, revision: int, previous_plate: str,
             liability: str | None = "none") -> ClaimFile | None:
    return C.owe_hospital_share(BillReceived(f"bill_id:{bill_id}:r{revision}", bill_id, INCIDENT, "ZB-H-1", plate,
                                             2_500_000, insurer_fen, T0 + timedelta(hours=3), revision=revision,
                                             previous_plate=previous_plate, liability=liability), claims.uow())


def test_a_rerouted_bill_lowers_what_the_insurer_owes_once(claims: Claims) -> None:
    claims.reported(CPIC_CAR, PICC_CAR, injured=1, movable=False)
    bill(claims, "B-1", 1_800_000)
    owes = rerouted(claims, "B-1", "鲁C90001", 180_000, 1, "鲁C90001")
    assert rerouted(claims, "B-1", "鲁C90001", 180_000, 1, "鲁C90001") is None  # redelivered
    assert owes is not None and owes.owed_to_hospital_fen == 180_000
    assert claims.changes(key=owes.claim_id) == ["opened", "hospital_bill_owed", "hospital_share_rerouted"]


def test_a_rerouted_bill_moves_its_share_to_the_vehicle_that_now_answers(claims: Claims) -> None:
    claims.reported(CPIC_CAR, PICC_CAR, injured=1, movable=False)
    bill(claims, "B-1", 1_800_000)
    rerouted(claims, "B-1", "鲁C90002", 1_800_000, 1, "鲁C90001", liability="full")
    assert claims.claim("鲁C90001").owed_to_hospital_fen == 0
    assert claims.claim("鲁C90002").owed_to_hospital_fen == 1_800_000


def test_the_insurer_never_owes_hospitals_more_than_its_limit_for_the_liability(claims: Claims) -> None:
    claims.reported(CPIC_CAR, PICC_CAR, injured=1, movable=False)
    owes = C.owe_hospital_share(BillReceived("bill_id:B-9", "B-9", INCIDENT, "ZB-H-1", "鲁C90001", 2_500_000,
                                             1_800_000, T0 + timedelta(hours=2), liability="none"), claims.uow())
    assert owes is not None and owes.owed_to_hospital_fen == 180_000  # not at fault: 1,800 yuan (ci_settlement)
