"""Issue 14 item 1, "secrets stay with their owners": a party's quick-handling link reaches that party's phone
and nobody else (not the outbox staff read, the CLI, the logs); demo tokens go to an owner-only file and never
to stdout; data files and folders are owner-only. Each test replays an attack that used to succeed."""
from __future__ import annotations

import io
import json
import logging
import os
import re
import stat
import subprocess
import sys
import warnings
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from accidentlink.masking import mask_link_secrets, mask_text
from tests.support.reports import ZHANGDIAN, party, report

REPO = Path(__file__).resolve().parents[2]
SECRET = re.compile(r"/quick/([^\s?#]+)[?#]t=([0-9a-f]{16,})")
PHONES = ("+8613811110001", "+8613822220002")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_link_secrets_are_masked_in_both_link_forms() -> None:
    for link in ("https://al.example/quick/QK-20261122-1?t=0123456789abcdef", "/quick/QK-1#t=0123456789abcdef"):
        masked = mask_link_secrets(f"请打开链接：{link} 也可回复1")
        assert "0123456789abcdef" not in masked and "/quick/QK-" in masked and "t=••••" in masked
        assert "0123456789abcdef" not in mask_text(link)


def _minor_crash_world(tmp_path: Path) -> Any:
    from tests.support.inprocess import World

    w = World(tmp_path, "w")
    r = report(lat=ZHANGDIAN[0], lon=ZHANGDIAN[1], at=w.c.clock.now(),
               parties=[party("鲁C71001", "CPIC", phone=PHONES[0]), party("鲁C71002", "PICC", phone=PHONES[1])])
    w.run("claims", w.intake([r]))
    return w


def test_staff_see_that_a_link_was_sent_and_only_the_partys_phone_gets_the_secret(tmp_path: Path, monkeypatch: Any,
                                                                                  capsys: Any) -> None:
    """The attack: a dispatcher read both parties' links from ``GET /api/sms`` (or ``accidentlink sms``) and
    signed the agreement for both. Now the outbox shows the link masked; the handset has it."""
    from accidentlink.cli import main
    from connectors.relay import OutboxRelay
    from connectors.sms import HeldSms, handset_texts
    from web.app import create_app
    from web.auth import create_token

    w = _minor_crash_world(tmp_path)
    handsets = tmp_path / "handsets"
    relay = OutboxRelay(w.store("claims"), "claims", None, HeldSms(handsets))
    relay.send_pending_sms()
    relay.send_pending_sms()  # a second round before the "held" marks are written delivers nothing twice
    relay.mark_now()
    secrets_ = {}
    for phone in PHONES:
        texts = handset_texts(handsets, phone)
        assert len(texts) == 1, texts
        secrets_[phone] = SECRET.search(texts[0]).group(2)
    assert _mode(handsets) == 0o700 and all(_mode(f) == 0o600 for f in handsets.iterdir())

    tok, _ = create_token(w.c.store("web"), "dispatcher", "调度员", w.c.clock.now())
    client = TestClient(create_app(w.c, producer=None), raise_server_exceptions=False)
    res = client.get("/api/sms", headers={"Authorization": f"Bearer {tok}"})
    assert res.status_code == 200
    links = [m for m in res.json() if m["purpose"] == "quick_link"]
    assert len(links) == 2 and all(re.search(r"/quick/QK-\S+[?#]t=••••", m["body"]) for m in links)
    for secret in secrets_.values():
        assert secret not in res.text

    monkeypatch.setenv("ACCIDENTLINK_VAR", str(w.c.settings.var_dir))
    monkeypatch.setenv("DATABASE_URL", w.c.settings.database_url)
    capsys.readouterr()
    assert main(["sms", "--unmasked"]) == 0
    out = capsys.readouterr().out
    assert "quick_link" in out and "t=••••" in out
    for secret in secrets_.values():
        assert secret not in out


def test_a_link_in_a_log_line_is_masked() -> None:
    from accidentlink.logs import MaskingJsonFormatter

    rec = logging.LogRecord("twilio.http_client", logging.INFO, __file__, 1,
                            "POST Body=请打开 https://x/quick/QK-1?t=0123456789abcdef0123", None, None)
    assert "0123456789abcdef0123" not in MaskingJsonFormatter().format(rec)


def test_demo_tokens_go_to_an_owner_only_file_never_to_stdout(migrated: str, tmp_path: Path) -> None:
    """The attack: ``make run`` printed every demo token, both fund administrators' included (maker-checker
    defeated for whoever reads the log)."""
    from accidentlink.bootstrap import build
    from accidentlink.demo import load_resources_into_db, print_demo_tokens
    from accidentlink.settings import Settings

    settings = Settings(var_dir=tmp_path / "var", database_url=migrated, kafka_bootstrap="127.0.0.1:1")
    c = build(settings)
    load_resources_into_db(c)
    c.close()
    buf = io.StringIO()
    with redirect_stdout(buf):
        path = print_demo_tokens(settings)
        print_demo_tokens(settings)  # the second start reuses the file
    tokens = [t["token"] for t in json.loads(path.read_text())]
    assert len(tokens) >= 8 and sum(t["role"] == "fund_admin" for t in json.loads(path.read_text())) == 2
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert str(path) in buf.getvalue()
    for t in tokens:
        assert t not in buf.getvalue()


def test_the_var_folder_and_the_sqlite_stores_are_owner_only(tmp_path: Path) -> None:
    """The attack: the database file (personal data, token hashes) was world-readable."""
    var = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")}
    env["ACCIDENTLINK_VAR"] = str(var)
    out = subprocess.run([sys.executable, "-m", "accidentlink.cli", "migrate"], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    dbs = sorted(var.glob("*.db"))
    assert {p.stem for p in dbs} >= {"intake", "dispatch", "hospitals", "fund", "claims", "web"}
    assert _mode(var) == 0o700
    for p in var.iterdir():
        if p.is_file():
            assert _mode(p) & 0o077 == 0, (p, oct(_mode(p)))


def test_an_existing_world_readable_store_is_tightened(tmp_path: Path) -> None:
    from connectors.sql.db import upgrade

    db = tmp_path / "old.db"
    db.touch()
    os.chmod(db, 0o644)
    upgrade(f"sqlite:///{db}", context="web")
    assert _mode(db) == 0o600
