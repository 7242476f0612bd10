"""Properties of the one gate every report passes (accidentlink/reports.py ``parse_report``) and of the
merge rule that folds reports of one crash into one incident (accidentlink/incidents.py ``merge``)."""
from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from accidentlink.incidents import merge, open_incident
from accidentlink.reports import HAZARDS, MAX_COUNT, SCHEMA, SOURCES, InvalidReport, parse_report, report_from_dict

relaxed = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # no global profile change

# ---------------------------------------------------------------- strategies
offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
times = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=offsets)
# valid text: anything but NUL, which reports refuse (PostgreSQL cannot store it)
text = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=500)
short = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=30)
names = st.one_of(st.none(), short)
phones = st.one_of(st.none(), st.from_regex(r"\+?86?1[3-9][0-9]{9}", fullmatch=True))
plates = st.one_of(st.none(), st.from_regex(r"[鲁京沪][A-Z][0-9A-Z]{5}", fullmatch=True))
flags = st.one_of(st.none(), st.booleans())


@st.composite
def parties(draw: Any) -> dict[str, Any]:
    insurer = draw(st.one_of(st.none(), st.sampled_from(["PICC", "PINGAN", "CPIC", "XYZ"])))
    p = {"name": draw(names), "phone": draw(phones),
         "id_number": draw(st.one_of(st.none(), st.from_regex(r"[1-6][0-9]{16}[0-9X]", fullmatch=True))),
         "plate": draw(plates), "vehicle_type": draw(st.one_of(st.none(), st.sampled_from(["car", "truck", "e-bike"]))),
         "insurer": insurer, "ci_policy": draw(st.from_regex(r"P[A-Z0-9]{5,20}", fullmatch=True)) if insurer else None}
    for f in ("licensed", "drunk", "vehicle_stolen"):
        v = draw(flags)
        if v is not None or draw(st.booleans()):
            p[f] = v
    # optional keys may be absent as well as null
    return {k: v for k, v in p.items() if v is not None or k in ("insurer", "ci_policy") or draw(st.booleans())}


@st.composite
def reports(draw: Any, *, lat: Any = None, lon: Any = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "report_id": draw(st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1, max_size=100).filter(lambda s: s.strip())),
        "source": draw(st.sampled_from(SOURCES)),
        "reported_at": draw(times).isoformat(),
        "location": {"lat": draw(lat if lat is not None else st.floats(-90, 90)),
                     "lon": draw(lon if lon is not None else st.floats(-180, 180))},
        "injured": draw(st.integers(0, MAX_COUNT)),
        "fatalities": draw(st.integers(0, MAX_COUNT)),
        "vehicles_movable": draw(st.booleans()),
        "hit_and_run": draw(st.booleans()),
    }
    if draw(st.booleans()):
        doc["location"]["address"] = draw(st.one_of(st.none(), text))
    if draw(st.booleans()):
        doc["hazards"] = draw(st.lists(st.sampled_from(HAZARDS), max_size=6))
    if draw(st.booleans()):
        doc["reporter"] = {"name": draw(names), "phone": draw(phones)}
    if draw(st.booleans()):
        doc["parties"] = draw(st.lists(parties(), max_size=4))
    if draw(st.booleans()):
        doc["description"] = draw(st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=200))
    if draw(st.booleans()):
        doc["extension"] = {"from": "a newer producer"}  # unknown fields are ignored
    return doc


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                 st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=12)


# ---------------------------------------------------------------- never anything but InvalidReport
def _only_invalid_report(raw: bytes | str) -> None:
    try:
        parse_report(raw)
    except InvalidReport as e:
        assert str(e).strip(), "a readable reason"
    # any other exception fails the property


@relaxed
@given(st.binary(max_size=2000))
@example(b"")
@example(b"\xff\xfe")
@example(b"[" * 100_000)
@example(b'{"schema": "accident-report/1"')
@example(b"null")
@example(b"NaN")
def test_arbitrary_bytes_raise_nothing_but_invalid_report(raw: bytes) -> None:
    _only_invalid_report(raw)


@relaxed
@given(json_values)
def test_arbitrary_json_raises_nothing_but_invalid_report(value: Any) -> None:
    _only_invalid_report(json.dumps(value).encode())


FIELD_PATHS = ["schema", "report_id", "source", "reported_at", "location", "location.lat", "location.lon",
               "location.address", "injured", "fatalities", "vehicles_movable", "hit_and_run", "hazards", "reporter",
               "reporter.name", "reporter.phone", "parties", "description"]


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *head, last = path.split(".")
    for k in head:
        if not isinstance(doc.get(k), dict):
            doc[k] = {}
        doc = doc[k]
    doc[last] = value


@relaxed
@given(reports(), st.sampled_from(FIELD_PATHS), json_values)
def test_a_valid_report_with_any_field_replaced_by_any_json_parses_or_is_refused(doc, path, value) -> None:  # type: ignore[no-untyped-def]
    _set(doc, path, value)
    _only_invalid_report(json.dumps(doc).encode())


@relaxed
@given(reports(), st.sampled_from(FIELD_PATHS))
def test_a_valid_report_with_any_field_removed_parses_or_is_refused(doc, path) -> None:  # type: ignore[no-untyped-def]
    *head, last = path.split(".")
    d = doc
    for k in head:
        d = d.get(k) or {}
    d.pop(last, None)
    _only_invalid_report(json.dumps(doc).encode())


# ---------------------------------------------------------------- valid reports parse and round-trip
@relaxed
@given(reports())
def test_a_valid_report_parses_with_its_values(doc: dict[str, Any]) -> None:
    r = parse_report(json.dumps(doc).encode())
    assert r.report_id == doc["report_id"] and r.source == doc["source"]
    assert r.reported_at == datetime.fromisoformat(doc["reported_at"])
    assert r.location.lat == doc["location"]["lat"] and r.location.lon == doc["location"]["lon"]
    assert (r.injured, r.fatalities) == (doc["injured"], doc["fatalities"])
    assert (r.vehicles_movable, r.hit_and_run) == (doc["vehicles_movable"], doc["hit_and_run"])
    assert r.hazards == tuple(dict.fromkeys(doc.get("hazards", [])))
    assert len(r.parties) == len(doc.get("parties", []))
    for got, want in zip(r.parties, doc.get("parties", [])):
        for k in ("name", "phone", "id_number", "plate", "insurer", "ci_policy", "licensed", "drunk"):
            assert getattr(got, k) == want.get(k)
    assert r.description == (doc.get("description") or "")


@relaxed
@given(reports())
def test_a_valid_report_round_trips_through_to_json(doc: dict[str, Any]) -> None:
    r = parse_report(json.dumps(doc).encode())
    out = r.to_json()
    assert out["schema"] == SCHEMA
    json.dumps(out)  # plain JSON
    again = parse_report(json.dumps(out, ensure_ascii=False).encode("utf-8"))
    # times are shown to the millisecond in +08:00: the instant survives to within a millisecond
    assert abs(again.reported_at - r.reported_at) < timedelta(milliseconds=1)
    assert again.reported_at.utcoffset() == timedelta(hours=8)
    rest = {k: v for k, v in out.items() if k != "reported_at"}
    assert {k: v for k, v in again.to_json().items() if k != "reported_at"} == rest
    assert again.to_json() == parse_report(json.dumps(again.to_json())).to_json(), "to_json is a fixed point"


@relaxed
@given(reports())
def test_parse_report_takes_text_as_well_as_bytes(doc: dict[str, Any]) -> None:
    raw = json.dumps(doc, ensure_ascii=False)
    assert parse_report(raw) == parse_report(raw.encode("utf-8"))


# ---------------------------------------------------------------- single-field corruption names the field
WRONG: dict[str, list[Any]] = {
    "schema": [None, 1, "accident-report/2", "", ["accident-report/1"]],
    "report_id": [None, 7, "", "   ", "x" * 101, True, {"id": 1}],
    "source": [None, 122, "110", "", True],
    "reported_at": [None, 20261122, "2026-11-22T08:15:03", "yesterday", "", True, "2026-13-01T00:00:00+08:00"],
    "location": [None, "聊城", [36.4, 115.9], 1],
    "location.lat": [None, "36.4", 90.0001, -91, float("nan"), float("inf"), True, [36]],
    "location.lon": [None, "115.9", 180.5, -181, float("-inf"), False],
    "location.address": [5, True, ["路"], "路" * 501],
    "injured": [None, -1, 1.5, 2.0, "2", True, MAX_COUNT + 1, [1]],
    "fatalities": [None, -3, 0.0, "0", False, MAX_COUNT + 1],
    "vehicles_movable": [None, 0, 1, "true", "false"],
    "hit_and_run": [None, 0, "yes", []],
    "hazards": ["trapped", {"trapped": True}, 3, True],
    "hazards.item": ["meteor", 1, None, "TRAPPED", ["trapped"]],
    "reporter": ["王某", 1, ["王某"], True],
    "reporter.name": [1, True, ["王某"], "王" * 501],
    "reporter.phone": [13800000000, False, "1" * 41],
    "parties": ["张某", {"name": "张某"}, 1, True],
    "parties.item": ["张某", 1, None, ["鲁P12345"]],
    "party.plate": [12345, True, "鲁" * 21],
    "party.phone": [13900000001, "1" * 41],
    "party.id_number": [371502199001011234, "1" * 41],
    "party.insurer": [1, True, "I" * 41],
    "party.ci_policy": [1, ["P"], "P" * 61],
    "party.licensed": ["yes", 1],
    "party.drunk": ["no", 0],
    "party.vehicle_stolen": ["no", 0.0],
    "description": [1, True, ["两车"], "描" * 4001],
}


def _corrupt(doc: dict[str, Any], field: str, value: Any) -> str:
    """Put ``value`` at ``field``; returns the name the refusal must carry."""
    if field == "hazards.item":
        doc["hazards"] = ["trapped", value]
        return "hazard"
    if field == "parties.item":
        doc["parties"] = [value]
        return "parties[0]"
    if field.startswith("party."):
        key = field.split(".", 1)[1]
        doc["parties"] = [{"name": "张某", "plate": "鲁P12345", "insurer": "PICC", "ci_policy": "P1", key: value}]
        return f"parties[0].{key}"
    _set(doc, field, value)
    return field


CORRUPTIONS = [(f, v) for f, vs in WRONG.items() for v in vs]


@relaxed
@given(reports(), st.sampled_from(CORRUPTIONS))
def test_any_single_field_corruption_is_refused_with_a_reason_naming_the_field(doc, corruption) -> None:  # type: ignore[no-untyped-def]
    field, value = corruption
    name = _corrupt(doc, field, value)
    with pytest.raises(InvalidReport) as e:
        parse_report(json.dumps(doc).encode())
    assert name in str(e.value), f"{field}={value!r}: {e.value}"


@pytest.mark.parametrize("field,value", CORRUPTIONS, ids=[f"{f}={str(v)[:12]}" for f, v in CORRUPTIONS])
def test_each_corruption_on_a_fixed_report(field, value) -> None:  # type: ignore[no-untyped-def]
    from tests.support.reports import report

    doc = report(parties=[{"name": "张某", "plate": "鲁P1", "insurer": "PICC", "ci_policy": "P"}])
    name = _corrupt(doc, field, value)
    with pytest.raises(InvalidReport, match=".") as e:
        parse_report(json.dumps(doc).encode())
    assert name in str(e.value)


# ---------------------------------------------------------------- known holes: exceptions that are not InvalidReport
@pytest.mark.parametrize("field", ["lat", "lon"])
def test_a_coordinate_too_large_for_a_float_is_invalid_report(field) -> None:  # type: ignore[no-untyped-def]
    from tests.support.reports import report

    doc = report()
    doc["location"][field] = 10 ** 400
    _only_invalid_report(json.dumps(doc))


def test_an_integer_with_thousands_of_digits_is_invalid_report() -> None:
    _only_invalid_report(b'{"schema": "accident-report/1", "injured": ' + b"9" * 5000 + b"}")


@given(reports(), st.datetimes(min_value=datetime(9999, 12, 31), timezones=offsets))
@settings(max_examples=30, deadline=None)
def test_a_report_that_parses_can_always_be_written_back(doc, at) -> None:  # type: ignore[no-untyped-def]
    doc["reported_at"] = at.isoformat()
    try:
        r = parse_report(json.dumps(doc))
    except InvalidReport:
        return
    r.to_json()


# ---------------------------------------------------------------- merge
near = {"lat": st.floats(36.40, 36.401), "lon": st.floats(115.90, 115.901)}


@st.composite
def parsed(draw: Any) -> Any:
    return parse_report(json.dumps(draw(reports(**near))))


def _summary(i: Any) -> tuple[Any, ...]:
    return (i.injured, i.fatalities, set(i.hazards), set(i.plates), set(i.report_ids), set(i.sources),
            i.vehicles_movable, i.hit_and_run, i.first_reported_at, i.last_reported_at)


@relaxed
@given(parsed(), parsed())
def test_merging_the_same_report_twice_equals_merging_it_once(first, other) -> None:  # type: ignore[no-untyped-def]
    assume(first.report_id != other.report_id)
    inc = open_incident(first)
    once = merge(inc, other)
    assert merge(once, other) == once
    assert merge(inc, first) == inc, "the report that opened the incident is already in it"


@relaxed
@given(parsed(), st.lists(parsed(), min_size=1, max_size=5))
def test_merged_counts_are_the_maximum_and_flags_combine(first, more) -> None:  # type: ignore[no-untyped-def]
    ids = {first.report_id}
    inc = open_incident(first)
    merged_reports = [first]
    for r in more:
        if r.report_id in ids:
            continue
        ids.add(r.report_id)
        inc = merge(inc, r)
        merged_reports.append(r)
    assert inc.injured == max(r.injured for r in merged_reports)
    assert inc.fatalities == max(r.fatalities for r in merged_reports)
    assert inc.hit_and_run == any(r.hit_and_run for r in merged_reports)
    assert inc.vehicles_movable == all(r.vehicles_movable for r in merged_reports)
    assert set(inc.hazards) == {h for r in merged_reports for h in r.hazards}
    assert len(inc.hazards) == len(set(inc.hazards)) and len(inc.plates) == len(set(inc.plates))
    assert set(inc.plates) == {p.plate.strip().upper() for r in merged_reports for p in r.parties if p.plate and p.plate.strip()}
    assert inc.report_ids == tuple(r.report_id for r in merged_reports)
    assert inc.first_reported_at == min(r.reported_at for r in merged_reports)
    assert inc.last_reported_at == max(r.reported_at for r in merged_reports)
    assert inc.incident_id == open_incident(first).incident_id, "the id stays the opening report's"


@relaxed
@given(parsed(), parsed(), parsed())
def test_the_order_of_two_reports_does_not_change_what_the_incident_says(first, a, b) -> None:  # type: ignore[no-untyped-def]
    assume(len({first.report_id, a.report_id, b.report_id}) == 3)
    ab = merge(merge(open_incident(first), a), b)
    ba = merge(merge(open_incident(first), b), a)
    assert _summary(ab) == _summary(ba)
    assert ab.severity == ba.severity and ab.needs_ambulance == ba.needs_ambulance


@relaxed
@given(parsed(), parsed())
def test_two_reports_give_the_same_counts_whichever_opened_the_incident(a, b) -> None:  # type: ignore[no-untyped-def]
    assume(a.report_id != b.report_id)
    ab, ba = merge(open_incident(a), b), merge(open_incident(b), a)
    assert _summary(ab) == _summary(ba)
    assert math.isclose(ab.lat, a.location.lat) and math.isclose(ba.lat, b.location.lat), "position stays the first's"


def test_a_nul_character_in_any_text_field_is_refused_with_the_field_named() -> None:
    """PostgreSQL cannot store NUL in text: refused at the gate, never a failure later."""
    from tests.support.reports import report as make

    doc = make()
    doc["description"] = "两车相撞\x00"
    with pytest.raises(InvalidReport, match="description"):
        report_from_dict(doc)
