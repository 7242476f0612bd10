"""Fixtures shared by every test folder: the real Kafka broker (one per test session, on free ports,
its own data folder), a clean database per test (SQLite file, or PostgreSQL when TEST_DATABASE_URL
is set by scripts/test.sh), and a unique topic/group prefix per test."""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from connectors.kafka_broker import LocalKafka, ensure_libs, free_ports

    ensure_libs(REPO / ".var")
    data = tmp_path_factory.mktemp("kafka")
    ports = free_ports(2)
    broker = LocalKafka(data, port=ports[0], controller_port=ports[1], var_dir=REPO / ".var")
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture
def topics(kafka: str, prefix: str) -> str:
    from claims.services import known_insurers
    from connectors.kafka import ensure_topics
    from streams.topics import declared

    ensure_topics(kafka, declared(known_insurers(), prefix))
    return prefix


@contextmanager
def fresh_postgres_database(base: str, stem: str) -> Iterator[str]:
    """A new, empty PostgreSQL database beside ``base`` (TEST_DATABASE_URL), dropped afterwards."""
    from sqlalchemy import text

    from connectors.sql.db import make_engine

    name = f"{stem}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    with fresh_postgres_database(base, "t") as url:
        yield url


def migrate_stores(db_url: str, var_dir: Path | None = None) -> None:
    """Every context's store derived from one URL (a SQLite file per context beside it, or a schema each)."""
    from connectors.sql.stores import upgrade_all

    upgrade_all(db_url, var_dir or Path("/nonexistent"))


@pytest.fixture
def migrated(db_url: str) -> str:
    migrate_stores(db_url)
    return db_url


def _platform(kafka: str, prefix: str, db_url: str, var_dir: Path, **env: str):  # type: ignore[no-untyped-def]
    from connectors.kafka import ensure_topics
    from connectors.kafka_broker import free_port
    from claims.services import known_insurers
    from streams.topics import declared
    from tests.support.platform import Platform

    ensure_topics(kafka, declared(known_insurers(), prefix))
    migrate_stores(db_url)
    var_dir.mkdir(parents=True, exist_ok=True)
    p = Platform(kafka, db_url, prefix, var_dir, free_port(), env_extra=dict(env))
    p.cli("demo")
    return p


@pytest.fixture
def platform_factory(kafka: str, tmp_path: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Start the platform's processes (all four, or the named ones) on this test's prefix and database."""
    started = []

    def make(*names: str, db_url: str | None = None, **env: str):  # type: ignore[no-untyped-def]
        prefix = f"t{uuid.uuid4().hex[:8]}."
        url = db_url or request.getfixturevalue("db_url")
        p = _platform(kafka, prefix, url, tmp_path / f"var-{len(started)}", **env)
        started.append(p)
        p.start(*names)
        return p

    yield make
    for p in started:
        p.stop()


@pytest.fixture(scope="module")
def shared_platform(kafka: str, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One running platform for a whole test module (tests keep apart by their own report ids)."""
    base = os.environ.get("TEST_DATABASE_URL")
    var = tmp_path_factory.mktemp("platform")
    with (fresh_postgres_database(base, "m") if base else nullcontext(f"sqlite:///{var / 'platform.db'}")) as url:
        p = _platform(kafka, f"m{uuid.uuid4().hex[:8]}.", url, var / "var")
        p.start()
        try:
            p.wait_healthy()
            yield p
        finally:
            p.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that drives Chromium (takes ``page``) is marked ``browser``: scripts/test.sh runs those on
    SQLite only, the PostgreSQL run keeps the tests whose outcome depends on the database."""
    for item in items:
        if "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
