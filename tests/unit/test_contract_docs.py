"""The published contract documents stay in step with the code.

- ``docs/asyncapi.yaml``: one channel per topic of ``streams/topics.PARTITIONS`` (and no other), the
  internal ones marked internal; the consumer groups of ``streams/topics.GROUPS`` and what each reads (only
  the intake reads ``accidents.reported``, every pipeline ``intake.incident-facts``); the ``accident-report/1`` schema agrees with
  ``accidentlink.reports`` (required fields, sources, hazards, party fields), accepts the contract's
  example and rejects what ``parse_report`` rejects wherever JSON Schema can say so; the enums of the
  outbound schemas equal the values the code produces; and every message the intake, the pipelines and
  the HTTP routes actually write (run in-process on a SQLite store per context, no broker, each topic
  delivered to the groups that read it) validates against its channel's schema.
- ``docker-compose.yml``: one worker service per consumer group (the intake and the four pipelines),
  beside web, postgres and kafka.

Schemas are checked with ``jsonschema`` or ``jsonschema_rs`` (schemathesis brings one of them), or a
small built-in checker of the keywords the document uses when neither is installed.
"""
from __future__ import annotations

import copy
import json
import re
import typing
from collections.abc import Callable, Iterator
from dataclasses import fields
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from accidentlink.reports import HAZARDS, MAX_PARTIES, SOURCES, InvalidReport, Party, parse_report
from streams.topics import GROUPS, PARTITIONS

REPO = Path(__file__).resolve().parents[2]
ASYNCAPI_PATH = REPO / "docs" / "asyncapi.yaml"
COMPOSE_PATH = REPO / "docker-compose.yml"

# The example report of /work/shared/contract.md ("Inbound: accidents.reported"), verbatim.
CONTRACT_EXAMPLE = """
{
  "schema": "accident-report/1",
  "report_id": "122-20261122-000123",
  "source": "122",
  "reported_at": "2026-11-22T08:15:03+08:00",
  "location": {"lat": 36.4567, "lon": 115.9853, "address": "聊临路梁水镇段"},
  "injured": 2,
  "fatalities": 0,
  "vehicles_movable": false,
  "hit_and_run": false,
  "hazards": ["trapped"],
  "reporter": {"name": "王某", "phone": "+8613800000000"},
  "parties": [
    {"name": "张某", "phone": "+8613900000001", "id_number": "371502199001011234",
     "plate": "鲁P12345", "vehicle_type": "car",
     "insurer": "PICC", "ci_policy": "PDZA202637150000001234"}
  ],
  "description": "两车相撞，一人被困"
}
"""


@lru_cache(maxsize=1)
def asyncapi() -> dict[str, Any]:
    return yaml.safe_load(ASYNCAPI_PATH.read_text("utf-8"))


def schemas() -> dict[str, Any]:
    return asyncapi()["components"]["schemas"]


def resolve(ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references are used: {ref}"
    node: Any = asyncapi()
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def deref(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(node["$ref"])
    return node


def channels_by_topic() -> dict[str, dict[str, Any]]:
    """Fixed-address channels (the per-insurer channel is parameterised: checked on its own)."""
    return {ch["address"]: ch for ch in asyncapi()["channels"].values() if "{" not in ch["address"]}


def test_each_known_insurer_has_its_own_topic_declared_and_documented() -> None:
    from claims.services import known_insurers
    from streams.topics import declared, insurer_topic

    doc = {ch["address"] for ch in asyncapi()["channels"].values()}
    assert "claims.insurer.{insurer}" in doc
    topics = declared(known_insurers())
    for code in known_insurers():
        assert topics[insurer_topic(code)] == 1


def channel_message(topic: str) -> dict[str, Any]:
    msgs = list(channels_by_topic()[topic]["messages"].values())
    assert len(msgs) == 1, f"{topic}: one message type per channel"
    return deref(msgs[0])


def payload_schema_name(topic: str) -> str:
    ref = channel_message(topic)["payload"]["$ref"]
    return ref.rsplit("/", 1)[1]


def key_field(topic: str) -> str | None:
    """The payload field the key equals, from the message's Kafka binding (``'`incident_id`'``)."""
    desc = channel_message(topic)["bindings"]["kafka"]["key"].get("description", "")
    m = re.fullmatch(r"`(\w+)`", desc.strip())
    return m.group(1) if m else None


# ------------------------------------------------------------------------------- schema checking
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def is_date_time(value: Any) -> bool:
    """RFC 3339 date-time, offset required (``format: date-time``)."""
    if not isinstance(value, str) or not _DATE_TIME.match(value):
        return not isinstance(value, str)  # the format only constrains strings
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return True


def is_date(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _builtin_errors(schema: Any, value: Any, root: dict[str, Any], path: str = "$") -> list[str]:
    """A small JSON Schema (draft-07) checker for the keywords docs/asyncapi.yaml uses."""
    if schema is True or schema == {} or schema is None:
        return []
    if "$ref" in schema:
        node: Any = root
        for part in schema["$ref"][2:].split("/"):
            node = node[part]
        return _builtin_errors(node, value, root, path)
    errs: list[str] = []
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        checks = {"object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
                  "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
                  "null": lambda v: v is None,
                  "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
                  or (isinstance(v, float) and v.is_integer()),
                  "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)}
        if not any(checks[t](value) for t in types):
            return [f"{path}: {value!r:.60} is not of type {types}"]
    if "const" in schema and value != schema["const"]:
        errs.append(f"{path}: {value!r:.60} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{path}: {value!r:.60} is not one of {schema['enum']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and not value >= schema["minimum"]:
            errs.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and not value <= schema["maximum"]:
            errs.append(f"{path}: {value} > {schema['maximum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errs.append(f"{path}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errs.append(f"{path}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errs.append(f"{path}: does not match {schema['pattern']}")
        fmt = schema.get("format")
        if (fmt == "date-time" and not is_date_time(value)) or (fmt == "date" and not is_date(value)):
            errs.append(f"{path}: {value!r} is not a {fmt}")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errs.append(f"{path}: more than {schema['maxItems']} items")
        if "items" in schema:
            for i, item in enumerate(value):
                errs += _builtin_errors(schema["items"], item, root, f"{path}[{i}]")
    if isinstance(value, dict):
        errs += [f"{path}: missing {k!r}" for k in schema.get("required", []) if k not in value]
        props = schema.get("properties", {})
        for k, v in value.items():
            if k in props:
                errs += _builtin_errors(props[k], v, root, f"{path}.{k}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errs += _builtin_errors(schema["additionalProperties"], v, root, f"{path}.{k}")
            elif schema.get("additionalProperties") is False:
                errs.append(f"{path}: unexpected {k!r}")
    for sub in schema.get("allOf", []):
        errs += _builtin_errors(sub, value, root, path)
    if "oneOf" in schema and sum(not _builtin_errors(s, value, root, path) for s in schema["oneOf"]) != 1:
        errs.append(f"{path}: not exactly one of oneOf")
    if "if" in schema and not _builtin_errors(schema["if"], value, root, path):
        errs += _builtin_errors(schema.get("then", {}), value, root, path)
    return errs


@lru_cache(maxsize=None)
def checker(name: str) -> Callable[[Any], list[str]]:
    """``check(value) -> errors`` for ``components/schemas/<name>`` (AsyncAPI schemas are draft-07)."""
    root = {"$schema": "http://json-schema.org/draft-07/schema#", "$ref": f"#/components/schemas/{name}",
            "components": {"schemas": schemas()}}
    try:
        import jsonschema  # type: ignore[import-untyped]

        formats = jsonschema.FormatChecker()
        formats.checks("date-time")(is_date_time)
        formats.checks("date")(is_date)
        v = jsonschema.Draft7Validator(root, format_checker=formats)
        return lambda value: [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(value)]
    except ImportError:
        pass
    try:
        import jsonschema_rs  # type: ignore[import-untyped]

        v = jsonschema_rs.Draft7Validator(root, validate_formats=True)
        return lambda value: [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in v.iter_errors(value)]
    except ImportError:
        return lambda value: _builtin_errors(root, value, root)


def schema_errors(name: str, value: Any) -> list[str]:
    return checker(name)(value)


def example() -> dict[str, Any]:
    return json.loads(CONTRACT_EXAMPLE)


# ------------------------------------------------------------------------------- topics and groups
def test_every_topic_is_a_channel_and_every_channel_a_topic() -> None:
    channels = channels_by_topic()
    assert set(channels) == set(PARTITIONS), (
        f"topics without a channel: {sorted(set(PARTITIONS) - set(channels))}; "
        f"channels without a topic: {sorted(set(channels) - set(PARTITIONS))}")


@pytest.mark.parametrize("topic", sorted(PARTITIONS))
def test_channel_states_the_topics_partition_count_key_and_payload(topic: str) -> None:
    ch = channels_by_topic()[topic]
    binding = ch["bindings"]["kafka"]
    assert binding["topic"] == topic
    assert binding["partitions"] == PARTITIONS[topic], f"{topic}: streams/topics.py says {PARTITIONS[topic]}"
    msg = channel_message(topic)
    assert msg["bindings"]["kafka"]["key"]["type"] == "string", "every key is a UTF-8 string"
    assert "payload" in msg


# What each consumer group reads, as streams/worker.py wires it: the intake's two agents and its closures; each
# pipeline's incident facts, then the topics its handler declares (``topics()``).
READS = {
    "intake": {"accidents.reported", "intake.reports-by-area", "incidents"},
    "dispatch": {"intake.incident-facts", "incidents"},
    "rescue-fund": {"intake.incident-facts", "hospitals.bills"},
    "claims": {"intake.incident-facts", "hospitals.bills"},
    "hospitals": {"intake.incident-facts", "incidents", "fund.cases", "claims.events"},
}


def test_the_intake_alone_reads_reports_and_each_pipeline_reads_incident_facts_in_its_own_group() -> None:
    reads: dict[str, set[str]] = {}
    for op in asyncapi()["operations"].values():
        if op["action"] != "receive":
            continue
        group_enum = op["bindings"]["kafka"]["groupId"]["enum"]
        assert len(group_enum) == 1, "one consumer group per operation"
        reads.setdefault(group_enum[0], set()).add(resolve(op["channel"]["$ref"])["address"])
    assert set(reads) == set(GROUPS) == set(READS)
    assert reads == READS
    assert [g for g in GROUPS if "accidents.reported" in reads[g]] == ["intake"], "only the intake reads raw reports"
    for group in GROUPS:
        if group != "intake":
            assert "intake.incident-facts" in reads[group], f"group {group} must read intake.incident-facts"


def test_the_documented_reads_are_what_the_workers_subscribe_to() -> None:
    """READS against the code: each pipeline handler's extra topics (``topics()``) plus the incident facts."""
    import inspect

    from connectors.sql.claims import ClaimsHandler
    from connectors.sql.dispatch import DispatchHandler
    from connectors.sql.fund import FundHandler
    from connectors.sql.hospitals import HospitalsHandler

    worker = (REPO / "streams" / "worker.py").read_text("utf-8")
    for needle in ("T.REPORTS", "T.BY_AREA", "T.INCIDENTS", "T.FACTS"):
        assert needle in worker, f"streams/worker.py no longer subscribes to {needle}"
    for group, cls in {"dispatch": DispatchHandler, "rescue-fund": FundHandler, "claims": ClaimsHandler,
                       "hospitals": HospitalsHandler}.items():
        declared_topics = set(re.findall(r'"([a-z.]+)":\s*self\.', inspect.getsource(cls.topics)))
        assert READS[group] == {"intake.incident-facts"} | declared_topics, group


def test_internal_topics_are_marked_internal() -> None:
    for topic in ("intake.reports-by-area", "intake.incident-facts"):
        assert {t["name"] for t in channels_by_topic()[topic]["tags"]} == {"internal"}, topic


def test_every_operation_refers_to_a_channel_and_its_own_messages() -> None:
    doc = asyncapi()
    for name, op in doc["operations"].items():
        assert op["action"] in ("send", "receive"), name
        channel_ref = op["channel"]["$ref"]
        channel = resolve(channel_ref)
        for m in op.get("messages", []):
            assert m["$ref"].startswith(channel_ref + "/messages/"), f"{name}: {m['$ref']} is not a message of its channel"
            assert deref(m)["payload"], name
    sent = {resolve(op["channel"]["$ref"])["address"] for op in doc["operations"].values() if op["action"] == "send"}
    assert sent == set(PARTITIONS) | {"claims.insurer.{insurer}"}, f"topics nobody sends to: {sorted(set(PARTITIONS) - sent)}"
    assert doc["asyncapi"].startswith("3.0")


def test_dead_letters_carry_the_contract_headers() -> None:
    headers = deref(channel_message("accidents.rejected")["headers"])
    assert set(headers["required"]) == {"error", "source-topic", "source-partition", "source-offset"}
    check = checker("DeadLetterHeaders")
    assert not check({"error": "missing field 'location'", "source-topic": "accidents.reported",
                      "source-partition": "4", "source-offset": "1234"})
    assert check({"error": "x", "source-topic": "accidents.reported", "source-partition": "four", "source-offset": "1"})
    assert check({"source-topic": "accidents.reported", "source-partition": "0", "source-offset": "1"})


# ------------------------------------------------------------------------------- accident-report/1
def test_accident_report_enums_equal_the_parsers() -> None:
    props = schemas()["AccidentReport"]["properties"]
    assert props["source"]["enum"] == list(SOURCES)
    assert props["hazards"]["items"]["enum"] == list(HAZARDS)
    assert props["parties"]["maxItems"] == MAX_PARTIES
    assert props["schema"]["const"] == "accident-report/1"
    incident = schemas()["Incident"]["properties"]
    assert incident["hazards"]["items"]["enum"] == list(HAZARDS)
    assert incident["sources"]["items"]["enum"] == list(SOURCES)


def _required_by_parser(doc: dict[str, Any], path: tuple[str, ...] = ()) -> set[str]:
    """The keys whose removal makes ``parse_report`` reject the contract example."""
    target = doc
    for p in path:
        target = target[p]
    required = set()
    for key in list(target):
        trial = copy.deepcopy(doc)
        node = trial
        for p in path:
            node = node[p]
        del node[key]
        try:
            parse_report(json.dumps(trial).encode())
        except InvalidReport:
            required.add(key)
    return required


def test_accident_report_required_fields_equal_what_the_parser_requires() -> None:
    s = schemas()
    assert set(s["AccidentReport"]["required"]) == _required_by_parser(example())
    assert set(s["Location"]["required"]) == _required_by_parser(example(), ("location",))
    assert set(s["Reporter"].get("required", [])) == _required_by_parser(example(), ("reporter",))
    assert not s["Party"].get("required"), "the parser requires no party field"
    for key in list(example()["parties"][0]):
        trial = example()
        del trial["parties"][0][key]
        parse_report(json.dumps(trial).encode())  # still valid


def test_party_schema_names_every_party_field_including_the_extensions() -> None:
    props = set(schemas()["Party"]["properties"])
    assert props == {f.name for f in fields(Party)}
    assert {"licensed", "drunk", "vehicle_stolen"} <= props


def test_contract_example_is_valid_under_the_parser_and_the_schema() -> None:
    report = parse_report(CONTRACT_EXAMPLE.encode("utf-8"))
    assert report.report_id == "122-20261122-000123"
    assert schema_errors("AccidentReport", example()) == []
    assert schema_errors("AccidentReport", report.to_json()) == [], "the stored form of a report is valid too"
    embedded = deref(channel_message("accidents.reported"))["examples"][0]["payload"]
    assert embedded == example(), "the AsyncAPI example is the contract's example"


def _variant(**changes: Any) -> dict[str, Any]:
    doc = example()
    for dotted, value in changes.items():
        node = doc
        *parents, last = dotted.split("__")
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if value is _DELETE:
            del node[int(last) if isinstance(node, list) else last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return doc


_DELETE = object()

VALID_VARIANTS = {
    "minimal": {k: _DELETE for k in ("hazards", "reporter", "parties", "description")} | {"location__address": _DELETE},
    "optional_fields_null": {"hazards": None, "reporter": None, "parties": None, "description": None,
                             "location__address": None},
    "uninsured_vehicle": {"parties__0__insurer": None, "parties__0__ci_policy": None},
    "party_extensions": {"parties__0__licensed": False, "parties__0__drunk": True, "parties__0__vehicle_stolen": False},
    "utc_timestamp": {"reported_at": "2026-11-22T00:15:03Z"},
    "integer_degrees": {"location__lat": 36, "location__lon": 116},
    "unknown_fields_are_kept": {"x_vendor": {"camera": 7}},
    "every_source_and_hazard": {"source": "video", "hazards": list(HAZARDS)},
    "unknown_insurer_code": {"parties__0__insurer": "NEWCO"},
}


@pytest.mark.parametrize("name", sorted(VALID_VARIANTS))
def test_valid_variants_pass_the_parser_and_the_schema(name: str) -> None:
    doc = _variant(**VALID_VARIANTS[name])
    parse_report(json.dumps(doc, ensure_ascii=False).encode())
    assert schema_errors("AccidentReport", doc) == []


# Bytes parse_report rejects. The JSON ones must fail the schema as well.
HOSTILE: dict[str, bytes | dict[str, Any]] = {
    "empty": b"",
    "not_utf8": b"\xff\xfe{}",
    "not_json": b"{not json",
    "json_array": b"[]",
    "json_null": b"null",
    "json_string": b'"accident"',
    "json_number": b"42",
    "no_schema": _variant(schema=_DELETE),
    "future_schema": _variant(schema="accident-report/2"),
    "schema_not_a_string": _variant(schema=1),
    "empty_report_id": _variant(report_id=""),
    "blank_report_id": _variant(report_id="   "),
    "long_report_id": _variant(report_id="R" * 101),
    "numeric_report_id": _variant(report_id=123),
    "unknown_source": _variant(source="119"),
    "numeric_source": _variant(source=122),
    "naive_timestamp": _variant(reported_at="2026-11-22T08:15:03"),
    "words_for_timestamp": _variant(reported_at="this morning"),
    "numeric_timestamp": _variant(reported_at=1795300503),
    "impossible_date": _variant(reported_at="2026-02-30T08:15:03+08:00"),
    "location_null": _variant(location=None),
    "location_text": _variant(location="聊临路"),
    "lat_missing": _variant(location__lat=_DELETE),
    "lat_out_of_range": _variant(location__lat=91.0),
    "lon_out_of_range": _variant(location__lon=-180.5),
    "lat_text": _variant(location__lat="36.45"),
    "lat_boolean": _variant(location__lat=True),
    "long_address": _variant(location__address="路" * 501),
    "negative_injured": _variant(injured=-1),
    "injured_text": _variant(injured="2"),
    "injured_boolean": _variant(injured=True),
    "injured_fraction": _variant(injured=1.5),
    "implausible_injured": _variant(injured=10_001),
    "fatalities_null": _variant(fatalities=None),
    "movable_text": _variant(vehicles_movable="no"),
    "movable_number": _variant(vehicles_movable=0),
    "hit_and_run_null": _variant(hit_and_run=None),
    "unknown_hazard": _variant(hazards=["earthquake"]),
    "hazards_not_a_list": _variant(hazards="trapped"),
    "hazard_not_a_string": _variant(hazards=[1]),
    "reporter_text": _variant(reporter="王某"),
    "reporter_long_phone": _variant(reporter__phone="1" * 41),
    "parties_object": _variant(parties={"name": "张某"}),
    "party_text": _variant(parties=["张某"]),
    "too_many_parties": _variant(parties=[{"name": "x"}] * (MAX_PARTIES + 1)),
    "long_plate": _variant(parties__0__plate="鲁" * 21),
    "numeric_insurer": _variant(parties__0__insurer=123),
    "licensed_text": _variant(parties__0__licensed="yes"),
    "long_description": _variant(description="事" * 4001),
    "description_list": _variant(description=["事故"]),
}

# What parse_report rejects that JSON Schema cannot: a JSON integer written with a fraction part
# (`2.0` is an integer to JSON Schema, a float to Python), and non-JSON numbers that Python's parser
# tolerates. Documented here so that the gap is known, not hidden.
BEYOND_THE_SCHEMA: dict[str, bytes] = {
    "injured_written_as_2.0": CONTRACT_EXAMPLE.replace('"injured": 2', '"injured": 2.0').encode(),
    "lat_nan": CONTRACT_EXAMPLE.replace('"lat": 36.4567', '"lat": NaN').encode(),
}


def _as_bytes(v: bytes | dict[str, Any]) -> bytes:
    return v if isinstance(v, bytes) else json.dumps(v, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_payload_is_rejected_by_the_parser_and_the_schema(name: str) -> None:
    raw = _as_bytes(HOSTILE[name])
    with pytest.raises(InvalidReport):
        parse_report(raw)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return  # not JSON at all: below what a JSON Schema describes (contentType application/json)
    assert schema_errors("AccidentReport", doc), f"the schema accepts {name}, which parse_report rejects"


@pytest.mark.parametrize("name", sorted(BEYOND_THE_SCHEMA))
def test_parser_rejects_what_the_schema_cannot_express(name: str) -> None:
    with pytest.raises(InvalidReport):
        parse_report(BEYOND_THE_SCHEMA[name])


# ------------------------------------------------------------------------------- outbound enums vs code
def _source_files() -> Iterator[Path]:
    for pkg in ("accidentlink", "dispatch", "claims", "fund", "hospitals", "web", "connectors", "streams"):
        yield from (REPO / pkg).rglob("*.py")


def _incident_changes_in_code() -> set[str]:
    found: set[str] = set()
    for path in _source_files():
        text = path.read_text("utf-8")
        found |= set(re.findall(r'incident_changed\(\s*[\w.]+,\s*"([a-z_]+)"', text))
        found |= set(re.findall(r'\b_note\(\s*\w+,\s*"([a-z_]+)"', text))
    merge = (REPO / "accidentlink" / "intake_services.py").read_text("utf-8")  # the change is a variable there
    found |= {c for c in ("created", "report_merged") if f'"{c}"' in merge}
    return found


def test_incident_change_values_equal_those_the_code_emits() -> None:
    documented = set(schemas()["IncidentEvent"]["properties"]["change"]["enum"])
    emitted = _incident_changes_in_code()
    contract = {"created", "report_merged", "unit_assigned", "unit_status", "hospital_assigned", "closed"}
    assert contract <= emitted, f"contract changes the code never emits: {sorted(contract - emitted)}"
    assert documented == emitted, (f"undocumented: {sorted(emitted - documented)}; "
                                   f"documented but never emitted: {sorted(documented - emitted)}")


def test_unit_status_and_service_values_equal_dispatchs() -> None:
    from dispatch.lifecycle import STATUSES
    from dispatch.resources import SERVICES

    assert schemas()["UnitStatus"]["enum"] == list(STATUSES)
    assert schemas()["Service"]["enum"] == list(SERVICES)


def test_fund_case_changes_and_states_equal_the_fund_domains() -> None:
    from fund.cases import CaseKind, CaseState, FundEvent

    s = schemas()
    events = {t.__name__ for t in typing.get_args(FundEvent)} | {"Overdue", "CalendarNotCovered"}  # the timers' flags
    assert set(s["FundCaseEvent"]["properties"]["change"]["enum"]) == events
    assert set(s["FundCase"]["properties"]["status"]["enum"]) == {c.value for c in CaseState}
    assert set(s["FundCase"]["properties"]["kind"]["enum"]) == {k.value for k in CaseKind}


def test_claim_changes_and_states_equal_the_claims_services() -> None:
    from claims.services import TRANSITIONS

    text = "".join((REPO / "claims" / f).read_text("utf-8") for f in ("services.py", "quick_service.py",
                                                                         "knock_service.py"))
    literal = set(re.findall(r'\bpublish\(\s*uow,\s*c,\s*"([a-z_]+)"', text))
    steps = {to for _, to in TRANSITIONS.values()} | {"refused"}  # decide(accepted=false) ends refused
    s = schemas()
    assert set(s["ClaimEvent"]["properties"]["change"]["enum"]) == literal | steps
    assert set(s["Claim"]["properties"]["status"]["enum"]) == steps | {"opened", "awaiting_routing", "routed"}


def _is_integer(node: Any) -> bool:
    node = deref(node)
    if "allOf" in node:
        return any(_is_integer(sub) for sub in node["allOf"])
    types = node.get("type")
    types = [types] if isinstance(types, str) else (types or [])
    return "integer" in types and set(types) <= {"integer", "null"}


def _is_date_time(node: Any) -> bool:
    node = deref(node)
    return node.get("format") == "date-time" and set(node["type"] if isinstance(node["type"], list)
                                                     else [node["type"]]) <= {"string", "null"}


def _properties(node: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    """(path, property name, schema) of every property anywhere in the schemas."""
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            yield f"{path}.{name}", name, prop
        for k, v in node.items():
            yield from _properties(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _properties(v, f"{path}[{i}]")


def test_money_fields_are_integer_fen_and_times_carry_offsets() -> None:
    seen_fen = seen_at = 0
    for path, name, prop in _properties(schemas(), "schemas"):
        if name.endswith("_fen"):
            seen_fen += 1
            assert _is_integer(prop), f"{path}: money is an integer number of fen"
        if name.endswith("_at") or name == "at":
            seen_at += 1
            assert _is_date_time(prop), f"{path}: a time is a date-time with an offset"
    assert seen_fen > 10 and seen_at > 20
    assert not is_date_time("2026-11-22T08:15:03") and is_date_time("2026-11-22T08:15:03+08:00")


# ------------------------------------------------------------------------------- what the code writes
def _report(report_id: str, source: str, at: datetime, lat: float, lon: float, **kw: Any) -> dict[str, Any]:
    from accidentlink.clock import iso

    doc = {"schema": "accident-report/1", "report_id": report_id, "source": source, "reported_at": iso(at),
           "location": {"lat": lat, "lon": lon, "address": "聊临路梁水镇段"}, "injured": 0, "fatalities": 0,
           "vehicles_movable": True, "hit_and_run": False, "hazards": [], "reporter": {"name": "王某",
           "phone": "+8613800000000"}, "parties": [], "description": "测试"}
    doc.update(kw)
    return doc


def _party(plate: str, insurer: str | None, phone: str) -> dict[str, Any]:
    return {"name": "张某", "phone": phone, "id_number": "371502199001011234", "plate": plate, "vehicle_type": "car",
            "insurer": insurer, "ci_policy": f"POL-{plate}" if insurer else None, "licensed": True}


class _Bus:
    """Kafka in miniature for the in-process run: every store's outbox, delivered to the consumer groups that
    read each topic (as ``streams/worker.py`` wires them), until nothing new is written."""

    def __init__(self, c: Any, pipes: dict[str, Any], intake_closures: Callable[[list[Any]], None]) -> None:
        from streams import topics as T

        self.c, self.pipes = c, pipes
        self.last: dict[str, int] = {}
        self.offsets: dict[str, int] = {}
        self.written: list[dict[str, Any]] = []
        facts = [pipes[g].process for g in GROUPS if g != "intake"]
        self.readers: dict[str, list[Callable[[list[Any]], Any]]] = {
            T.FACTS: facts,
            T.INCIDENTS: [intake_closures, *(pipes[g].handler.topics()[T.INCIDENTS] for g in GROUPS
                                            if g != "intake" and T.INCIDENTS in pipes[g].handler.topics())],
            T.BILLS: [pipes[g].handler.topics()[T.BILLS] for g in GROUPS
                      if g != "intake" and T.BILLS in pipes[g].handler.topics()],
        }

    def raw(self, topic: str, key: bytes | None, value: bytes | None, headers: Any = ()) -> Any:
        from accidentlink.pipeline import RawMessage

        offset = self.offsets[topic] = self.offsets.get(topic, -1) + 1
        return RawMessage(topic, 0, offset, key, value, tuple(headers))

    def settle(self) -> None:
        from sqlalchemy import select

        from connectors.sql.models import OutboxMessage
        from connectors.sql.stores import TABLES

        while True:
            new: list[Any] = []
            for context, tables in TABLES.items():
                if "outbox" not in tables:
                    continue
                with self.c.store(context).read() as s:
                    rows = s.scalars(select(OutboxMessage).where(OutboxMessage.id > self.last.get(context, 0))
                                     .order_by(OutboxMessage.id)).all()
                    for m in rows:
                        self.last[context] = m.id
                        self.written.append({"topic": m.topic, "key": m.key, "value": m.value, "headers": m.headers})
                        new.append(self.raw(m.topic, m.key, m.value))
            if not new:
                return
            for topic, readers in self.readers.items():
                batch = [m for m in new if m.topic == topic]
                if batch:
                    for read in readers:
                        read(batch)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Run the intake, the pipelines and the HTTP routes in-process (a SQLite store per context, no broker)
    through a day of crashes, deliver what each consumer group reads from the stores' outboxes, and return
    every message they wrote for Kafka (the outboxes, and the intake's re-keyed reports)."""
    import warnings

    from sqlalchemy import select

    from accidentlink.bootstrap import Container
    from accidentlink.clock import FixedClock, iso
    from accidentlink.demo import load_resources_into_db
    from accidentlink.intake import Rekeyer
    from accidentlink.pipeline import RawMessage
    from accidentlink.settings import Settings
    from connectors.geo import GazetteerGeocoder
    from connectors.sms import HeldSms
    from connectors.sql.stores import upgrade_all
    from streams import topics as T
    from web.app import create_app
    from web.auth import create_token

    work = tmp_path_factory.mktemp("contract-run")
    url = f"sqlite:///{work / 'run.db'}"  # a file per context beside it: run.intake.db, run.dispatch.db, ...
    upgrade_all(url, work)
    clock = FixedClock()
    settings = Settings(var_dir=work, database_url=url, kafka_bootstrap="127.0.0.1:1", twilio_account_sid=None,
                        twilio_auth_token=None, twilio_from=None)
    c = Container(settings=settings, clock=clock, sms=HeldSms())
    load_resources_into_db(c)
    pipes = {g: c.pipeline(g) for g in GROUPS}
    bus = _Bus(c, pipes, c.intake_handler().on_incident_changes)
    t0 = clock.now()
    reports = [
        # 聊临路梁水镇段: two cars, one person trapped; one vehicle insured, one not; then the 120 call of the same crash
        _report("122-T-0001", "122", t0, 36.3923, 115.8571, injured=2, vehicles_movable=False, hazards=["trapped"],
                parties=[_party("鲁P12345", "PICC", "+8613900000001"), _party("鲁P67890", None, "+8613900000002")]),
        _report("120-T-0001", "120", t0, 36.3925, 115.8574, injured=2, vehicles_movable=False, hazards=["trapped"]),
        # 聊堂路道口铺: a pedestrian hit, the driver fled
        _report("122-T-0002", "122", t0, 36.4718, 116.1010, injured=1, hit_and_run=True),
        # a minor two-car crash, nobody hurt, one insurer code unknown
        _report("12123-T-0003", "12123", t0, 36.4560, 115.9850,
                parties=[_party("鲁P11111", "PINGAN", "+8613900000003"), _party("鲁P22222", "NEWCO", "+8613900000004")]),
    ]
    msgs = [RawMessage(T.REPORTS, 0, i, r["report_id"].encode(), json.dumps(r, ensure_ascii=False).encode())
            for i, r in enumerate(reports)]
    msgs.append(RawMessage(T.REPORTS, 1, 7, b"bad-1", b'{"schema": "accident-report/1"', (("trace", b"x"),)))

    # the intake: re-key by area (dead-lettering the bad one), then merge into incidents
    by_area: list[RawMessage] = []

    def send(topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        bus.written.append({"topic": topic, "key": key, "value": value, "headers": headers})
        by_area.append(bus.raw(topic, key, value, headers))

    Rekeyer(pipes["intake"], send, lambda: None, T.BY_AREA, GazetteerGeocoder().geocode).process(msgs)
    pipes["intake"].process(by_area)
    bus.settle()  # incident facts to the pipelines, dispatch's pre-arrival notices to hospitals

    def token(role: str, name: str, **kw: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + create_token(c.store("web"), role, name, clock.now(), **kw)[0]}

    dispatcher = token("dispatcher", "调度员甲")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

        client = TestClient(create_app(c))

    def ok(r: Any) -> Any:
        assert r.status_code < 300, f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text}"
        bus.settle()
        return r.json()

    with client:
        incidents = ok(client.get("/api/incidents", headers=dispatcher))
        crash = next(i for i in incidents if "122-T-0001" in i["report_ids"])
        detail = ok(client.get(f"/api/incidents/{crash['incident_id']}", headers=dispatcher))
        ambulance = next(o for o in detail["orders"] if o["service"] == "120")
        for status in ("acknowledged", "en_route", "on_scene", "transporting"):
            clock.advance(minutes=3)
            ok(client.post(f"/api/units/{ambulance['unit_id']}/status", json={"status": status}, headers=dispatcher))
        hospital = token("hospital", "急诊科", hospital_id=detail["hospital_id"])
        base = f"/api/hospitals/{detail['hospital_id']}/admissions/{detail['admission_id']}"
        ok(client.post(base + "/confirm", headers=hospital))
        ok(client.post(base + "/bills", json={"amount_fen": 2_500_000, "rescue_started_at": iso(clock.now())},
                       headers=hospital))  # settle(): the bill reaches the fund and claims

        admins = [token("fund_admin", n) for n in ("审核员甲", "复核员乙", "出纳丙")]
        for case in ok(client.get("/api/fund/cases", headers=admins[0])):
            if case["status"] == "applied" and case["eligible_fen"]:
                body = {"amount_fen": case["eligible_fen"], "note": "符合垫付条件"}
                first = ok(client.post(f"/api/fund/cases/{case['case_id']}/approve", json=body, headers=admins[0]))
                if first.get("awaiting_second_approval"):
                    ok(client.post(f"/api/fund/cases/{case['case_id']}/approve", json=body, headers=admins[1]))
                ok(client.post(f"/api/fund/cases/{case['case_id']}/pay", json={}, headers=admins[2]))

        picc = token("insurer", "人保理赔", insurer_id="PICC")
        for claim in ok(client.get("/api/claims", headers=picc)):
            for action, body in [("request-documents", {}), ("documents-complete", {}), ("assess", {"amount_fen": 120_000}),
                                 ("decide", {"accepted": True}), ("agree", {}), ("pay", {})]:
                ok(client.post(f"/api/claims/{claim['claim_id']}/{action}", json=body, headers=picc))
        pingan = token("insurer", "平安理赔", insurer_id="PINGAN")
        for claim in ok(client.get("/api/claims", headers=pingan)):
            ok(client.post(f"/api/claims/{claim['claim_id']}/request-documents", json={}, headers=pingan))
            ok(client.post(f"/api/claims/{claim['claim_id']}/documents-complete", json={}, headers=pingan))
            ok(client.post(f"/api/claims/{claim['claim_id']}/assess", json={"amount_fen": 50_000}, headers=pingan))
            ok(client.post(f"/api/claims/{claim['claim_id']}/decide", json={"accepted": False, "reasons": "非保险责任"},
                           headers=pingan))
        with c.store("claims").read() as s:
            from connectors.sql.models import ClaimRow

            unrouted = [cl.claim_id for cl in s.scalars(select(ClaimRow).where(ClaimRow.routed.is_(False)))]
        for claim_id in unrouted:
            ok(client.post(f"/api/claims/{claim_id}/route", json={"insurer": "CPIC"}, headers=dispatcher))

        clock.advance(minutes=5)
        pipes["dispatch"].handler.escalate()  # units that never acknowledged
        bus.settle()
        fled = next(i for i in incidents if "122-T-0002" in i["report_ids"])
        ok(client.post(f"/api/incidents/{fled['incident_id']}/reassign", json={"service": "122", "reason": "车辆故障"},
                       headers=dispatcher))
        for inc in incidents:
            ok(client.post(f"/api/incidents/{inc['incident_id']}/close",
                           json={"reason": "现场处理完毕", "police_classification": "injury", "confirmed": True},
                           headers=dispatcher))
        clock.advance(days=40)
        pipes["rescue-fund"].handler.flag_overdue()
        pipes["claims"].handler.flag_overdue()
        bus.settle()

    c.close()
    return bus.written


def _header_items(headers: Any) -> list[tuple[str, bytes]]:
    """Outbox headers as (name, bytes): stored as [name, hex] pairs."""
    items = []
    for name, value in headers or []:
        items.append((name, bytes.fromhex(value) if isinstance(value, str) else bytes(value)))
    return items


def test_the_run_wrote_every_outbound_topic(written: list[dict[str, Any]]) -> None:
    topics = {m["topic"] for m in written}
    produced_somewhere = set(PARTITIONS) - {"accidents.reported", "claims.quick"}  # inbound; quick cases not run here
    assert produced_somewhere <= topics, f"not exercised: {sorted(produced_somewhere - topics)}"
    changes = {json.loads(m["value"])["change"] for m in written if m["topic"] == "incidents"}
    contract = {"created", "report_merged", "unit_assigned", "unit_status", "hospital_assigned", "closed"}
    assert contract <= changes, f"incident changes not seen: {sorted(contract - changes)}"


def test_every_written_message_validates_against_its_channel(written: list[dict[str, Any]]) -> None:
    failures = []
    for m in written:
        topic = m["topic"]
        from claims.services import known_insurers
        from streams.topics import declared

        assert topic in declared(known_insurers()), f"the code writes to {topic}, which streams/topics.py does not declare"
        if topic.startswith("claims.insurer."):
            topic = "claims.events"  # the same messages as claims.events, for one insurer
        assert m["key"] is None or m["key"].decode("utf-8")
        if topic == "accidents.rejected":
            headers = {k: v.decode("utf-8") for k, v in _header_items(m["headers"])}
            errs = schema_errors("DeadLetterHeaders", headers)
            if headers.get("source-topic") != "accidents.reported":
                errs.append(f"source-topic is {headers.get('source-topic')!r}")
            if m["value"] != b'{"schema": "accident-report/1"':
                errs.append("the dead letter's value is not the original bytes")
            if headers.get("trace") != "x":
                errs.append("the original headers were not kept")
        else:
            value = json.loads(m["value"].decode("utf-8"))
            errs = schema_errors(payload_schema_name(topic), value)
            field = key_field(topic)
            if field and m["key"].decode("utf-8") != value.get(field):
                errs.append(f"key {m['key']!r} is not the value's {field}")
            if topic == "intake.reports-by-area":
                from accidentlink.areas import area_of

                area = area_of(value["location"]["lat"], value["location"]["lon"])
                if m["key"].decode("utf-8") != area:
                    errs.append(f"key {m['key']!r} is not the report's area {area}")
                if not re.fullmatch(channel_message(topic)["bindings"]["kafka"]["key"]["pattern"], area):
                    errs.append(f"the documented key pattern does not match {area}")
        if errs:
            failures.append(f"{topic} {m['value'][:120]!r}: {errs[:5]}")
    assert not failures, "\n".join(failures[:10])


# ------------------------------------------------------------------------------- deployment
@lru_cache(maxsize=1)
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_PATH.read_text("utf-8"))


def _command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command", [])
    return cmd.split() if isinstance(cmd, str) else list(cmd)


def test_compose_runs_one_worker_service_per_consumer_group() -> None:
    services = compose()["services"]
    workers = {name: s for name, s in services.items() if _command(s)[:1] == ["worker"]}
    assert {_command(s)[1] for s in workers.values()} == set(GROUPS)
    for group in GROUPS:
        service = services[f"worker-{group}"]
        assert _command(service) == ["worker", group]
        assert "replicas" in service.get("deploy", {}), f"worker-{group}: deploy.replicas is settable"


def test_compose_has_the_broker_the_database_the_migration_and_the_web_service() -> None:
    services = compose()["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:3.9")
    kafka_env = services["kafka"]["environment"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller", "KRaft, no ZooKeeper"
    assert "kafka:9092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["postgres"].get("volumes") and services["postgres"].get("healthcheck")
    assert _command(services["migrate"]) == ["migrate"]
    assert _command(services["web"]) == ["web"]
    web_env = services["web"]["environment"]
    assert web_env["HTTP_HOST"] == "0.0.0.0"
    assert any(str(p).endswith(":8000") for p in services["web"]["ports"])
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])


def test_compose_gives_every_app_service_the_database_broker_and_sms_settings() -> None:
    services = compose()["services"]
    app = [n for n, s in services.items() if s.get("image", "").startswith("${ACCIDENTLINK_IMAGE")]
    assert {"migrate", "web", *(f"worker-{g}" for g in GROUPS)} <= set(app)
    for name in app:
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://"), name
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092", name
        assert {"TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"} <= set(env), name


def test_compose_creates_the_topics_before_any_worker_starts() -> None:
    services = compose()["services"]
    assert "create_topics.py" in " ".join(services["topics"]["entrypoint"])
    assert (REPO / "deploy" / "kafka" / "create_topics.py").exists()
    for name in ("web", *(f"worker-{g}" for g in GROUPS)):
        deps = services[name]["depends_on"]
        assert deps["topics"]["condition"] == "service_completed_successfully", name
        assert deps["migrate"]["condition"] == "service_completed_successfully", name


def test_dockerfile_installs_the_project_on_python_311_slim() -> None:
    text = (REPO / "deploy" / "Dockerfile").read_text("utf-8")
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert "pip install" in text
    assert re.search(r'^ENTRYPOINT \["accidentlink"\]', text, re.M)
    assert "deploy/kafka/create_topics.py" in text
