"""The faust app of one pipeline. Each pipeline is its own app whose id is its consumer group, so
offsets are per group and a stalled pipeline holds no other back."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

import faust

from accidentlink.pipeline import RawMessage

log = logging.getLogger("accidentlink.streams")


def make_app(group: str, bootstrap: str, datadir: str) -> faust.App:
    from connectors.kafka import faust_credentials

    return faust.App(
        group,  # faust uses the app id as the Kafka consumer group id
        broker=f"kafka://{bootstrap}",
        # TLS and SASL from the same settings as every kafka-python client (None: PLAINTEXT)
        broker_credentials=faust_credentials(),
        key_serializer="raw", value_serializer="raw",
        web_enabled=False,  # the built-in aiohttp server would bind every interface (kafka-notes)
        consumer_auto_offset_reset="earliest",
        topic_allow_declare=False, topic_disable_leader=True,
        broker_commit_every=100, broker_commit_interval=0.5,
        # a worker killed without goodbye is noticed in 10 s (faust's default is 60 s): its partitions
        # move to a live member, or back to the restarted one, that much sooner
        broker_session_timeout=10.0, broker_heartbeat_interval=3.0,
        # A group that rebalanced while a restarted broker did not yet list a topic assigns none of its
        # partitions ("Ignoring missing topic"); the consumer rejoins when fresh metadata shows the topic,
        # and fresh metadata comes every 10 s instead of every 5 minutes.
        consumer_metadata_max_age_ms=10_000,
        datadir=datadir,
        producer_acks=-1,
    )


def raw_topic(app: faust.App, name: str) -> Any:
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


def to_raw(event: Any) -> RawMessage:
    m = event.message
    headers = tuple((k, v if isinstance(v, bytes) else (v or b"")) for k, v in (m.headers or ()))
    return RawMessage(m.topic, m.partition, m.offset, m.key, m.value, headers)


async def run_with_retry(fn: Callable[[], Any], what: str, attempts: int = 8) -> Any:
    """Run blocking work in a thread; retry a transient failure with bounded backoff (0.2 s .. 5 s)."""
    loop = asyncio.get_running_loop()
    delay = 0.2
    for attempt in range(1, attempts + 1):
        try:
            return await loop.run_in_executor(None, fn)
        except Exception as e:
            if attempt == attempts:
                raise
            log.warning("%s failed (attempt %d/%d): %s; retrying in %.1fs", what, attempt, attempts, e, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def batch_agent(app: faust.App, topic: Any, name: str, process: Callable[[list[RawMessage]], Any],
                on_failure: Callable[[list[RawMessage], Exception], Any], after: Callable[[], None],
                batch_max: int, within_s: float) -> Any:
    """An agent that hands batches of raw messages to ``process``. faust acks the batch only after
    this body returns (``take_events``), and the offset is committed after that: commit after the
    effect. An exception is never left to faust (which would ack and skip): it goes to ``on_failure``."""

    async def agent(stream: Any) -> None:
        async for events in stream.take_events(batch_max, within=within_s):
            msgs = [to_raw(e) for e in events]
            try:
                await run_with_retry(lambda: process(msgs), f"{name} batch of {len(msgs)}")
            except Exception as e:
                await asyncio.get_running_loop().run_in_executor(None, on_failure, msgs, e)
            after()

    agent.__name__ = name
    return app.agent(topic, name=name, concurrency=1)(agent)
