"""Liability for a minor two-vehicle accident from a region's standard-situation list.

The degrees of liability are national (程序规定 60 [O]): full, primary, equal, secondary, none.
The lists of standard situations ("one party has one of these, the other none: the first is fully
liable; both have one: equal") are local rules [S], kept as data in ``rules/liability_<region>.json``
with ``liability_default.json`` for a city without its own list. Fleeing the scene or faking
evidence means full liability everywhere (程序规定 61 [O]). Whatever the table cannot settle
(no listed situation, an unknown code, a dispute, more than two parties) goes to the police, who
decide online (程序规定 20 [O]).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from claims.reasons import Reason

FULL, PRIMARY, EQUAL, SECONDARY, NONE = "full", "primary", "equal", "secondary", "none"
DEGREES = (FULL, PRIMARY, EQUAL, SECONDARY, NONE)  # 程序规定 60 [O]
DEFAULT_REGION = "default"

# National, not local: 程序规定 61 [O].
FLED = "fled"
FAKED_EVIDENCE = "faked_evidence"
NATIONAL_FULL_LIABILITY = {
    FLED: ("发生事故后逃逸的", "fled the scene after the accident", "程序规定 61 [O]"),
    FAKED_EVIDENCE: ("故意破坏、伪造现场、毁灭证据的", "deliberately damaged or faked the scene or destroyed evidence", "程序规定 61 [O]"),
}


class InvalidRuleTable(ValueError):
    """A shipped liability table is malformed; raised at load, never mid-case."""


@dataclass(frozen=True)
class Situation:
    code: str
    zh: str
    en: str
    category: str
    source: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class LiabilityTable:
    region: str
    names: tuple[str, ...]
    source: str
    situations: tuple[Situation, ...]

    def lookup(self, code: str) -> Situation | None:
        key = code.strip().lower()
        for s in self.situations:
            if key == s.code or key in s.aliases:
                return s
        return None

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(s.code for s in self.situations)


@dataclass(frozen=True)
class LiabilityOutcome:
    shares: dict[str, str]
    settled: bool
    needs_police: bool
    reason: Reason
    region: str = DEFAULT_REGION
    situations: dict[str, tuple[str, ...]] = field(default_factory=dict)  # party -> canonical codes applied


def _table_from(doc: dict, filename: str) -> LiabilityTable:
    def need(obj: dict, key: str, where: str) -> object:
        if not obj.get(key):
            raise InvalidRuleTable(f"{filename}: {where} has no '{key}'")
        return obj[key]

    region = str(need(doc, "region", "the table")).strip().lower()
    need(doc, "source", "the table")
    seen: set[str] = set(NATIONAL_FULL_LIABILITY)
    situations = []
    for i, s in enumerate(doc.get("situations") or []):
        where = f"situations[{i}]"
        for key in ("code", "zh", "en", "category", "source"):
            need(s, key, where)
        keys = [s["code"], *s.get("aliases", [])]
        for k in keys:
            if k != k.strip().lower() or k in seen:
                raise InvalidRuleTable(f"{filename}: {where} code {k!r} is duplicated or not lower-case")
            seen.add(k)
        situations.append(Situation(s["code"], s["zh"], s["en"], s["category"], s["source"], tuple(s.get("aliases", []))))
    if not situations:
        raise InvalidRuleTable(f"{filename}: no situations")
    names = tuple(str(n).strip().lower() for n in doc.get("names", []))
    return LiabilityTable(region, names, doc["source"], tuple(situations))


@lru_cache(maxsize=1)
def load_liability_tables() -> dict[str, LiabilityTable]:
    """Every shipped table, validated (call at start: a bad file fails the boot, not a case)."""
    tables: dict[str, LiabilityTable] = {}
    for entry in sorted(resources.files("claims").joinpath("rules").iterdir(), key=lambda e: e.name):
        if entry.name.startswith("liability_") and entry.name.endswith(".json"):
            table = _table_from(json.loads(entry.read_text("utf-8")), entry.name)
            if table.region in tables:
                raise InvalidRuleTable(f"{entry.name}: region {table.region!r} defined twice")
            tables[table.region] = table
    if DEFAULT_REGION not in tables:
        raise InvalidRuleTable("no liability_default.json")
    return tables


def liability_table(region: str) -> LiabilityTable:
    """The region's table by key (``liaocheng``) or name (``聊城市``); the default table otherwise."""
    key = (region or "").strip().lower()
    tables = load_liability_tables()
    if key in tables:
        return tables[key]
    for t in tables.values():
        if key in t.names:
            return t
    return tables[DEFAULT_REGION]


def _r(code: str, zh: str, en: str, source: str) -> Reason:
    return Reason(code=code, zh=zh, en=en, source=source)


def _police(table: LiabilityTable, code: str, zh: str, en: str, source: str = "程序规定 20 [O]") -> LiabilityOutcome:
    return LiabilityOutcome({}, settled=False, needs_police=True, reason=_r(code, zh, en, source), region=table.region)


def determine_liability(
    region: str,
    situations_by_party: Mapping[str, Iterable[str]],
    disputed: bool = False,
) -> LiabilityOutcome:
    """Liability from the local standard-situation list: 程序规定 60-61 [O]; lists local [S]; else police online, 程序规定 20 [O]."""
    table = liability_table(region)
    parties = {str(p): {c.strip().lower() for c in codes if c and c.strip()} for p, codes in situations_by_party.items()}
    if disputed:
        return _police(table, "disputed", "当事人对事实或责任有争议，请交警在线定责",
                       "the parties dispute the facts or liability: the police decide online")
    if len(parties) != 2:
        return _police(table, "not_two_parties", f"当事方为{len(parties)}方，快处责任表只适用两方事故，请交警在线定责",
                       f"{len(parties)} parties: the standard list covers two-party accidents only; the police decide online")

    # 程序规定 61 [O]: fleeing or faking evidence is full liability, in every region.
    national = {p: sorted(c for c in codes if c in NATIONAL_FULL_LIABILITY) for p, codes in parties.items()}
    culprits = [p for p, codes in national.items() if codes]
    if culprits:
        (a, b) = parties
        if len(culprits) == 1:
            other = b if culprits[0] == a else a
            if not parties[other]:  # any claimed fault of the other side, listed or not, is for the police to weigh
                zh, en, src = NATIONAL_FULL_LIABILITY[national[culprits[0]][0]]
                # the share follows from the law; the case itself still belongs to the police (程序规定 13 [O])
                return LiabilityOutcome(
                    {culprits[0]: FULL, other: NONE}, settled=True, needs_police=True,
                    reason=_r("national_full_liability", f"{culprits[0]} {zh}，负全部责任",
                              f"{culprits[0]} {en}: full liability", src),
                    region=table.region, situations={culprits[0]: tuple(national[culprits[0]]), other: ()})
        return _police(table, "national_rule_both_at_fault",
                       "一方逃逸或伪造现场，但另一方也有过错，责任由交警认定",
                       "one party fled or faked evidence but the other was also at fault: the police decide",
                       "程序规定 61 [O]")

    unknown = sorted(c for codes in parties.values() for c in codes if table.lookup(c) is None)
    if unknown:
        return _police(table, "unknown_situation", f"责任表（{table.region}）中没有情形 {', '.join(unknown)}，请交警在线定责",
                       f"situation(s) {', '.join(unknown)} not in the {table.region} table: the police decide online")
    canonical = {p: tuple(sorted({table.lookup(c).code for c in codes})) for p, codes in parties.items()}  # type: ignore[union-attr]
    (a, b) = parties
    if canonical[a] and canonical[b]:
        return LiabilityOutcome({a: EQUAL, b: EQUAL}, settled=True, needs_police=False,
                                reason=_r("both_listed", "双方均有列明情形，负同等责任",
                                          "both parties have a listed situation: equal liability", table.source),
                                region=table.region, situations=canonical)
    if canonical[a] or canonical[b]:
        at_fault, other = (a, b) if canonical[a] else (b, a)
        s = table.lookup(canonical[at_fault][0])
        assert s is not None
        return LiabilityOutcome({at_fault: FULL, other: NONE}, settled=True, needs_police=False,
                                reason=_r("one_listed", f"{at_fault} {s.zh}，对方无列明情形，负全部责任",
                                          f"{at_fault}: {s.en}; the other party has none: full liability", s.source),
                                region=table.region, situations=canonical)
    return _police(table, "no_listed_situation", "双方均无列明情形，请交警在线定责",
                   "neither party has a listed situation: the police decide online")
