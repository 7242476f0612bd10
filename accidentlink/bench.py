"""``accidentlink bench`` (``make bench``): the platform under load, against a bare-Kafka baseline.

It starts what it needs (a broker on free ports unless ``KAFKA_BOOTSTRAP_SERVERS`` is set, a fresh
store per context, the worker of every stage and the web process, 10,000 synthetic units besides the
demo ones), then measures in one run:

1. baseline: bare kafka-python produce-to-consume rate and round trip on the same broker, and two floors,
   the machine's CPU for one accident's Kafka traffic with no pipeline: the contract's (the report read by
   three groups, 7.5 outbound messages) and the platform's (the same outbound messages; the report read by
   the intake, re-keyed by area and read once more, and one incident-facts message read by four groups);
2. unit choice among 10,000 units (spatial index vs brute-force geodesic);
3. each stage alone (``--stage-n`` reports, every other worker stopped): the intake until it has published
   the facts of them all, then each pipeline on those facts -> ``stage_rate_<stage>``;
4. throughput: a burst of synthetic accidents of realistic mix, until every stage has handled every
   report -> ``accidents_per_s``, CPU per accident per process and its ratio to the platform's floor;
5. isolation: another burst and, once dispatch is through it, injured crashes at a steady rate (20/s)
   while the rescue fund and claims are still behind -> ``dispatch_p99_ms_under_backlog``;
6. latency at a steady rate (100/s, then 500/s by default): report produced -> both dispatch orders on
   ``dispatch.orders`` (p50/p95/p99), and -> fund case / claim opened;
7. peak memory (VmHWM) of every process.

Progress goes to stderr; the table and, as the last line, one JSON object go to stdout.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple

CST = timezone(timedelta(hours=8))
BOX = (36.0, 37.3, 115.3, 118.6)  # Liaocheng to Zibo
# each phase's first accident number: phases never repeat each other's crashes (same place, same plates:
# they would merge into the earlier incidents and never be measured)
FIRST = {"burst": 0, "low": 10_000_000, "steady": 20_000_000, "stages": 30_000_000, "backlog": 40_000_000,
         "warm-up": 50_000_000}


def progress(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def synthetic_units(n: int, rng: random.Random) -> dict[str, Any]:
    units, posts = [], []
    for i in range(n):
        lat, lon = rng.uniform(*BOX[:2]), rng.uniform(*BOX[2:])
        service = "122" if i % 2 == 0 else "120"
        pid = f"BENCH-P-{i}"
        posts.append({"post_id": pid, "kind": "squad" if service == "122" else "ems_station", "name": f"压测岗{i}",
                      "lat": lat, "lon": lon, "approx": True})
        units.append({"unit_id": f"BENCH-{service}-{i}", "service": service,
                      "kind": "patrol" if service == "122" else "ambulance", "name": f"压测单位{i}",
                      "lat": lat, "lon": lon, "home": pid})
    return {"schema": "dispatch-resources/1", "city": "bench", "source": "synthetic (benchmark only)",
            "hospitals": [], "posts": posts, "units": units}


def accident(rng: random.Random, i: int, injured_only: bool = False) -> dict[str, Any]:
    """Realistic mix: most crashes are minor two-car ones; some injure, some flee, a few kill.
    ``injured_only``: the same mix of the crashes that injure (each needs an ambulance and the police)."""
    r = rng.random()
    if injured_only:
        r = 0.55 + 0.45 * r
    lat, lon = rng.uniform(*BOX[:2]), rng.uniform(*BOX[2:])
    injured = fatalities = 0
    hit_and_run = False
    movable = True
    n_parties = 2
    if r < 0.55:
        pass                                            # minor, two cars
    elif r < 0.85:
        injured, movable = rng.randint(1, 3), rng.random() < 0.5
    elif r < 0.95:
        injured, hit_and_run, n_parties = 1, True, 0
    else:
        injured, fatalities, movable = rng.randint(1, 4), rng.randint(1, 2), False
    insurers = ["PICC", "PINGAN", "CPIC"]
    parties = [{"name": rng.choice("张王李赵刘陈杨黄周吴") + "某", "phone": f"+86139{rng.randint(0, 10**8 - 1):08d}",
                "id_number": f"371502{rng.randint(1960, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
                             f"{rng.randint(0, 999):03d}{rng.choice('0123456789X')}",
                "plate": f"鲁P{i:05d}{k}", "vehicle_type": "car", "insurer": rng.choice(insurers),
                "ci_policy": f"POL{i}{k}", "licensed": True} for k in range(n_parties)]
    return {"schema": "accident-report/1", "report_id": f"bench-{i}-{uuid.uuid4().hex[:6]}", "source": rng.choice(
        ["122", "120", "12123", "video"]), "reported_at": datetime.now(CST).isoformat(timespec="seconds"),
        "location": {"lat": lat, "lon": lon}, "injured": injured, "fatalities": fatalities,
        "vehicles_movable": movable, "hit_and_run": hit_and_run, "hazards": [], "parties": parties}


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (``/proc/<pid>/stat``), its threads included."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_busy_s() -> float:
    """CPU seconds all cores spent busy (``/proc/stat``): every process, a database server's included."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq = (fields + [0] * 7)[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def vm_hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Run:
    def __init__(self, args: Any):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="accidentlink-bench-"))
        self.prefix = f"b{uuid.uuid4().hex[:6]}."
        self.broker = None
        self.procs: dict[str, subprocess.Popen] = {}
        self.bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        self.db_url = os.environ.get("DATABASE_URL") or f"sqlite:///{self.tmp / 'bench.db'}"

    # ------------------------------------------------------------ set-up
    def start(self) -> None:
        from connectors.kafka import ensure_topics
        from connectors.kafka_broker import LocalKafka, ensure_libs, free_port
        from connectors.sql.db import upgrade
        from claims.services import known_insurers
        from streams.topics import declared

        if not self.bootstrap:
            progress("starting a Kafka broker on free ports")
            ensure_libs(Path(os.environ.get("ACCIDENTLINK_VAR", Path.cwd() / ".var")))
            self.broker = LocalKafka(self.tmp / "kafka", port=free_port(), controller_port=free_port(), heap="1g")
            self.broker.start()
            self.bootstrap = self.broker.bootstrap
        ensure_topics(self.bootstrap, declared(known_insurers(), self.prefix) | {self.prefix + "baseline": 6, self.prefix + "floor.in": 6,
                                                                             self.prefix + "floor.out": 6})
        upgrade(self.db_url)
        res_dir = self.tmp / "resources"
        res_dir.mkdir()
        from dispatch.resources import DEFAULT_DATA_DIR

        for f in DEFAULT_DATA_DIR.glob("*.json"):
            (res_dir / f.name).write_bytes(f.read_bytes())
        (res_dir / "bench.json").write_text(json.dumps(synthetic_units(10_000, random.Random(1)), ensure_ascii=False))
        self.http_port = free_port()
        self.env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=self.bootstrap, DATABASE_URL=self.db_url,
                        ACCIDENTLINK_TOPIC_PREFIX=self.prefix, ACCIDENTLINK_VAR=str(self.tmp / "var"),
                        ACCIDENTLINK_RESOURCES=str(res_dir), HTTP_PORT=str(self.http_port), LOG_LEVEL="WARNING",
                        # nobody acknowledges in a benchmark: escalating every order would measure re-dispatch
                        DISPATCH_ACK_TIMEOUT_S=os.environ.get("DISPATCH_ACK_TIMEOUT_S", "3600"))
        for k in [k for k in self.env if k.startswith("TWILIO_")]:
            del self.env[k]
        subprocess.run([sys.executable, "-m", "accidentlink.cli", "demo"], env=self.env, check=True,
                       capture_output=True)
        progress("starting workers (dispatch, rescue-fund, claims) and web")
        for name, argv in {"dispatch": ["worker", "dispatch"], "rescue-fund": ["worker", "rescue-fund"],
                           "claims": ["worker", "claims"], "web": ["web"]}.items():
            log = open(self.tmp / f"{name}.log", "ab")
            self.procs[name] = subprocess.Popen([sys.executable, "-m", "accidentlink.cli", *argv], env=self.env,
                                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 120) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except Exception:
                time.sleep(0.5)
        raise SystemExit("the platform did not become healthy; see " + str(self.tmp))

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        if self.broker is not None:
            self.broker.stop()

    # ------------------------------------------------------------ measurements
    def reader(self, *topics: str) -> Any:
        """A consumer without a group, at the end of every partition of ``topics``: it reads what comes next."""
        from kafka import KafkaConsumer, TopicPartition

        c = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False)
        tps = [TopicPartition(t, p) for t in topics for p in c.partitions_for_topic(t)]
        c.assign(tps)
        c.seek_to_end(*tps)
        for tp in tps:
            c.position(tp)
        return c

    @property
    def db(self) -> Any:
        from connectors.sql.db import Database

        if not hasattr(self, "_db"):
            self._db = Database(self.db_url)
        return self._db

    def baseline(self, n: int = 20000) -> dict[str, float]:
        """Bare Kafka: the same broker, kafka-python producer and consumer, messages of a report's size."""
        from connectors.kafka import make_producer

        topic = self.prefix + "baseline"
        value = json.dumps(accident(random.Random(2), 0), ensure_ascii=False).encode()
        consumer = self.reader(topic)
        producer = make_producer(self.bootstrap)
        t0 = time.perf_counter()
        for i in range(n):
            producer.send(topic, key=str(i).encode(), value=value)
        producer.flush()
        got = 0
        while got < n:
            for recs in consumer.poll(timeout_ms=500).values():
                got += len(recs)
        rate = n / (time.perf_counter() - t0)
        rtts = []
        for i in range(200):
            t = time.perf_counter()
            producer.send(topic, key=b"rtt", value=value).get(timeout=10)
            while not any(consumer.poll(timeout_ms=100).values()):
                pass
            rtts.append((time.perf_counter() - t) * 1000)
        producer.close()
        consumer.close()
        return {"baseline_msgs_per_s": round(rate), "baseline_rtt_p50_ms": round(pct(rtts, 50), 2),
                "baseline_rtt_p99_ms": round(pct(rtts, 99), 2)}

    def kafka_floor(self, n: int = 3000, outbound_per_accident: float = 7.5) -> dict[str, float]:
        """The contract's Kafka traffic for ``n`` accidents and nothing else, on the same broker with the same
        client: each report produced once and read by three consumer groups, and the outbound messages
        one accident causes (7.5 in the realistic mix: incident changes, orders, claim events and their
        insurers' copies, fund cases) produced and read once. The machine's CPU for it is a floor under
        the CPU of an accident: no pipeline does less Kafka work than this."""
        from connectors.kafka import make_producer

        report = json.dumps(accident(random.Random(4), 0), ensure_ascii=False).encode()
        event = json.dumps({"schema": "incident/1", "pad": "x" * 1400}).encode()  # an incident change's size
        n_out = round(n * outbound_per_accident)

        readers = [(self.reader(self.prefix + "floor.in"), n) for _ in range(3)] + [(self.reader(self.prefix + "floor.out"), n_out)]
        producer = make_producer(self.bootstrap)
        busy0, t0 = machine_busy_s(), time.perf_counter()
        for i in range(n):
            producer.send(self.prefix + "floor.in", key=str(i).encode(), value=report)
        for i in range(n_out):
            producer.send(self.prefix + "floor.out", key=str(i).encode(), value=event)
        producer.flush()
        for c, want in readers:
            got = 0
            while got < want:
                got += sum(len(recs) for recs in c.poll(timeout_ms=500).values())
        elapsed, busy = time.perf_counter() - t0, machine_busy_s() - busy0
        producer.close()
        for c, _ in readers:
            c.close()
        ms = busy * 1000 / n
        return {"kafka_floor_cpu_ms_per_accident": round(ms, 3),
                "kafka_floor_accidents_per_s": round((os.cpu_count() or 1) * 1000 / max(ms, 0.001)),
                "kafka_floor_wall_accidents_per_s": round(n / elapsed)}

    def processed(self) -> dict[str, int]:
        from sqlalchemy import func, select

        from connectors.sql.models import ProcessedEvent

        with self.db.read() as s:
            rows = s.execute(select(ProcessedEvent.consumer, func.count()).where(
                ProcessedEvent.event_id.like("report:bench-%")).group_by(ProcessedEvent.consumer)).all()
        return {c: n for c, n in rows}

    def free_units(self) -> None:
        """Between phases every crew finishes its job (orders completed, units available again), so each
        phase starts with the whole fleet; nobody acknowledges or closes anything during a benchmark."""
        from sqlalchemy import update

        from accidentlink.clock import SystemClock
        from connectors.sql.models import OrderRow, UnitRow

        now = SystemClock().now()
        with self.db.uow() as uow:
            uow.session.execute(update(OrderRow).where(OrderRow.state == "active").values(state="completed"))
            uow.session.execute(update(UnitRow).where(UnitRow.status != "available").values(
                status="available", status_at=now, incident_id=None))
            uow.commit()
        time.sleep(2)  # the dispatcher reads changed statuses at its next batch

    def pids(self) -> dict[str, int]:
        out = {k: p.pid for k, p in self.procs.items()}
        if self.broker is not None and self.broker.running_pid():
            out["kafka"] = self.broker.running_pid()
        out["bench"] = os.getpid()  # the producer and the progress queries
        return out

    def throughput(self, n: int) -> dict[str, float]:
        from connectors.kafka import make_producer

        rng = random.Random(3)
        values = [json.dumps(accident(rng, i), ensure_ascii=False).encode() for i in range(n)]
        base = self.processed()
        producer = make_producer(self.bootstrap)
        progress(f"burst: producing {n} accidents")
        cpu0 = {k: cpu_s(pid) for k, pid in self.pids().items()}
        machine0 = machine_busy_s()
        t0 = time.perf_counter()
        for i, v in enumerate(values):
            producer.send(self.prefix + "accidents.reported", key=str(i).encode(), value=v)
        producer.flush()
        t_produced = time.perf_counter() - t0
        last = -1
        while True:
            done = self.processed()
            slowest = min(done.get(g, 0) - base.get(g, 0) for g in ("dispatch", "rescue-fund", "claims"))
            if slowest >= n:
                break
            if slowest != last:
                progress(f"burst: {slowest}/{n} through all three pipelines "
                         f"({', '.join(f'{g} {done.get(g, 0) - base.get(g, 0)}' for g in ('dispatch', 'rescue-fund', 'claims'))})")
                last = slowest
            if time.perf_counter() - t0 > self.args.burst_timeout:
                progress("burst: timed out")
                break
            time.sleep(1)
        elapsed = time.perf_counter() - t0
        # where the machine's CPU went: per process, in ms of CPU per accident, and how busy the cores were
        cpu = {k: cpu_s(pid) - cpu0.get(k, 0.0) for k, pid in self.pids().items()}
        done_n = max(1, min(n, slowest))
        shares = {f"burst_cpu_ms_per_accident_{k}": round(v * 1000 / done_n, 3) for k, v in cpu.items()}
        shares["burst_cpu_ms_per_accident"] = round(sum(cpu.values()) * 1000 / done_n, 3)
        shares["burst_cpu_busy"] = round(sum(cpu.values()) / (elapsed * (os.cpu_count() or 1)), 3)
        # the whole machine, whatever ran: a PostgreSQL server's processes are not among ours
        shares["burst_machine_cpu_ms_per_accident"] = round((machine_busy_s() - machine0) * 1000 / done_n, 3)
        producer.close()
        return {**shares, "burst_accidents": n, "burst_produce_s": round(t_produced, 2), "burst_elapsed_s": round(elapsed, 2),
                "accidents_per_s": round(min(n, slowest) / elapsed, 1)}

    def latency(self, rate: int, seconds: int, first: int) -> dict[str, Any]:
        """``first``: the phase's first accident number; phases must not repeat each other's crashes (same
        place, same plates: they would merge into the earlier incidents and never be measured)."""
        from connectors.kafka import make_producer

        sent: dict[str, float] = {}
        injured_incidents: dict[str, str] = {}
        orders: dict[str, list[float]] = {}
        fund_at: dict[str, float] = {}
        claim_at: dict[str, float] = {}
        incident_of_report: dict[str, str] = {}
        stop = threading.Event()

        def listen() -> None:
            c = self.reader(*(self.prefix + t for t in ("dispatch.orders", "incidents", "fund.cases", "claims.events")))
            ready.set()
            while not stop.is_set():
                for tp, recs in c.poll(timeout_ms=100).items():
                    now = time.perf_counter()
                    for r in recs:
                        v = json.loads(r.value)
                        t = tp.topic[len(self.prefix):]
                        if t == "incidents" and v.get("change") == "created":
                            incident_of_report[v.get("report_id")] = v["incident_id"]
                        elif t == "dispatch.orders":
                            orders.setdefault(v["incident_id"], []).append(now)
                        elif t == "fund.cases" and v.get("change") == "CaseOpened":
                            fund_at.setdefault(v["incident_id"], now)
                        elif t == "claims.events" and v.get("change") == "opened":
                            claim_at.setdefault(v["incident_id"], now)
            c.close()

        ready = threading.Event()
        th = threading.Thread(target=listen, daemon=True)
        th.start()
        ready.wait(30)
        producer = make_producer(self.bootstrap, linger_ms=0)
        rng = random.Random(first)
        total = rate * seconds
        progress(f"steady: {rate}/s for {seconds}s ({total} accidents)")
        t0 = time.perf_counter()
        for i in range(total):
            due = t0 + i / rate
            while (d := due - time.perf_counter()) > 0:
                time.sleep(min(d, 0.002))
            a = accident(rng, first + i)
            if a["injured"] or a["fatalities"]:
                injured_incidents[a["report_id"]] = ""
            sent[a["report_id"]] = time.perf_counter()
            producer.send(self.prefix + "accidents.reported", key=a["report_id"].encode(),
                          value=json.dumps(a, ensure_ascii=False).encode())
            if i % rate == 0 and i:
                progress(f"steady: {i}/{total} sent")
        producer.flush()
        # let the tail arrive before reading the figures (at most 30 s: a backlog beyond that is the figure)
        tail_deadline = time.perf_counter() + 30
        while time.perf_counter() < tail_deadline and sum(
                1 for rid in injured_incidents if len(orders.get(incident_of_report.get(rid, ""), [])) >= 2) < len(injured_incidents):
            time.sleep(0.5)
        stop.set()
        th.join(timeout=10)
        producer.close()
        both, fund, claim = [], [], []
        for rid in injured_incidents:
            inc = incident_of_report.get(rid)
            if inc and len(orders.get(inc, [])) >= 2:
                both.append((sorted(orders[inc])[1] - sent[rid]) * 1000)
            if inc and inc in fund_at:
                fund.append((fund_at[inc] - sent[rid]) * 1000)
        for rid, t in sent.items():
            inc = incident_of_report.get(rid)
            if inc and inc in claim_at:
                claim.append((claim_at[inc] - t) * 1000)
        return {"steady_rate_per_s": rate, "steady_seconds": seconds, "injured_sent": len(injured_incidents),
                "injured_with_both_orders": len(both),
                "p50_ms": round(pct(both, 50), 1), "p95_ms": round(pct(both, 95), 1), "p99_ms": round(pct(both, 99), 1),
                "fund_case_p50_ms": round(pct(fund, 50), 1), "fund_case_p99_ms": round(pct(fund, 99), 1),
                "claim_opened_p50_ms": round(pct(claim, 50), 1), "claim_opened_p99_ms": round(pct(claim, 99), 1)}

    def memory(self) -> dict[str, int]:
        out = {f"peak_rss_mb_{k}": vm_hwm_kb(p.pid) // 1024 for k, p in self.procs.items()}
        if self.broker is not None and self.broker.running_pid():
            out["peak_rss_mb_kafka"] = vm_hwm_kb(self.broker.running_pid()) // 1024
        return out


def main(args: Any) -> int:
    from accidentlink.logs import setup_logging
    from connectors.geo import bench_nearest

    setup_logging("WARNING")
    run = Run(args)
    results: dict[str, Any] = {}
    try:
        run.start()
        progress("baseline: bare Kafka produce -> consume")
        results.update(run.baseline())
        progress("Kafka floor: the contract's messages for 3,000 accidents, no pipeline")
        results.update(run.kafka_floor())
        progress("unit choice among 10,000 units")
        nb = bench_nearest(10_000, 2000)
        results.update({"unit_choice_mean_us": nb["index_mean_us"], "unit_choice_p99_us": nb["index_p99_us"],
                        "unit_choice_brute_mean_us": nb["brute_mean_us"]})
        results.update(run.throughput(args.burst))
        if args.low_rate:  # the same measurement at a rate one machine sustains, for the unsaturated figure
            run.free_units()
            results.update({"low_" + k: v for k, v in run.latency(args.low_rate, args.seconds, 10_000_000).items()})
        run.free_units()
        results.update(run.latency(args.rate, args.seconds, 20_000_000))
        results.update(run.memory())
    finally:
        run.stop()
    rows = [
        ("bare Kafka produce->consume (baseline)", f"{results['baseline_msgs_per_s']:,} msg/s"),
        ("bare Kafka round trip p50 / p99", f"{results['baseline_rtt_p50_ms']} / {results['baseline_rtt_p99_ms']} ms"),
        ("Kafka alone, the contract's messages per accident (floor)",
         f"{results['kafka_floor_cpu_ms_per_accident']} ms CPU per accident: at most "
         f"{results['kafka_floor_accidents_per_s']:,} accidents/s on these cores"),
        ("unit choice, 10,000 units: index mean / p99", f"{results['unit_choice_mean_us']} / {results['unit_choice_p99_us']} µs"),
        ("unit choice, brute-force geodesic mean", f"{results['unit_choice_brute_mean_us']:,} µs"),
        (f"burst of {results['burst_accidents']:,}: through all 3 pipelines", f"{results['accidents_per_s']:,} accidents/s"),
        ("  ratio to the bare Kafka rate", f"{results['accidents_per_s'] / results['baseline_msgs_per_s']:.3f}"),
        ("  CPU per accident, all processes (cores busy)",
         f"{results['burst_cpu_ms_per_accident']} ms ({results['burst_cpu_busy']:.0%} of {os.cpu_count()} cores)"),
        ("  CPU per accident by process", ", ".join(
            f"{k[len('burst_cpu_ms_per_accident_'):]} {v}" for k, v in results.items()
            if k.startswith("burst_cpu_ms_per_accident_")) + " ms"),
        ("  CPU per accident, whole machine (a DB server too)",
         f"{results['burst_machine_cpu_ms_per_accident']} ms"),
        ("  rate these cores allow at that CPU cost",
         f"{(os.cpu_count() or 1) * 1000 / max(results['burst_machine_cpu_ms_per_accident'], 0.001):,.0f} accidents/s"),
        (f"steady {results['steady_rate_per_s']}/s: report -> both orders p50/p95/p99",
         f"{results['p50_ms']} / {results['p95_ms']} / {results['p99_ms']} ms "
         f"({results['injured_with_both_orders']}/{results['injured_sent']} injured crashes measured)"),
        ("  p99 in bare-Kafka round trips", f"{results['p99_ms'] / max(results['baseline_rtt_p99_ms'], 0.01):.1f}x"),
        ("report -> fund case opened p50 / p99", f"{results['fund_case_p50_ms']} / {results['fund_case_p99_ms']} ms"),
        ("report -> claim opened p50 / p99", f"{results['claim_opened_p50_ms']} / {results['claim_opened_p99_ms']} ms"),
    ] + ([(f"steady {results['low_steady_rate_per_s']}/s: report -> both orders p50/p95/p99",
           f"{results['low_p50_ms']} / {results['low_p95_ms']} / {results['low_p99_ms']} ms "
           f"({results['low_injured_with_both_orders']}/{results['low_injured_sent']} injured crashes measured)")]
         if "low_p99_ms" in results else []) \
      + [(f"peak memory {k[len('peak_rss_mb_'):]}", f"{v} MB") for k, v in results.items() if k.startswith("peak_rss_mb_")]
    width = max(len(r[0]) for r in rows)
    print("\nAccidentLink benchmark (" + time.strftime("%Y-%m-%d %H:%M") + f", {os.cpu_count()} cores)")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    print(json.dumps(results, ensure_ascii=False))
    return 0
