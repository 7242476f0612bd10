"""Run one pipeline's worker: its faust app, its agents, its timers and its outbox relay."""
from __future__ import annotations

import logging
import os
import sys
from typing import Any

import faust

from accidentlink.bootstrap import Container
from accidentlink.pipeline import RawMessage
from streams import topics as T
from streams.app import batch_agent, make_app, raw_topic, run_with_retry

log = logging.getLogger("accidentlink.worker")


def build_worker_app(group: str, c: Container) -> tuple[faust.App, Any]:
    """One consumer group's app: the intake's re-keying and merge, or a pipeline reading incident facts;
    then the topics and timers its handler declares, and the relay of its own store's outbox."""
    from accidentlink.bootstrap import STORE_OF

    s = c.settings
    s.var_dir.mkdir(parents=True, exist_ok=True)
    # tests isolate themselves with a prefix on topics and groups; production has none
    app = make_app(c.topics.name(group), s.bootstrap, str(s.var_dir / f"faust-{c.topics.name(group)}"))
    relay = c.relay(owner=group, context=STORE_OF[group])
    pipeline = c.pipeline(group)
    relay.handoff, pipeline.take_marks = True, relay.take_marks  # marks ride on the pipeline's transactions

    def give_up(msgs: list[RawMessage], exc: Exception) -> None:
        """Retries exhausted: dead-letter the batch with the reason. If even that fails, stop the
        process hard so that faust commits nothing and the batch is redelivered on restart."""
        try:
            pipeline.dead_letter_batch(msgs, f"processing failed in {group} after retries: {type(exc).__name__}: {exc}")
        except Exception:
            log.critical("%s: cannot process or dead-letter a batch; exiting for a restart", group, exc_info=True)
            os._exit(70)

    def agent(topic_name: str, name: str, fn: Any) -> None:
        batch_agent(app, raw_topic(app, c.topics.name(topic_name)), name, fn, give_up, relay.notify,
                    s.batch_max, s.batch_within_ms / 1000)

    topics: dict[str, Any]
    if group == "intake":
        agent(T.REPORTS, "intake-reports", c.rekeyer(pipeline).process)
        agent(T.BY_AREA, "intake-areas", pipeline.process)
        topics = {T.INCIDENTS: c.intake_handler().on_incident_changes}
        timers: list[tuple[float, Any]] = []
    else:
        agent(T.FACTS, f"{group}-facts", pipeline.process)
        handler = pipeline.handler
        topics = getattr(handler, "topics", lambda: {})()
        timers = getattr(handler, "timers", lambda: [])()
    # Further topics and timers (bills for the fund and claims, escalation for dispatch, closures for intake).
    for topic_name, fn in topics.items():
        agent(topic_name, f"{group}-{topic_name}", fn)
    for interval_s, fn in timers:
        def make_timer(fn: Any = fn, interval_s: float = interval_s) -> None:
            async def tick() -> None:
                try:
                    await run_with_retry(fn, f"{group} timer {fn.__name__}", attempts=2)
                    relay.notify()
                except Exception:
                    log.exception("%s timer %s failed; next tick retries", group, fn.__name__)

            tick.__name__ = f"{group}_{fn.__name__}"
            app.timer(interval_s, name=tick.__name__)(tick)

        make_timer()
    return app, relay


def wait_for_broker(bootstrap: str, timeout_s: float = 180) -> None:
    """A worker started while the broker is away waits for it rather than crashing at bootstrap."""
    import time

    from connectors.kafka import broker_is_up

    deadline = time.monotonic() + timeout_s
    while not broker_is_up(bootstrap):
        if time.monotonic() > deadline:
            raise SystemExit(f"the broker at {bootstrap} did not come up within {timeout_s:.0f}s")
        log.warning("waiting for the broker at %s", bootstrap)
        time.sleep(2)


def run(group: str, c: Container) -> None:
    if group not in T.GROUPS:
        raise SystemExit(f"unknown worker {group!r}; one of {', '.join(T.GROUPS)}")
    wait_for_broker(c.settings.bootstrap)
    app, relay = build_worker_app(group, c)
    relay.start()
    worker = faust.Worker(app, loglevel=os.environ.get("LOG_LEVEL", "warning"), quiet=True,
                          redirect_stdouts=False, override_logging=False)

    code = 0
    try:
        worker.execute_from_commandline()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        # Whatever ended the worker (a signal, a crash at bootstrap), the process ends too, so that its
        # supervisor (``accidentlink run``, compose's restart policy) starts a fresh one; unsent outbox
        # rows stay in the database for the next one.
        try:
            relay.stop(timeout_s=5)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
