"""Masking of personal data (phones, ID numbers, names) for logs, feeds, exports and SMS."""
from __future__ import annotations

import re
from typing import Any

_SEP = r"[\s\-.－—·]?"  # a space, hyphen or dot a person types between groups of digits
_PHONE = re.compile(r"(?<!\d)(\+?86" + _SEP + r")?(1[3-9]\d)" + _SEP + r"(\d{4})" + _SEP + r"(\d{4})(?!\d)")
_ID18 = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[0-9Xx])(?![0-9A-Za-z])")
_ID15 = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{6})(\d{3})(?![0-9A-Za-z])")  # first-generation resident ID
_ANY_LONG_DIGITS = re.compile(r"\+?\d{7,}")
# a party's link secret (``/quick/QK-…?t=…`` now, ``#t=…`` once the token leaves the query): only its SMS carries it
_LINK_SECRET = re.compile(r"([?#&]t=)[^\s&#\"'<>]+")
SECRET_MASK = "••••"

PERSONAL_KEYS = {"phone", "id_number", "callback", "to", "from_"}
# a dict with any of these keys describes a person (a reporter or a party): its "name" is masked too
PERSON_HINTS = {"phone", "id_number", "plate", "insurer", "ci_policy", "licensed"}


def mask_phone(phone: str | None) -> str | None:
    """``+8613800001234`` -> ``+86138****1234``; keeps only the prefix and the last four digits."""
    if not phone:
        return phone
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 7:
        return "*" * len(phone)
    plus = "+" if phone.strip().startswith("+") else ""
    head = digits[:-8] if len(digits) > 8 else digits[:3]
    return f"{plus}{head}****{digits[-4:]}"


def mask_id_number(id_number: str | None) -> str | None:
    """18-digit resident ID: region code and last digit kept, birth date and sequence hidden."""
    if not id_number:
        return id_number
    s = str(id_number)
    if len(s) <= 4:
        return "*" * len(s)
    return s[:3] + "*" * (len(s) - 4) + s[-1:]


def mask_name(name: str | None) -> str | None:
    """``张三丰`` -> ``张**``; Chinese practice keeps the family name."""
    if not name:
        return name
    return name[0] + "*" * max(1, len(name) - 1)


def mask_link_secrets(text: str) -> str:
    """``…/quick/QK-1?t=9f…`` -> ``…/quick/QK-1?t=••••``: staff see that a link was sent, never the link."""
    return _LINK_SECRET.sub(lambda m: m.group(1) + SECRET_MASK, text)


def mask_text(text: str) -> str:
    """Masks phone and ID numbers found anywhere in free text (addresses, descriptions, notes, log lines),
    also when typed with spaces or hyphens between the groups (``139 1234 5678``, ``139-1234-5678``)."""
    text = mask_link_secrets(text)
    text = _ID18.sub(lambda m: m.group(1)[:3] + "*" * 14 + m.group(3)[-1], text)
    text = _ID15.sub(lambda m: m.group(1)[:3] + "*" * 11 + m.group(3)[-1], text)
    text = _PHONE.sub(lambda m: (m.group(1) or "") + m.group(2) + "****" + m.group(4), text)
    return _ANY_LONG_DIGITS.sub(lambda m: m.group(0)[:3] + "****" + m.group(0)[-4:] if len(m.group(0)) >= 11 else m.group(0), text)


def mask_record(value: Any) -> Any:
    """Deep copy of a JSON-like value with personal fields masked."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in ("phone", "callback", "to") and isinstance(v, str):
                out[k] = mask_phone(v)
            elif k == "id_number" and isinstance(v, str):
                out[k] = mask_id_number(v)
            elif k == "name" and isinstance(v, str) and PERSON_HINTS & value.keys():
                # a person (reporter, party): units and places keep their names
                out[k] = mask_name(v)
            else:
                out[k] = mask_record(v)
        return out
    if isinstance(value, list):
        return [mask_record(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def mask_known_names(value: Any, names: "list[str | None] | tuple[str | None, ...]") -> Any:
    """Deep copy of a JSON-like value in which each of these known names (a structured field's person, e.g. the
    driver a case names) is masked wherever it was also written into free text (a note, a reason)."""
    parts = [p for n in names if n for p in (n, *n.split())]  # "李建国 身份证…": the whole and each word
    known = sorted({p.strip() for p in parts if len(p.strip()) >= 2}, key=len, reverse=True)
    if not known:
        return value
    if isinstance(value, dict):
        return {k: mask_known_names(v, known) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_known_names(v, known) for v in value]
    if isinstance(value, str):
        for n in known:
            value = value.replace(n, mask_name(n) or "")
        return value
    return value
