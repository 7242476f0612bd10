"""The ``accidentlink`` command: run the platform, its parts, tokens, migrations, the SMS outbox, replay."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

from accidentlink.logs import setup_logging
from accidentlink.settings import load

log = logging.getLogger("accidentlink.cli")


def _container() -> Any:
    from accidentlink.bootstrap import build

    return build()


def cmd_migrate(a: argparse.Namespace) -> int:
    from connectors.sql.db import downgrade, upgrade
    from connectors.sql.stores import CONTEXTS

    s = load()
    for context in ([a.store] if a.store else CONTEXTS):
        (downgrade if a.down else upgrade)(s.store_url(context), a.revision or ("base" if a.down else "head"),
                                           context=context)
    return 0


def cmd_token(a: argparse.Namespace) -> int:
    from web.auth import create_token, revoke_token

    s = load()
    s.migrate()
    c = _container()
    try:
        if a.action == "create":
            if not a.role or not a.name:
                raise SystemExit("token create needs --role and --name")
            token, _ = create_token(c.store("web"), a.role, a.name, c.clock.now(), hospital_id=a.hospital,
                                    insurer_id=a.insurer, unit_id=a.unit, ttl_days=a.ttl_days)
            print(token)
        else:
            if not revoke_token(c.store("web"), a.token_id, c.clock.now()):
                print(f"no active token {a.token_id}", file=sys.stderr)
                return 1
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        c.close()
    return 0


def cmd_worker(a: argparse.Namespace) -> int:
    from streams.worker import run

    sys.argv = [sys.argv[0], "worker"]  # faust's Worker reads argv
    run(a.group, _container())
    return 0


def cmd_web(a: argparse.Namespace) -> int:
    import uvicorn

    from connectors.kafka import make_producer
    from web.app import create_app
    from web.feed import IncidentFeed

    c = _container()
    s = c.settings
    producer = make_producer(s.bootstrap)
    feed = IncidentFeed(s.bootstrap, c.topics.name("incidents"))
    feed.start()
    # the web writes to the stores of the contexts whose desks act (each has its own outbox)
    relays = [c.relay("web", context) for context in ("dispatch", "hospitals", "fund", "claims")]
    for relay in relays:
        relay.start()
    app = create_app(c, feed=feed, producer=producer)
    app.state.relay_notify = lambda: [relay.notify() for relay in relays]
    try:
        uvicorn.run(app, host=s.http_host, port=s.http_port, log_level=os.environ.get("LOG_LEVEL", "warning"),
                    access_log=False)
    finally:
        feed.stop()
        for relay in relays:
            relay.stop()
        producer.close(timeout=5)
        c.close()
    return 0


def cmd_broker(a: argparse.Namespace) -> int:
    from connectors.kafka_broker import LocalKafka, ensure_libs

    s = load()
    ensure_libs(s.var_dir)
    k = LocalKafka(s.var_dir / "kafka", port=s.kafka_port, controller_port=s.kafka_port + 1)
    if a.action == "stop":
        k.stop()
        return 0
    if a.action == "status":
        print("running" if k.is_running() else "stopped")
        return 0
    k.start(reuse=True)
    print(f"kafka ready on {k.bootstrap}")
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from accidentlink.demo import load_demo

    c = _container()
    try:
        print(json.dumps(load_demo(c, reports=a.reports), ensure_ascii=False, indent=2))
    finally:
        c.close()
    return 0


def cmd_sms(a: argparse.Namespace) -> int:
    from accidentlink.clock import iso
    from accidentlink.masking import mask_link_secrets, mask_phone
    from connectors.sql.outbox import sms_outbox

    c = _container()
    for _store, m in sms_outbox(c.store, a.limit):
        to = m.to if a.unmasked else mask_phone(m.to)
        # a party's link secret is for that party's phone alone (README, "SMS"): never printed, even --unmasked
        print(f"{iso(m.created_at)}  {m.status:8} {to:16} [{m.purpose}] {mask_link_secrets(m.body)}")
    c.close()
    return 0


def cmd_replay(a: argparse.Namespace) -> int:
    """Re-publish dead letters to their source topic (safe: every handler is idempotent)."""
    from accidentlink.pipeline import DEAD_LETTER_HEADERS
    from connectors.kafka import make_producer, read_all

    c = _container()
    src = c.topics.name("accidents.rejected")
    producer = make_producer(c.settings.bootstrap)
    n = 0
    for r in read_all(c.settings.bootstrap, src, timeout_s=5):
        h = dict(r.headers or [])
        if a.offset is not None and str(a.offset) != (h.get("source-offset") or b"").decode():
            continue
        target = (h.get("source-topic") or b"").decode() or c.topics.name("accidents.reported")
        own = [(k, v) for k, v in (r.headers or []) if k not in DEAD_LETTER_HEADERS]  # the sender's, as they were
        producer.send(target, key=r.key, value=r.value, headers=own or None)
        n += 1
    producer.flush()
    producer.close()
    print(f"replayed {n} message(s)")
    c.close()
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    from accidentlink.bench import main as bench_main

    return bench_main(a)


def cmd_run(a: argparse.Namespace) -> int:
    from accidentlink.supervisor import run_platform

    return run_platform(with_demo=not a.no_demo)


def main(argv: list[str] | None = None) -> int:
    from accidentlink.private_files import owner_only_process

    owner_only_process()  # .var, the stores, the handsets, tokens: created owner-only (README, "Secrets")
    setup_logging()
    p = argparse.ArgumentParser(prog="accidentlink", description="AccidentLink: 警保医联动 event backbone")
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run", help="broker, workers, web and demo data, in the foreground")
    r.add_argument("--no-demo", action="store_true")
    r.set_defaults(fn=cmd_run)

    w = sub.add_parser("worker", help="run one stage's worker (intake, a pipeline, hospitals)")
    w.add_argument("group", choices=["intake", "dispatch", "rescue-fund", "claims", "hospitals"])
    w.set_defaults(fn=cmd_worker)

    sub.add_parser("web", help="run the HTTP API and dashboard").set_defaults(fn=cmd_web)

    b = sub.add_parser("broker", help="the local Apache Kafka broker")
    b.add_argument("action", choices=["start", "stop", "status"])
    b.set_defaults(fn=cmd_broker)

    m = sub.add_parser("migrate", help="apply (or with --down revert) database migrations")
    m.add_argument("--down", action="store_true")
    m.add_argument("--revision")
    m.add_argument("--store", choices=["intake", "dispatch", "hospitals", "fund", "claims", "web"],
                   help="only this context's store (each has its own history)")
    m.set_defaults(fn=cmd_migrate)

    t = sub.add_parser("token", help="create or revoke bearer tokens")
    tsub = t.add_subparsers(dest="action", required=True)
    tc = tsub.add_parser("create", help="print a new bearer token and nothing else")
    tc.add_argument("--role", required=True)
    tc.add_argument("--name", required=True)
    tc.add_argument("--hospital")
    tc.add_argument("--insurer")
    tc.add_argument("--unit")
    tc.add_argument("--ttl-days", type=int)
    tr = tsub.add_parser("revoke")
    tr.add_argument("token_id")
    t.set_defaults(fn=cmd_token)

    d = sub.add_parser("demo", help="load demo resources (and with --reports, demo accident reports)")
    d.add_argument("--reports", action="store_true")
    d.set_defaults(fn=cmd_demo)

    s = sub.add_parser("sms", help="read the SMS outbox (phones masked unless --unmasked; link secrets always)")
    s.add_argument("--limit", type=int, default=50)
    s.add_argument("--unmasked", action="store_true")
    s.set_defaults(fn=cmd_sms)

    rp = sub.add_parser("replay", help="re-publish dead letters from accidents.rejected to their source topic")
    rp.add_argument("--offset", type=int, help="only the message from this source offset")
    rp.set_defaults(fn=cmd_replay)

    be = sub.add_parser("bench", help="benchmark: throughput, latency, memory against a bare Kafka baseline")
    be.add_argument("--rate", type=int, default=500)
    be.add_argument("--seconds", type=int, default=20)
    # 10,000 crashes need about 4,400 ambulances and as many police units: the synthetic fleet has 5,000 each
    be.add_argument("--burst", type=int, default=10000)
    be.add_argument("--burst-timeout", type=int, default=600)
    be.add_argument("--low-rate", type=int, default=100, help="also measure latency at this sustainable rate (0: skip)")
    be.add_argument("--backlog-rate", type=int, default=20,
                    help="dispatch latency at this rate while the fund and claims work through a burst (0: skip)")
    be.add_argument("--stage-n", type=int, default=5000, help="reports for each stage alone (0: skip)")
    be.set_defaults(fn=cmd_bench)

    a = p.parse_args(argv)
    return a.fn(a) or 0


if __name__ == "__main__":
    sys.exit(main())
