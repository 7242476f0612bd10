"""End-to-end fixtures: the whole platform (real broker, migrated database, demo resources) on a free
port, and headless Debian Chromium driven by Playwright (never downloads a browser)."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


def chromium_path() -> str | None:
    for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(p).exists():
            return p
    return shutil.which("chromium")


@pytest.fixture
def platform(kafka: str, topics: str, migrated: str, tmp_path: Path) -> Iterator[object]:
    """The four processes on this test's topics and database, demo resources loaded, healthy.
    Orders wait 5 minutes for an acknowledgement so that nothing escalates under a slow test."""
    from connectors.kafka_broker import free_port
    from tests.support.platform import Platform

    var = tmp_path / "var"
    var.mkdir()
    p = Platform(kafka, migrated, topics, var, free_port(), env_extra={"DISPATCH_ACK_TIMEOUT_S": "300"})
    p.cli("demo")
    p.start()
    try:
        p.wait_healthy(90)
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    exe = chromium_path()
    if not exe:
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    """A fresh browser context (empty localStorage) with a desktop viewport; page errors fail the test."""
    ctx = browser.new_context(viewport={"width": 1600, "height": 950}, locale="zh-CN", timezone_id="Asia/Shanghai")
    ctx.set_default_timeout(15_000)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors  # type: ignore[attr-defined]
    try:
        yield pg
    finally:
        ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
