"""The statutory grade of an accident (事故等级): 一般, 较大, 重大, 特别重大.

国务院令 493 art. 3 [O] (domain.md §6) grades an accident by its deaths, serious injuries or direct economic
loss, whichever band reaches the higher grade. The bands are data (``accidentlink/rules/severity.json``, each
grade with its source); "以上" includes the number and "以下" excludes it, so a band's lower bound is its
minimum. Ten deaths grade 重大, three 较大, thirty 特别重大.

The legal class of ``IncidentFacts.severity`` (property-only, injury, death: 程序规定 3 [O]) is a separate,
coarser thing; the grade is what the feed, the desk's filter and the figures use for "how big".
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from accidentlink.money import check_fen


@dataclass(frozen=True)
class Grade:
    code: str
    zh: str
    en: str
    rank: int                 # 0 the highest (特别重大)
    min_deaths: int
    min_serious_injuries: int
    min_direct_loss_fen: int
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "zh": self.zh, "en": self.en, "source": self.source}


def grades_from_dict(doc: dict[str, Any]) -> tuple[Grade, ...]:
    """The grades, highest first; ``ValueError`` unless the bands fall strictly and the last takes everything."""
    out = []
    for i, g in enumerate(doc["grades"]):
        if not g.get("source"):
            raise ValueError(f"severity.json: grade {g.get('code')} needs a source")
        out.append(Grade(g["code"], g["zh"], g["en"], i, int(g["min_deaths"]), int(g["min_serious_injuries"]),
                         check_fen(g["min_direct_loss_fen"], "min_direct_loss_fen"), g["source"]))
    for hi, lo in zip(out, out[1:]):
        if not (hi.min_deaths > lo.min_deaths and hi.min_serious_injuries > lo.min_serious_injuries
                and hi.min_direct_loss_fen > lo.min_direct_loss_fen):
            raise ValueError(f"severity.json: the bands of {hi.code} must lie above those of {lo.code}")
    if not out or (out[-1].min_deaths, out[-1].min_serious_injuries, out[-1].min_direct_loss_fen) != (0, 0, 0):
        raise ValueError("severity.json: the lowest grade must start at zero")
    return tuple(out)


@lru_cache(maxsize=1)
def grades() -> tuple[Grade, ...]:
    return grades_from_dict(json.loads(
        resources.files("accidentlink").joinpath("rules/severity.json").read_text("utf-8")))


GRADE_CODES = tuple(g.code for g in grades())


def grade_of(deaths: int, serious_injuries: int = 0, direct_loss_fen: int = 0,
             table: tuple[Grade, ...] | None = None) -> Grade:
    """The highest grade any of the three bands reaches (493 art. 3 [O])."""
    if deaths < 0 or serious_injuries < 0:
        raise ValueError("deaths and serious injuries must not be negative")
    check_fen(direct_loss_fen, "direct_loss_fen")
    for g in table or grades():
        if deaths >= g.min_deaths or serious_injuries >= g.min_serious_injuries \
                or direct_loss_fen >= g.min_direct_loss_fen:
            return g
    raise AssertionError("the lowest grade starts at zero")


def grade_by_code(code: str) -> Grade:
    for g in grades():
        if g.code == code:
            return g
    raise KeyError(f"no severity grade {code!r}; one of {', '.join(GRADE_CODES)}")


def at_least(code: str, minimum: str) -> bool:
    """Whether grade ``code`` is ``minimum`` or higher."""
    return grade_by_code(code).rank <= grade_by_code(minimum).rank
