"""Fixtures shared by every test folder: the real Kafka broker (one per test session, on free ports,
its own data folder), a clean database per test (SQLite file, or PostgreSQL when TEST_DATABASE_URL
is set by scripts/test.sh), and a unique topic/group prefix per test."""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from connectors.kafka_broker import LocalKafka, ensure_libs, free_port

    ensure_libs(REPO / ".var")
    data = tmp_path_factory.mktemp("kafka")
    broker = LocalKafka(data, port=free_port(), controller_port=free_port(), var_dir=REPO / ".var")
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
    from connectors.kafka import ensure_topics
    from streams.topics import PARTITIONS

    ensure_topics(kafka, {prefix + k: v for k, v in PARTITIONS.items()})
    return prefix


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    from sqlalchemy import create_engine, text

    from connectors.sql.db import make_engine

    name = "t_" + uuid.uuid4().hex[:12]
    admin = make_engine(base)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def migrated(db_url: str) -> str:
    from connectors.sql.db import upgrade

    upgrade(db_url)
    return db_url
