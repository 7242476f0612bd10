"""Every reason the rescue fund's routing (``fund.payer``) can give for a split has a text in both languages
(``hospitals.bill_reasons``): the desks never show a code such as ``fault_undetermined_assumed_at_fault``."""
from __future__ import annotations

import ast
import itertools
import re
from datetime import date
from pathlib import Path

import fund.payer as payer
from hospitals.bill_reasons import TEXTS, explain, why_insurer_pays_nothing

CHINESE = re.compile(r"[\u4e00-\u9fff]")


def _literal_codes() -> set[str]:
    """Every string payer.py puts into a split's reasons (appended, added, or returned in a tuple), and every
    exclusion flag (条例 22), found by reading the module."""
    tree = ast.parse(Path(payer.__file__).read_text(encoding="utf-8"))
    codes: set[str] = set()
    for node in ast.walk(tree):
        target = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append":
            if isinstance(node.func.value, ast.Name) and node.func.value.id == "reasons":
                target = node.args[0]
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id == "reasons":
            target = node.value
        if target is not None:
            codes |= {n.value for n in ast.walk(target) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    codes |= {"non_motor_party", "driver_unlicensed", "driver_drunk", "vehicle_stolen", "deliberate"}
    return codes


def _emitted_codes() -> set[str]:
    """The codes routing gives over a grid of vehicles, kinds, limits, windows and caps."""
    seen: set[str] = set()
    flags = ("identified", "has_ci", "hit_and_run", "driver_unlicensed", "driver_drunk", "vehicle_stolen",
             "deliberate", "motor_vehicle")
    for values in itertools.product((False, True), repeat=len(flags)):
        vehicle = payer.VehicleCover(insurer_code="PICC", **dict(zip(flags, values)))
        for kind, at_fault, paid, window, cap in itertools.product(
                list(payer.CostKind), (None, True, False), (0, 10**9), (None, 0), (None, 0)):
            split = payer.route_bill(5_000_000, vehicle=vehicle, kind=kind, accident_date=date(2026, 11, 22),
                                     at_fault=at_fault, already_paid_by_insurer_fen=paid, fund_eligible_fen=window,
                                     cash_cap_fen=cap)
            seen |= set(split.reasons)
    return seen


def test_every_code_routing_can_give_has_a_text_in_both_languages() -> None:
    codes = _literal_codes() | _emitted_codes()
    assert "fault_undetermined_assumed_at_fault" in codes and "no_ci" in codes
    missing = sorted(c for c in codes if c not in TEXTS)
    assert not missing, f"reason codes with no text in hospitals/bill_reasons.py: {missing}"
    for r in TEXTS.values():
        assert CHINESE.search(r.zh), r.code
        assert not CHINESE.search(r.en.replace("交强险", "")), r.code  # the insurance's name stays as the law names it
        assert r.code not in r.zh and r.code not in r.en


def test_explain_reads_the_codes_and_never_shows_an_unknown_code() -> None:
    out = explain(["fault_undetermined_assumed_at_fault", "a_code_routing_adds_tomorrow"])
    assert out[0]["zh"].startswith("责任尚未认定") and "not determined" in out[0]["en"]
    assert "a_code_routing_adds_tomorrow" not in out[1]["zh"] + out[1]["en"]


def test_why_the_insurer_pays_nothing() -> None:
    assert why_insurer_pays_nothing(["fault_undetermined_assumed_at_fault", "no_ci"])["code"] == "no_ci"
    assert why_insurer_pays_nothing(["ci_within_limit"]) is None
