"""``accidentlink run``: the whole platform in the foreground on the embedded default.

Starts (unless ``KAFKA_BOOTSTRAP_SERVERS`` names another) a local Apache Kafka broker, creates the
topics, migrates every store, loads the demo data, then runs the intake, the pipelines' and the hospitals'
workers and the web process as children, restarting a child that dies. Ctrl-C (SIGINT) or SIGTERM stops everything.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any

from accidentlink.settings import load

log = logging.getLogger("accidentlink.run")

CHILDREN = {
    "worker-intake": ["worker", "intake"],
    "worker-dispatch": ["worker", "dispatch"],
    "worker-rescue-fund": ["worker", "rescue-fund"],
    "worker-claims": ["worker", "claims"],
    "worker-hospitals": ["worker", "hospitals"],
    "web": ["web"],
}


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "accidentlink.cli", *args], env=env)


def prepare(settings: Any, *, with_demo: bool) -> Any:
    """Broker (if ours), topics, schema, demo data. Returns the LocalKafka we started, or None."""
    from connectors.kafka import ensure_topics
    from claims.services import known_insurers
    from streams.topics import declared

    from accidentlink.private_files import owner_only_dir

    owner_only_dir(settings.var_dir)  # the stores, handsets and demo tokens live there
    broker = None
    if settings.kafka_bootstrap is None:
        from connectors.kafka_broker import LocalKafka, ensure_libs

        t0 = time.monotonic()
        ensure_libs(settings.var_dir)
        broker = LocalKafka(settings.var_dir / "kafka", port=settings.kafka_port, controller_port=settings.kafka_port + 1)
        broker.start(reuse=True)
        log.info("kafka ready on %s in %.1fs", broker.bootstrap, time.monotonic() - t0)
    prefix = os.environ.get("ACCIDENTLINK_TOPIC_PREFIX", "")
    ensure_topics(settings.bootstrap, declared(known_insurers(), prefix))
    settings.migrate()
    if with_demo:
        from accidentlink.bootstrap import build
        from accidentlink.demo import load_demo

        c = build(settings)
        try:
            summary = load_demo(c, reports=False)
        finally:
            c.close()
        log.info("demo data: %s", summary)
    return broker


def run_platform(with_demo: bool = True) -> int:
    settings = load()
    broker = prepare(settings, with_demo=with_demo)
    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=settings.bootstrap)
    procs = {name: _spawn(args, env) for name, args in CHILDREN.items()}
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print(f"AccidentLink: http://{settings.http_host}:{settings.http_port}/dashboard/  "
          f"(kafka {settings.bootstrap}, stores {settings.store_url('intake').rsplit('/', 1)[0].split('@')[-1]})", flush=True)
    if with_demo:
        from accidentlink.demo import print_demo_tokens, send_demo_reports

        print_demo_tokens(settings)
        demo_sent = False
    restarts: dict[str, int] = {}
    try:
        while not stopping:
            time.sleep(0.5)
            if with_demo and not demo_sent and _healthy(settings):
                send_demo_reports(settings)
                demo_sent = True
            for name, p in list(procs.items()):
                if p.poll() is not None and not stopping:
                    restarts[name] = restarts.get(name, 0) + 1
                    log.warning("%s exited with %s; restarting (%d)", name, p.returncode, restarts[name])
                    time.sleep(min(5, restarts[name]))
                    procs[name] = _spawn(CHILDREN[name], env)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for p in procs.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
        if broker is not None:
            broker.stop()
    return 0


def _healthy(settings: Any) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{settings.http_host}:{settings.http_port}/healthz", timeout=2) as r:
            return r.status == 200
    except Exception:
        return False
