"""The live incident feed: one Kafka consumer (no group, from the end) fans ``incidents`` out to every
connected dispatcher as server-sent events."""
from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

from accidentlink.masking import mask_record

log = logging.getLogger("accidentlink.feed")


class IncidentFeed:
    def __init__(self, bootstrap: str, topic: str):
        self.bootstrap, self.topic = bootstrap, topic
        self._subs: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()

    def subscribe(self) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(maxsize=1000)
        with self._lock:
            self._subs.add((asyncio.get_running_loop(), q))
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        with self._lock:
            self._subs = {s for s in self._subs if s[1] is not q}

    @staticmethod
    def masked(value: dict[str, Any]) -> dict[str, Any]:
        """What a dispatcher's browser gets: ``incidents`` is masked at its source, and masked again here
        (phones, ID numbers and people's names, also typed into free text), whatever wrote the message."""
        return mask_record(value)

    def publish(self, value: dict[str, Any]) -> None:
        value = self.masked(value)
        with self._lock:
            subs = list(self._subs)
        for loop, q in subs:
            def put(q: asyncio.Queue = q) -> None:
                if q.full():  # a slow client loses the oldest, never blocks the feed
                    q.get_nowait()
                q.put_nowait(value)
            try:
                loop.call_soon_threadsafe(put)
            except RuntimeError:
                self.unsubscribe(q)

    def _run(self) -> None:
        from kafka import TopicPartition

        from connectors.kafka import make_reader

        while not self._stop.is_set():
            try:
                consumer = make_reader(self.bootstrap, consumer_timeout_ms=500)
                parts = consumer.partitions_for_topic(self.topic) or set()
                tps = [TopicPartition(self.topic, p) for p in parts]
                consumer.assign(tps)
                consumer.seek_to_end(*tps)
                for tp in tps:
                    consumer.position(tp)
                self.ready.set()
                while not self._stop.is_set():
                    for records in consumer.poll(timeout_ms=300).values():
                        for r in records:
                            try:
                                self.publish(json.loads(r.value))
                            except ValueError:
                                log.warning("unreadable incidents message at %s:%s", r.partition, r.offset)
                consumer.close()
            except Exception:
                log.exception("incident feed consumer failed; reconnecting")
                self._stop.wait(2)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="incident-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
