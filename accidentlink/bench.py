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


def facts_message(report: bytes) -> bytes:
    """The ``intake.incident-facts`` message the intake publishes for a report that opens an incident."""
    from accidentlink.incidents import open_incident
    from accidentlink.intake_services import facts_message
    from accidentlink.reports import parse_report
    from connectors.sql.outbox import to_json_bytes

    r = parse_report(report)
    return to_json_bytes(facts_message(open_incident(r), r.to_json(), "created", r.reported_at, 1))


def floor_figures(prefix: str, cpu_ms: float, wall_per_s: float) -> dict[str, float]:
    return {f"{prefix}_cpu_ms_per_accident": round(cpu_ms, 3),
            f"{prefix}_accidents_per_s": round((os.cpu_count() or 1) * 1000 / max(cpu_ms, 0.001)),
            f"{prefix}_wall_accidents_per_s": round(wall_per_s)}


def key_of(group: str) -> str:
    return group.replace("-", "_")


class Waited(NamedTuple):
    """How a wait for work to be done went: when the slowest first moved (and how much it had done by then),
    when it was done (or the wait gave up) and how much it had done."""

    started_at: float
    started_with: int
    done_at: float
    done: int

    def rate(self) -> float:
        """Per second from the first sign of progress to the end: a worker's start-up is left out."""
        took = self.done_at - self.started_at
        return round((self.done - self.started_with) / took, 1) if took > 0 else float("nan")


class Run:
    def __init__(self, args: Any):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="accidentlink-bench-"))
        self.var = self.tmp / "var"
        self.prefix = f"b{uuid.uuid4().hex[:6]}."
        self.broker = None
        self.procs: dict[str, subprocess.Popen] = {}
        self.stores: dict[str, Any] = {}
        self.bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        # a SQLite file per context beside this name (connectors.sql.stores), or a PostgreSQL schema per context
        self.db_url = os.environ.get("DATABASE_URL") or f"sqlite:///{self.tmp / 'bench.db'}"
        self._producer: Any = None
        self._offsets: Any = None

    # ------------------------------------------------------------ set-up
    def start(self) -> None:
        """Broker, topics, every store, resources and demo data; no worker yet (see ``spawn``)."""
        from connectors.kafka import ensure_topics
        from connectors.kafka_broker import LocalKafka, ensure_libs, free_port, free_ports
        from connectors.sql.stores import upgrade_all
        from claims.services import known_insurers
        from streams.topics import declared

        if not self.bootstrap:
            progress("starting a Kafka broker on free ports")
            ensure_libs(Path(os.environ.get("ACCIDENTLINK_VAR", Path.cwd() / ".var")))
            ports = free_ports(2)
            self.broker = LocalKafka(self.tmp / "kafka", port=ports[0], controller_port=ports[1], heap="1g")
            self.broker.start()
            self.bootstrap = self.broker.bootstrap
        ensure_topics(self.bootstrap, declared(known_insurers(), self.prefix) | {
            self.prefix + t: 6 for t in ("baseline", "floor.in", "floor.area", "floor.facts", "floor.out")})
        upgrade_all(self.db_url, self.var)
        res_dir = self.tmp / "resources"
        res_dir.mkdir()
        from dispatch.resources import DEFAULT_DATA_DIR

        for f in DEFAULT_DATA_DIR.glob("*.json"):
            (res_dir / f.name).write_bytes(f.read_bytes())
        (res_dir / "bench.json").write_text(json.dumps(synthetic_units(10_000, random.Random(1)), ensure_ascii=False))
        self.http_port = free_port()
        self.env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=self.bootstrap, DATABASE_URL=self.db_url,
                        ACCIDENTLINK_TOPIC_PREFIX=self.prefix, ACCIDENTLINK_VAR=str(self.var),
                        ACCIDENTLINK_RESOURCES=str(res_dir), HTTP_PORT=str(self.http_port), LOG_LEVEL="WARNING",
                        # nobody acknowledges in a benchmark: escalating every order would measure re-dispatch
                        DISPATCH_ACK_TIMEOUT_S=os.environ.get("DISPATCH_ACK_TIMEOUT_S", "3600"))
        for k in [k for k in self.env if k.startswith("TWILIO_")]:
            del self.env[k]
        subprocess.run([sys.executable, "-m", "accidentlink.cli", "demo"], env=self.env, check=True,
                       capture_output=True)

    def spawn(self, *names: str) -> None:
        """Start processes as ``accidentlink run`` does (``CHILDREN``): a stage's worker by its group's name
        (``intake``, ``dispatch``, ...) or ``web``; each in its own session, its output in its own log."""
        from accidentlink.supervisor import CHILDREN

        for name in names:
            argv = CHILDREN.get(f"worker-{name}") or CHILDREN[name]
            with open(self.tmp / f"{name}.log", "ab") as log:
                self.procs[name] = subprocess.Popen([sys.executable, "-m", "accidentlink.cli", *argv], env=self.env,
                                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def halt(self, *names: str) -> None:
        procs = [self.procs.pop(n) for n in names if n in self.procs]
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)

    def start_platform(self) -> None:
        """Every stage's worker and the web; ready when one accident has gone through every stage."""
        from streams.topics import GROUPS

        progress(f"starting the workers ({', '.join(GROUPS)}) and the web")
        self.spawn(*GROUPS, "web")
        self.wait_healthy()
        base = self.processed()
        self.produce(self.accidents(1, FIRST["warm-up"]))
        self.wait("warm-up: one accident through every stage", 1, self.handled(GROUPS, base))

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
        self.halt(*list(self.procs))
        for client in (self._producer, self._offsets):
            if client is not None:
                client.close()
        for db in self.stores.values():
            db.dispose()
        if self.broker is not None:
            self.broker.stop()

    # ------------------------------------------------------------ helpers
    def reader(self, *topics: str) -> Any:
        """A consumer without a group, at the end of every partition of ``topics``: it reads what comes next."""
        from kafka import TopicPartition

        from connectors.kafka import make_reader

        c = make_reader(self.bootstrap)
        tps = [TopicPartition(t, p) for t in topics for p in c.partitions_for_topic(t)]
        c.assign(tps)
        c.seek_to_end(*tps)
        for tp in tps:
            c.position(tp)
        return c

    def store(self, context: str) -> Any:
        """One context's store, as its workers find it (``connectors.sql.stores``)."""
        from connectors.sql.db import Database
        from connectors.sql.stores import url_for

        if context not in self.stores:
            self.stores[context] = Database(url_for(context, self.db_url, self.var, self.env))
        return self.stores[context]

    @property
    def producer(self) -> Any:
        from connectors.kafka import make_producer

        if self._producer is None:
            self._producer = make_producer(self.bootstrap)
        return self._producer

    def accidents(self, n: int, first: int) -> list[tuple[bytes, bytes]]:
        """``n`` reports of the realistic mix, numbered from ``first``: (key, value) for ``accidents.reported``."""
        rng = random.Random(first or 3)
        reports = [accident(rng, first + i) for i in range(n)]
        return [(a["report_id"].encode(), json.dumps(a, ensure_ascii=False).encode()) for a in reports]

    def produce(self, messages: list[tuple[bytes, bytes]]) -> None:
        for key, value in messages:
            self.producer.send(self.prefix + "accidents.reported", key=key, value=value)
        self.producer.flush()

    def published(self, topic: str) -> int:
        """Messages on ``topic`` so far: the sum of its partitions' end offsets."""
        from kafka import TopicPartition

        from connectors.kafka import make_reader

        if self._offsets is None:
            self._offsets = make_reader(self.bootstrap)
        name = self.prefix + topic
        return sum(self._offsets.end_offsets([TopicPartition(name, p)
                                              for p in self._offsets.partitions_for_topic(name)]).values())

    def publishing(self, topic: str) -> Callable[[], dict[str, int]]:
        """Messages put on ``topic`` from now on, to be asked again and again."""
        base = self.published(topic)
        return lambda: {topic: self.published(topic) - base}

    def processed(self, groups: Iterable[str] = ()) -> dict[str, int]:
        """Benchmark reports each consumer group has handled: its inbox rows in its own store (all groups
        unless named)."""
        from sqlalchemy import func, select

        from accidentlink.bootstrap import STORE_OF
        from connectors.sql.models import ProcessedEvent

        out = {}
        for group in groups or STORE_OF:
            with self.store(STORE_OF[group]).read() as s:
                out[group] = s.scalar(select(func.count()).select_from(ProcessedEvent).where(
                    ProcessedEvent.consumer == group, ProcessedEvent.event_id.like("report:bench-%")))
        return out

    def handled(self, groups: Iterable[str], base: dict[str, int]) -> Callable[[], dict[str, int]]:
        """What ``groups`` have handled since ``base`` (a ``processed()``), to be asked again and again."""
        return lambda: {g: k - base.get(g, 0) for g, k in self.processed(groups).items()}

    def wait(self, label: str, n: int, count: Callable[[], dict[str, int]], poll: float = 1.0) -> Waited:
        """Until every figure of ``count()`` reaches ``n`` (at most ``--burst-timeout`` seconds)."""
        t0 = last_note = time.perf_counter()
        started: tuple[float, int] | None = None
        while True:
            done = count()
            slowest, now = min(done.values()), time.perf_counter()
            if started is None and slowest > 0:
                started = (now, slowest)
            if slowest >= n:
                break
            if now - last_note >= 5:
                progress(f"{label}: {slowest}/{n} ({', '.join(f'{g} {k}' for g, k in done.items())})")
                last_note = now
            if now - t0 > self.args.burst_timeout:
                progress(f"{label}: timed out")
                break
            time.sleep(poll)
        return Waited(*(started or (now, slowest)), now, min(n, slowest))

    def free_units(self) -> None:
        """Between phases every crew finishes its job (orders completed, units available again), so each
        phase starts with the whole fleet; nobody acknowledges or closes anything during a benchmark."""
        from sqlalchemy import update

        from accidentlink.clock import SystemClock
        from connectors.sql.models import OrderRow, UnitRow

        now = SystemClock().now()
        with self.store("dispatch").uow() as uow:
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

    # ------------------------------------------------------------ measurements
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
        """The Kafka traffic of ``n`` accidents and nothing else, on the same broker with the same client;
        the machine's CPU for it is a floor under the CPU of an accident: no pipeline does less Kafka work.
        - the contract's: each report produced once and read by three consumer groups, and the outbound
          messages one accident causes (7.5 in the realistic mix: incident changes, orders, claim events and
          their insurers' copies, fund cases) produced and read once (``kafka_floor_*``);
        - the platform's (``kafka_floor_platform_*``): the same outbound messages; the report read by the
          intake alone, re-keyed by area (one more message, read once) and one ``intake.incident-facts``
          message read by the four groups behind it (dispatch, rescue fund, claims, hospitals)."""
        report = json.dumps(accident(random.Random(4), 0), ensure_ascii=False).encode()
        event = json.dumps({"schema": "incident/1", "pad": "x" * 1400}).encode()  # an incident change's size
        outbound = (event, outbound_per_accident, 1)
        contract = {"floor.in": (report, 1, 3), "floor.out": outbound}
        platform = {"floor.in": (report, 1, 1), "floor.area": (report, 1, 1),
                    "floor.facts": (facts_message(report), 1, 4), "floor.out": outbound}
        return {**floor_figures("kafka_floor", *self.kafka_traffic(n, contract)),
                **floor_figures("kafka_floor_platform", *self.kafka_traffic(n, platform))}

    def kafka_traffic(self, n: int, traffic: dict[str, tuple[bytes, float, int]]) -> tuple[float, float]:
        """``traffic``: per topic, its message, how many of it one accident causes and how many groups read
        each. Returns the machine's CPU per accident (ms) and the accidents per second of wall time."""
        from connectors.kafka import make_producer

        readers = [(self.reader(self.prefix + topic), round(n * per)) for topic, (_, per, groups) in traffic.items()
                   for _ in range(groups)]
        producer = make_producer(self.bootstrap)
        busy0, t0 = machine_busy_s(), time.perf_counter()
        for topic, (value, per, _) in traffic.items():
            for i in range(round(n * per)):
                producer.send(self.prefix + topic, key=str(i).encode(), value=value)
        producer.flush()
        for c, want in readers:
            got = 0
            while got < want:
                got += sum(len(recs) for recs in c.poll(timeout_ms=500).values())
        elapsed, busy = time.perf_counter() - t0, machine_busy_s() - busy0
        producer.close()
        for c, _ in readers:
            c.close()
        return busy * 1000 / n, n / elapsed

    def stage_rates(self, n: int) -> dict[str, float]:
        """Each stage with the machine's cores to itself (the broker aside), every other worker stopped:
        ``n`` reports wait on ``accidents.reported``; the intake alone until it has published the facts of
        them all (``intake.incident-facts``), then each pipeline alone until it has handled those facts.
        A rate counts from a stage's first batch done to its last, its start-up left out."""
        from streams.topics import FACTS, GROUPS

        progress(f"stages: producing {n} accidents, then each stage alone")
        self.produce(self.accidents(n, FIRST["stages"]))
        out = {}
        for group in GROUPS:
            count = self.publishing(FACTS) if group == "intake" else self.handled([group], self.processed([group]))
            self.spawn(group)
            waited = self.wait(f"stage {group} alone", n, count, poll=0.2)
            self.halt(group)
            out[f"stage_rate_{key_of(group)}"] = waited.rate()
            progress(f"stage {group} alone: {waited.rate()} reports/s")
        return out

    def throughput(self, n: int) -> dict[str, float]:
        from streams.topics import GROUPS

        messages = self.accidents(n, FIRST["burst"])
        base = self.processed()
        progress(f"burst: producing {n} accidents")
        cpu0 = {k: cpu_s(pid) for k, pid in self.pids().items()}
        machine0 = machine_busy_s()
        t0 = time.perf_counter()
        self.produce(messages)
        t_produced = time.perf_counter() - t0
        waited = self.wait("burst: through every stage", n, self.handled(GROUPS, base))
        elapsed = waited.done_at - t0
        # where the machine's CPU went: per process, in ms of CPU per accident, and how busy the cores were
        cpu = {k: cpu_s(pid) - cpu0.get(k, 0.0) for k, pid in self.pids().items()}
        done_n = max(1, waited.done)
        shares = {f"burst_cpu_ms_per_accident_{k}": round(v * 1000 / done_n, 3) for k, v in cpu.items()}
        shares["burst_cpu_ms_per_accident"] = round(sum(cpu.values()) * 1000 / done_n, 3)
        shares["burst_cpu_busy"] = round(sum(cpu.values()) / (elapsed * (os.cpu_count() or 1)), 3)
        # the whole machine, whatever ran: a PostgreSQL server's processes are not among ours
        shares["burst_machine_cpu_ms_per_accident"] = round((machine_busy_s() - machine0) * 1000 / done_n, 3)
        return {**shares, "burst_accidents": n, "burst_produce_s": round(t_produced, 2), "burst_elapsed_s": round(elapsed, 2),
                "accidents_per_s": round(waited.done / elapsed, 1)}

    def isolation(self, n: int, rate: int, seconds: int) -> dict[str, Any]:
        """Dispatch while the rescue fund and claims work through a burst of ``n``: once the intake and
        dispatch are through it (the fleet freed then), injured crashes at ``rate``/s, report -> both orders.
        How many reports the fund and claims still had to handle when the last was sent says whether the
        figure was taken under their backlog (``backlog_behind_*``)."""
        from streams.topics import GROUPS

        first = FIRST["backlog"]
        base = self.processed()
        progress(f"backlog: producing {n} accidents")
        t0 = time.perf_counter()
        self.produce(self.accidents(n, first))
        caught_up = self.wait("backlog: the intake and dispatch through the burst", n,
                              self.handled(["intake", "dispatch"], base)).done_at - t0
        self.free_units()
        total = n + rate * seconds

        def behind() -> dict[str, int]:
            done = self.handled(["rescue-fund", "claims"], base)()
            progress("backlog: the last crash sent; still to handle: "
                     + ", ".join(f"{g} {total - k}" for g, k in done.items()))
            return {f"behind_{key_of(g)}": total - k for g, k in done.items()}

        r = self.latency(rate, seconds, first + n, injured_only=True, after_sending=behind)
        self.wait("backlog: every stage through it", total, self.handled(GROUPS, base))  # the next phase starts clean
        out = {"backlog_" + k: v for k, v in {"burst": n, "dispatch_caught_up_s": round(caught_up, 1), **r}.items()}
        return {"dispatch_p99_ms_under_backlog": r["p99_ms"], **out}

    def latency(self, rate: int, seconds: int, first: int, injured_only: bool = False,
                after_sending: Callable[[], dict[str, Any]] | None = None) -> dict[str, Any]:
        """``first``: the phase's first accident number (``FIRST``). ``after_sending``: figures to take as soon
        as the last report is sent."""
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
        progress(f"steady: {rate}/s for {seconds}s ({total} {'injured ' if injured_only else ''}accidents)")
        t0 = time.perf_counter()
        for i in range(total):
            due = t0 + i / rate
            while (d := due - time.perf_counter()) > 0:
                time.sleep(min(d, 0.002))
            a = accident(rng, first + i, injured_only)
            if a["injured"] or a["fatalities"]:
                injured_incidents[a["report_id"]] = ""
            sent[a["report_id"]] = time.perf_counter()
            producer.send(self.prefix + "accidents.reported", key=a["report_id"].encode(),
                          value=json.dumps(a, ensure_ascii=False).encode())
            if i % rate == 0 and i:
                progress(f"steady: {i}/{total} sent")
        producer.flush()
        extra = after_sending() if after_sending else {}
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
                "claim_opened_p50_ms": round(pct(claim, 50), 1), "claim_opened_p99_ms": round(pct(claim, 99), 1),
                **extra}

    def memory(self) -> dict[str, int]:
        out = {f"peak_rss_mb_{k}": vm_hwm_kb(p.pid) // 1024 for k, p in self.procs.items()}
        if self.broker is not None and self.broker.running_pid():
            out["peak_rss_mb_kafka"] = vm_hwm_kb(self.broker.running_pid()) // 1024
        return out


def ratios_to_floors(results: dict[str, Any]) -> dict[str, float]:
    """The burst's CPU per accident (all processes) over each floor of the same run."""
    cpu = results["burst_cpu_ms_per_accident"]
    return {key: round(cpu / max(results[f"{floor}_cpu_ms_per_accident"], 0.001), 2)
            for floor, key in (("kafka_floor_platform", "cpu_to_floor_ratio"),
                               ("kafka_floor", "cpu_to_contract_floor_ratio"))}


def floor_row(results: dict[str, Any], prefix: str, label: str) -> tuple[str, str]:
    return (label, f"{results[prefix + '_cpu_ms_per_accident']} ms CPU per accident: at most "
                   f"{results[prefix + '_accidents_per_s']:,} accidents/s on these cores")


def steady_row(results: dict[str, Any], prefix: str, label: str) -> tuple[str, str]:
    """Report -> both orders p50/p95/p99 of a steady phase whose figures carry ``prefix``."""
    r = {k[len(prefix):]: v for k, v in results.items() if k.startswith(prefix)}
    return (f"{label} {r['steady_rate_per_s']}/s: report -> both orders p50/p95/p99",
            f"{r['p50_ms']} / {r['p95_ms']} / {r['p99_ms']} ms "
            f"({r['injured_with_both_orders']}/{r['injured_sent']} injured crashes measured)")


def main(args: Any) -> int:
    from accidentlink.logs import setup_logging
    from connectors.geo import bench_nearest
    from streams.topics import GROUPS

    setup_logging("WARNING")
    run = Run(args)
    results: dict[str, Any] = {}
    try:
        run.start()
        progress("baseline: bare Kafka produce -> consume")
        results.update(run.baseline())
        progress("Kafka floors: the contract's and the platform's messages for 3,000 accidents, no pipeline")
        results.update(run.kafka_floor())
        progress("unit choice among 10,000 units")
        nb = bench_nearest(10_000, 2000)
        results.update({"unit_choice_mean_us": nb["index_mean_us"], "unit_choice_p99_us": nb["index_p99_us"],
                        "unit_choice_brute_mean_us": nb["brute_mean_us"]})
        if args.stage_n:
            results.update(run.stage_rates(args.stage_n))
            run.free_units()
        run.start_platform()
        results.update(run.throughput(args.burst))
        results.update(ratios_to_floors(results))
        if args.backlog_rate:
            run.free_units()
            results.update(run.isolation(args.burst, args.backlog_rate, args.seconds))
        if args.low_rate:  # the same measurement at a rate one machine sustains, for the unsaturated figure
            run.free_units()
            results.update({"low_" + k: v for k, v in run.latency(args.low_rate, args.seconds, FIRST["low"]).items()})
        run.free_units()
        results.update(run.latency(args.rate, args.seconds, FIRST["steady"]))
        results.update(run.memory())
    finally:
        run.stop()
    stages = [g for g in GROUPS if f"stage_rate_{key_of(g)}" in results]
    rows = [
        ("bare Kafka produce->consume (baseline)", f"{results['baseline_msgs_per_s']:,} msg/s"),
        ("bare Kafka round trip p50 / p99", f"{results['baseline_rtt_p50_ms']} / {results['baseline_rtt_p99_ms']} ms"),
        floor_row(results, "kafka_floor", "Kafka alone, the contract's traffic per accident (floor)"),
        floor_row(results, "kafka_floor_platform", "Kafka alone, the platform's traffic, internal too (floor)"),
        ("unit choice, 10,000 units: index mean / p99", f"{results['unit_choice_mean_us']} / {results['unit_choice_p99_us']} µs"),
        ("unit choice, brute-force geodesic mean", f"{results['unit_choice_brute_mean_us']:,} µs"),
    ] + [(f"{g} alone, {args.stage_n:,} reports", f"{results[f'stage_rate_{key_of(g)}']:,} reports/s") for g in stages] + [
        (f"burst of {results['burst_accidents']:,}: through every stage", f"{results['accidents_per_s']:,} accidents/s"),
        ("  ratio to the bare Kafka rate", f"{results['accidents_per_s'] / results['baseline_msgs_per_s']:.3f}"),
        ("  CPU per accident, all processes (cores busy)",
         f"{results['burst_cpu_ms_per_accident']} ms ({results['burst_cpu_busy']:.0%} of {os.cpu_count()} cores)"),
        ("  ... to the platform's floor (the contract's)",
         f"{results['cpu_to_floor_ratio']}x ({results['cpu_to_contract_floor_ratio']}x)"),
        ("  CPU per accident by process", ", ".join(
            f"{k[len('burst_cpu_ms_per_accident_'):]} {v}" for k, v in results.items()
            if k.startswith("burst_cpu_ms_per_accident_")) + " ms"),
        ("  CPU per accident, whole machine (a DB server too)",
         f"{results['burst_machine_cpu_ms_per_accident']} ms"),
        ("  rate these cores allow at that CPU cost",
         f"{(os.cpu_count() or 1) * 1000 / max(results['burst_machine_cpu_ms_per_accident'], 0.001):,.0f} accidents/s"),
    ] + ([steady_row(results, "backlog_", f"after a burst of {results['backlog_burst']:,}, injured"),
          ("  dispatch through that burst after", f"{results['backlog_dispatch_caught_up_s']} s"),
          ("  still to handle at the last crash: fund / claims",
           f"{results['backlog_behind_rescue_fund']:,} / {results['backlog_behind_claims']:,} reports")]
         if "dispatch_p99_ms_under_backlog" in results else []) \
      + ([steady_row(results, "low_", "steady")] if "low_p99_ms" in results else []) + [
        steady_row(results, "", "steady"),
        ("  p99 in bare-Kafka round trips", f"{results['p99_ms'] / max(results['baseline_rtt_p99_ms'], 0.01):.1f}x"),
        ("report -> fund case opened p50 / p99", f"{results['fund_case_p50_ms']} / {results['fund_case_p99_ms']} ms"),
        ("report -> claim opened p50 / p99", f"{results['claim_opened_p50_ms']} / {results['claim_opened_p99_ms']} ms"),
    ] + [(f"peak memory {k[len('peak_rss_mb_'):]}", f"{v} MB") for k, v in results.items() if k.startswith("peak_rss_mb_")]
    width = max(len(r[0]) for r in rows)
    print("\nAccidentLink benchmark (" + time.strftime("%Y-%m-%d %H:%M") + f", {os.cpu_count()} cores)")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    print(json.dumps(results, ensure_ascii=False))
    return 0
