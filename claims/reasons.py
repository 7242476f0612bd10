"""A reason a person reads: a stable code for machines, Chinese and English text, and the rule behind it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    code: str
    zh: str
    en: str
    source: str = ""

    def text(self, lang: str = "zh") -> str:
        return self.zh if lang == "zh" else self.en
