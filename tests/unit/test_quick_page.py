"""The parties' phone page and the police desk run under a strict CSP (``default-src 'self'``): no inline
script, no inline event handler, no style attribute, in the page or in what its scripts write; and every
string they show exists in both languages."""
from __future__ import annotations

import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web"
PAGE = WEB / "pages" / "quick.html"
SCRIPTS = [WEB / "static" / "js" / n for n in ("quick.js", "quick-i18n.js", "desk-police.js", "police-i18n.js")]


def test_the_phone_page_has_no_inline_script_or_style():
    html = PAGE.read_text("utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline <script>"
    assert "<style" not in html and not re.search(r"\sstyle\s*=", html)
    assert not re.search(r"\son[a-z]+\s*=", html), "an inline event handler"
    assert 'name="referrer" content="no-referrer"' in html


def test_what_the_scripts_write_has_no_style_attribute_or_inline_handler():
    for path in SCRIPTS:
        src = path.read_text("utf-8")
        assert not re.search(r"\sstyle\s*=\s*[\"'$]", src), f"{path.name}: a style attribute"
        assert not re.search(r"<[a-z][^>]*\son[a-z]+\s*=", src), f"{path.name}: an inline event handler"
        assert "innerHTML = `<script" not in src and "eval(" not in src and "new Function" not in src
        assert "createObjectURL" not in src and "data:image" not in src, f"{path.name}: blob:/data: images need a looser CSP"


def test_every_phone_and_police_string_exists_in_both_languages():
    for name in ("quick-i18n.js", "police-i18n.js"):
        src = (WEB / "static" / "js" / name).read_text("utf-8")
        zh, en = src.split("const EN = {")
        keys = lambda part: re.findall(r'^\s*"([a-z][\w.]+)":', part, re.M)  # noqa: E731
        assert keys(zh) and sorted(keys(zh)) == sorted(keys(en)), name
    used = set(re.findall(r't\(`?"?(qk\.[\w.]+)', (WEB / "static" / "js" / "quick.js").read_text("utf-8")))
    defined = set(re.findall(r'"(qk\.[\w.]+)":', (WEB / "static" / "js" / "quick-i18n.js").read_text("utf-8")))
    fixed = {k for k in used if not k.endswith(".")}
    assert fixed and fixed <= defined, fixed - defined
    # keys built at run time: each degree (程序规定 60), each required photo, each kind of outcome
    built = [f"qk.deg.{d}" for d in ("full", "primary", "equal", "secondary", "none")]
    built += [f"qk.{w}.{k}" for w in ("shot", "guide") for k in ("front_side", "rear_side", "impact_point")]
    built += [f"qk.kind.{k}" for k in ("self_negotiation", "police_determination")]
    assert {k.rsplit(".", 1)[0] + "." for k in built} == used - fixed and set(built) <= defined
