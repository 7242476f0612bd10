"""A real, local, single-node Apache Kafka broker (KRaft, combined broker+controller).

No Docker here: the broker's classpath is fetched from Maven Central once with ``mvn``
(see ``connectors/broker/pom.xml``) and the broker runs as a ``java`` subprocess.

    libs = ensure_libs(Path(".var"))                       # once, cached (marker file)
    with LocalKafka(Path(".var/kafka"), port=9092) as k:   # start() + wait_ready()
        print(k.bootstrap)                                 # "127.0.0.1:9092"

Secure mode (``LocalKafka(..., secure=True)``, ``--secure``): the client listener is SASL_SSL (SCRAM-SHA-512)
with a throw-away CA and broker certificate (``connectors.kafka_tls``, keytool); the SCRAM users ``admin`` (the
super user) and one per service (``connectors/data/kafka-acls.json``) are written when the storage is formatted
(``--add-scram``, KIP-900), each with a random password kept owner-only in ``<data>/secrets/<user>``; the
``StandardAuthorizer`` denies what no ACL allows, and the table's ACLs are created once the broker is up. The
controller listener (127.0.0.1 only) takes SASL PLAIN as ``admin``: SCRAM is not available there in KRaft.
``client_security(user)`` gives a client's settings (``KafkaSecurity``) for one of those users.

Command line (foreground until SIGINT/SIGTERM, then a clean stop):

    python -m connectors.kafka_broker start  --data .var/kafka --port 9092
    python -m connectors.kafka_broker status --data .var/kafka --port 9092
    python -m connectors.kafka_broker stop   --data .var/kafka

Kafka 3.9.x on purpose: 4.0 removed old protocol versions (KIP-896) and aiokafka (under
faust) is not known to work with it.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from accidentlink.settings import KafkaSecurity

log = logging.getLogger(__name__)

KAFKA_VERSION = "3.9.1"
BROKER_RESOURCES = Path(__file__).resolve().parent / "broker"
POM_PATH = BROKER_RESOURCES / "pom.xml"
LOG4J_PATH = BROKER_RESOURCES / "log4j.properties"
_MARKER = "libs.complete"
_BROKER_JAR = f"kafka_2.13-{KAFKA_VERSION}.jar"


class BrokerError(RuntimeError):
    """The local broker could not be fetched, formatted, started or stopped."""


def default_var_dir() -> Path:
    """``$ACCIDENTLINK_VAR`` or ``./.var`` (git-ignored)."""
    return Path(os.environ.get("ACCIDENTLINK_VAR") or (Path.cwd() / ".var"))


def _tail(text: str | bytes, lines: int = 40) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _tail_file(path: Path, lines: int = 40) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            return _tail(fh.read(), lines)
    except OSError:
        return ""


# --------------------------------------------------------------------------- libs (Maven)

def ensure_libs(var_dir: Path, *, mvn: str | None = None, timeout_s: float = 1800) -> Path:
    """Fetch the broker classpath into ``<var_dir>/kafka-3.9.1/libs`` (once) and return it.

    Skipped when the marker file says a complete fetch of the same pom already happened.
    Safe against concurrent callers (file lock); fetches into a temp dir, then renames.
    Raises :class:`BrokerError` with the tail of Maven's output on failure.
    """
    var_dir = Path(var_dir).resolve()  # Maven runs in another directory: relative paths would point elsewhere
    root = var_dir / f"kafka-{KAFKA_VERSION}"
    libs = root / "libs"
    marker = root / _MARKER
    pom_bytes = POM_PATH.read_bytes()
    digest = hashlib.sha256(pom_bytes).hexdigest()

    def complete() -> bool:
        try:
            return marker.read_text().strip() == digest and (libs / _BROKER_JAR).is_file()
        except OSError:
            return False

    if complete():
        return libs
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if complete():                      # another process fetched while we waited
            return libs
        mvn = mvn or os.environ.get("MVN") or shutil.which("mvn")
        if not mvn:
            raise BrokerError("Maven ('mvn') not found on PATH; it is needed once to fetch "
                              f"the Kafka {KAFKA_VERSION} broker classpath into {libs}")
        # Run on a copy of the pom: the package dir may be read-only (site-packages).
        (root / "pom.xml").write_bytes(pom_bytes)
        tmp = root / f"libs.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [mvn, "-q", "-B", "-f", str(root / "pom.xml"),
               "dependency:copy-dependencies", "-DincludeScope=runtime",
               f"-DoutputDirectory={tmp}"]
        log.info("fetching Kafka %s broker classpath with Maven into %s", KAFKA_VERSION, libs)
        t0 = time.monotonic()
        try:
            res = subprocess.run(cmd, cwd=root, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 timeout=timeout_s)
        except subprocess.TimeoutExpired as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise BrokerError(f"Maven timed out after {timeout_s}s fetching the Kafka "
                              f"classpath:\n{_tail(e.output or b'')}") from None
        if res.returncode != 0 or not (tmp / _BROKER_JAR).is_file():
            shutil.rmtree(tmp, ignore_errors=True)
            raise BrokerError(
                f"Maven failed (exit {res.returncode}) fetching the Kafka {KAFKA_VERSION} "
                f"classpath; command: {' '.join(cmd)}\n--- last lines of Maven output ---\n"
                f"{_tail(res.stdout) or '(no output)'}")
        shutil.rmtree(libs, ignore_errors=True)
        tmp.rename(libs)
        marker.write_text(digest + "\n")
        log.info("Kafka classpath ready: %d jars in %.1fs",
                 len(list(libs.glob("*.jar"))), time.monotonic() - t0)
        return libs


# --------------------------------------------------------------------------- helpers

def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (the usual small race applies)."""
    return free_ports(1, host)[0]


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct TCP ports free right now: all are held at once while chosen, so that two calls in a row
    cannot be handed the same port (a broker's client and controller ports must differ)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(n)]
        for s in socks:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in socks]


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return [a.decode("utf-8", "replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return []


def _new_cluster_id() -> str:
    # Same shape as org.apache.kafka.common.Uuid.randomUuid(): base64url of 16 bytes, no
    # padding; never starting with '-' (it would be read as a command line option).
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def _kafka_admin_ok(bootstrap: str, timeout_s: float = 5.0,
                    security: "KafkaSecurity | None" = None) -> tuple[bool, str]:
    """(True, "") if a kafka-python admin call succeeds against ``bootstrap``."""
    from accidentlink.settings import KafkaSecurity
    from connectors.kafka import admin_client

    admin = None
    try:
        # the probe of a plaintext broker is plaintext whatever this process's settings say
        admin = admin_client(bootstrap, timeout_s, security=security or KafkaSecurity(),
                             client_id="accidentlink-probe")
        meta = admin.describe_cluster()
        if not meta.get("brokers"):
            return False, "describe_cluster returned no brokers"
        return True, ""
    except Exception as e:  # noqa: BLE001 - any failure means "not ready"
        return False, f"{type(e).__name__}: {e}"
    finally:
        if admin is not None:
            with contextlib.suppress(Exception):
                admin.close()


# --------------------------------------------------------------------------- broker

class LocalKafka:
    """One KRaft broker+controller (node.id=1) on 127.0.0.1, data under ``data_dir``.

    Files in ``data_dir``: server.properties, cluster.id, broker.pid, broker.out (JVM
    stdout/stderr), logs/server.log (log4j), kraft-logs/ (the topic data).
    """

    def __init__(self, data_dir: Path, port: int = 9092, controller_port: int = 9093,
                 heap: str = "512m", *, var_dir: Path | None = None,
                 libs_dir: Path | None = None, java: str | None = None,
                 extra_props: dict[str, str] | None = None, secure: bool = False,
                 users: Sequence[str] | None = None, acl_prefix: str = ""):
        if port == controller_port:
            raise ValueError("port and controller_port must differ")
        self.data_dir = Path(data_dir).resolve()
        self.port = int(port)
        self.controller_port = int(controller_port)
        self.heap = heap
        self.var_dir = Path(var_dir) if var_dir else default_var_dir()
        self._libs_dir = Path(libs_dir) if libs_dir else None
        self.java = java or os.environ.get("JAVA") or shutil.which("java") or "java"
        self.extra_props = dict(extra_props or {})
        self.secure = secure
        self.acl_prefix = acl_prefix
        self._users = list(users) if users is not None else None
        self._proc: subprocess.Popen | None = None
        self._adopted_pid: int | None = None
        self._out_fh = None
        self.started_at: float | None = None
        self.last_start_seconds: float | None = None

    # -- paths / properties
    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def props_path(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def out_path(self) -> Path:
        return self.data_dir / "broker.out"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def kraft_dir(self) -> Path:
        return self.data_dir / "kraft-logs"

    @property
    def pid(self) -> int | None:
        if self._proc is not None:
            return self._proc.pid
        return self._adopted_pid

    def libs(self) -> Path:
        if self._libs_dir is None:
            self._libs_dir = ensure_libs(self.var_dir)
        return self._libs_dir

    def cluster_id(self) -> str:
        """Generated once, kept in ``data_dir/cluster.id``."""
        path = self.data_dir / "cluster.id"
        if path.is_file():
            cid = path.read_text().strip()
            if cid:
                return cid
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cid = _new_cluster_id()
        path.write_text(cid + "\n")
        return cid

    # -- secure mode: certificates, SCRAM users, ACLs
    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"

    def users(self) -> list[str]:
        """The SCRAM users: the super user ``admin`` and one per service of the ACL table."""
        if self._users is None:
            from connectors.kafka_acls import principals

            self._users = principals()
        return ["admin", *[u for u in self._users if u != "admin"]]

    def password(self, user: str) -> str:
        """``user``'s password, made at random once and kept owner-only in ``<data>/secrets/<user>``."""
        import secrets as _secrets

        path = self.secrets_dir / user
        if path.is_file():
            return path.read_text().strip()
        self.secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        pw = _secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(pw + "\n")
        return pw

    def pki(self):  # -> connectors.kafka_tls.Pki
        from connectors.kafka_tls import throwaway_pki

        return throwaway_pki(self.data_dir / "tls", hosts=("localhost", "127.0.0.1"))

    def client_security(self, user: str = "admin", password: str | None = None) -> "KafkaSecurity":
        """A client's settings against this broker: SASL_SSL as ``user`` (PLAINTEXT for a plain broker)."""
        from accidentlink.settings import KafkaSecurity

        if not self.secure:
            return KafkaSecurity()
        return KafkaSecurity(protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", username=user,
                             password=password if password is not None else self.password(user),
                             cafile=str(self.pki().ca_pem))

    def _secure_properties(self) -> dict[str, str]:
        pki = self.pki()
        admin_pw = self.password("admin")
        return {
            "listeners": (f"SASL_SSL://127.0.0.1:{self.port},"
                          f"CONTROLLER://127.0.0.1:{self.controller_port}"),
            "advertised.listeners": f"SASL_SSL://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "SASL_SSL",
            "listener.security.protocol.map": "CONTROLLER:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
                ("org.apache.kafka.common.security.scram.ScramLoginModule required "
                 f'username="admin" password="{admin_pw}";'),
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config":
                ("org.apache.kafka.common.security.plain.PlainLoginModule required "
                 f'username="admin" password="{admin_pw}" user_admin="{admin_pw}";'),
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(pki.keystore),
            "ssl.keystore.password": pki.password,
            "ssl.key.password": pki.password,
            "ssl.truststore.type": "PKCS12",
            "ssl.truststore.location": str(pki.truststore),
            "ssl.truststore.password": pki.password,
            "ssl.client.auth": "none",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": "User:admin",
            "allow.everyone.if.no.acl.found": "false",
            # faust and the workers never declare topics; a denied auto-create must not hide a missing ACL
            "auto.create.topics.enable": "false",
        }

    def apply_acls(self, prefix: str | None = None) -> int:
        """The ACL table's ACLs (names prefixed), created as ``admin``; returns how many."""
        from connectors.kafka import admin_client
        from connectors.kafka_acls import bindings, create_acls

        with contextlib.closing(admin_client(self.bootstrap, 30, security=self.client_security("admin"))) as admin:
            return create_acls(admin, bindings(prefix=self.acl_prefix if prefix is None else prefix))

    def properties(self) -> dict[str, str]:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": (f"PLAINTEXT://127.0.0.1:{self.port},"
                          f"CONTROLLER://127.0.0.1:{self.controller_port}"),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.kraft_dir),
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",   # faust creates its internal topics
            "log.retention.hours": "87600",         # ten years: a dev/test box keeps all
            "log.segment.bytes": "104857600",
            "num.recovery.threads.per.data.dir": "1",
            # After a SIGKILL the restarted broker cannot register until the dead
            # incarnation's session expires (DUPLICATE_BROKER_REGISTRATION): default 9 s.
            "broker.session.timeout.ms": "4000",
            "broker.heartbeat.interval.ms": "1000",
        }
        if self.secure:
            props.update(self._secure_properties())
        props.update(self.extra_props)
        return props

    def write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        body = "".join(f"{k}={v}\n" for k, v in self.properties().items())
        fd = os.open(self.props_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # passwords, in secure mode
        with os.fdopen(fd, "w") as fh:
            fh.write("# written by connectors.kafka_broker.LocalKafka\n" + body)
        self.props_path.chmod(0o600)
        return self.props_path

    def _java_base(self) -> list[str]:
        return [self.java, f"-Xmx{self.heap}", f"-Xms{self.heap}" if self.heap else "",
                "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:+ExitOnOutOfMemoryError",
                "-Djava.awt.headless=true",
                f"-Dkafka.logs.dir={self.log_dir}",
                f"-Dlog4j.configuration=file:{LOG4J_PATH}",
                "-cp", str(self.libs() / "*")]

    def is_formatted(self) -> bool:
        meta = self.kraft_dir / "meta.properties"
        try:
            return f"cluster.id={self.cluster_id()}" in meta.read_text().splitlines()
        except OSError:
            return False

    def format(self) -> None:
        """``kafka.tools.StorageTool format`` (idempotent: --ignore-formatted).

        Skipped (saves a JVM start) when kraft-logs/meta.properties already carries our
        cluster id.
        """
        self.write_config()
        if self.is_formatted():
            return
        cmd = [a for a in self._java_base() if a] + [
            "kafka.tools.StorageTool", "format", "-t", self.cluster_id(),
            "-c", str(self.props_path), "--ignore-formatted"]
        if self.secure:  # KIP-900: SCRAM users in the metadata log from the start
            for user in self.users():
                cmd += ["--add-scram", f"SCRAM-SHA-512=[name={user},password={self.password(user)}]"]
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=180)
        if res.returncode != 0:
            raise BrokerError(f"formatting Kafka storage in {self.properties()['log.dirs']} failed "
                              f"(exit {res.returncode}):\n{_tail(res.stdout)}")

    # -- stale state from an earlier run
    def _read_pid_file(self) -> int | None:
        try:
            return int(self.pid_path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _is_our_java(self, pid: int) -> bool:
        args = _cmdline(pid)
        return "kafka.Kafka" in args and str(self.props_path) in args

    def running_pid(self) -> int | None:
        """pid of a live broker for this data_dir (ours or from the pid file), else None."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc.pid
        pid = self._read_pid_file()
        if pid and _pid_alive(pid) and self._is_our_java(pid):
            return pid
        return None

    def _handle_stale(self, reuse: bool) -> bool:
        """Deal with a pid file left behind. Returns True if a live broker was adopted."""
        pid = self._read_pid_file()
        if pid is None:
            return False
        if _pid_alive(pid) and self._is_our_java(pid):
            if reuse:
                log.info("reusing running Kafka broker pid %d for %s", pid, self.data_dir)
                self._adopted_pid = pid
                return True
            log.warning("stopping stale Kafka broker pid %d left by an earlier run", pid)
            self._adopted_pid = pid
            self.stop()
            return False
        log.info("removing stale pid file %s (pid %s is gone or not our broker)",
                 self.pid_path, pid)
        with contextlib.suppress(OSError):
            self.pid_path.unlink()
        return False

    def _check_ports_free(self) -> None:
        for p, what in ((self.port, "broker"), (self.controller_port, "controller")):
            if not port_open(p):
                continue
            if what == "broker" and _kafka_admin_ok(f"127.0.0.1:{p}", 3.0,
                                                    self.client_security("admin") if self.secure else None)[0]:
                raise BrokerError(
                    f"127.0.0.1:{p} is already serving Kafka, but not a broker started for "
                    f"{self.data_dir} (no live pid file). Stop that broker, or point the "
                    f"clients at it instead of starting another.")
            raise BrokerError(f"{what} port 127.0.0.1:{p} is already in use by another process")

    # -- lifecycle
    def start(self, wait: bool = True, timeout: float = 90, reuse: bool = False) -> "LocalKafka":
        """Format (if needed) and start the broker; by default wait until it is ready.

        A live broker from an earlier run of the same data_dir is stopped first, or adopted
        with ``reuse=True``. Raises :class:`BrokerError` if the ports are taken by others.
        """
        if self._proc is not None and self._proc.poll() is None:
            if wait:
                self.wait_ready(timeout)
            return self
        self._proc = None
        t0 = time.monotonic()
        if self._handle_stale(reuse):
            if wait:
                self.wait_ready(timeout)
            return self
        self._check_ports_free()
        self.format()
        cmd = [a for a in self._java_base() if a] + ["kafka.Kafka", str(self.props_path)]
        self._out_fh = open(self.out_path, "ab")
        self._out_fh.write(f"\n===== start {time.strftime('%Y-%m-%d %H:%M:%S')} "
                           f"port={self.port} =====\n".encode())
        self._out_fh.flush()
        try:
            self._proc = subprocess.Popen(cmd, cwd=self.data_dir, stdin=subprocess.DEVNULL,
                                          stdout=self._out_fh, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        except OSError as e:
            self._close_out()
            raise BrokerError(f"could not run {self.java!r}: {e}") from e
        self._adopted_pid = None
        self.pid_path.write_text(f"{self._proc.pid}\n")
        self.started_at = t0
        if wait:
            self.wait_ready(timeout)
            self.last_start_seconds = time.monotonic() - t0
            log.info("Kafka broker pid %d ready on %s in %.1fs", self._proc.pid,
                     self.bootstrap, self.last_start_seconds)
        return self

    def is_running(self) -> bool:
        pid = self.pid
        if self._proc is not None:
            return self._proc.poll() is None
        return bool(pid and _pid_alive(pid))

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for p in (self.log_dir / "server.log", self.out_path):
            t = _tail_file(p, lines)
            if t:
                parts.append(f"--- {p} ---\n{t}")
        return "\n".join(parts) or "(no broker log yet)"

    def wait_ready(self, timeout: float = 90) -> None:
        """Until the port accepts connections and a kafka-python admin call succeeds."""
        deadline = time.monotonic() + timeout
        last = "port not accepting connections yet"
        while True:
            if not self.is_running():
                code = self._proc.returncode if self._proc is not None else "?"
                raise BrokerError(f"Kafka broker exited during startup (exit {code}):\n"
                                  f"{self.log_tail()}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerError(f"Kafka broker on {self.bootstrap} not ready after "
                                  f"{timeout:.0f}s ({last}):\n{self.log_tail()}")
            if port_open(self.port):
                ok, last = _kafka_admin_ok(self.bootstrap, max(1.0, min(5.0, remaining)),
                                           self.client_security("admin") if self.secure else None)
                if ok:
                    if self.secure:
                        self.apply_acls()
                    return
            time.sleep(0.25)

    def _signal(self, sig: int) -> None:
        pid = self.pid
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    def _wait_gone(self, timeout: float) -> bool:
        if self._proc is not None:
            try:
                self._proc.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        pid = self._adopted_pid
        deadline = time.monotonic() + timeout
        while pid and _pid_alive(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM to the broker's pid (controlled shutdown), SIGKILL after ``timeout``."""
        if self.pid is None:
            self._adopt_from_pid_file()
        if self.pid is not None and self.is_running():
            self._signal(signal.SIGTERM)
            if not self._wait_gone(timeout):
                log.warning("Kafka broker pid %s ignored SIGTERM for %ss; SIGKILL",
                            self.pid, timeout)
                self._signal(signal.SIGKILL)
                self._wait_gone(10)
        self._forget()

    def kill(self) -> None:
        """SIGKILL (crash tests). The data stays; ``start()``/``restart()`` recover it."""
        if self.pid is None:
            self._adopt_from_pid_file()
        if self.pid is not None:
            self._signal(signal.SIGKILL)
            self._wait_gone(10)
        self._forget()

    def restart(self, timeout: float = 90) -> "LocalKafka":
        self.stop()
        return self.start(timeout=timeout)

    def _adopt_from_pid_file(self) -> None:
        pid = self._read_pid_file()
        if pid and _pid_alive(pid) and self._is_our_java(pid):
            self._adopted_pid = pid

    def _close_out(self) -> None:
        if self._out_fh is not None:
            with contextlib.suppress(OSError):
                self._out_fh.close()
            self._out_fh = None

    def _forget(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(Exception):
                self._proc.wait(0)
        self._proc = None
        self._adopted_pid = None
        self._close_out()
        with contextlib.suppress(OSError):
            self.pid_path.unlink()

    def __enter__(self) -> "LocalKafka":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalKafka({str(self.data_dir)!r}, port={self.port}, pid={self.pid})"


# --------------------------------------------------------------------------- CLI

def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m connectors.kafka_broker",
                                 description="Local single-node Kafka (KRaft) for AccidentLink")
    ap.add_argument("command", choices=["start", "stop", "status"])
    ap.add_argument("--data", type=Path, default=None,
                    help="broker data dir (default: <var>/kafka)")
    ap.add_argument("--port", type=int, default=9092)
    ap.add_argument("--controller-port", type=int, default=None, help="default: port+1")
    ap.add_argument("--heap", default="512m")
    ap.add_argument("--var", type=Path, default=None,
                    help="where the Maven-fetched classpath is cached "
                         "(default: $ACCIDENTLINK_VAR or ./.var)")
    ap.add_argument("--timeout", type=float, default=90)
    ap.add_argument("--reuse", action="store_true",
                    help="adopt a broker already running for this data dir")
    ap.add_argument("--secure", action="store_true",
                    help="SASL_SSL listener, SCRAM users per service, ACLs (passwords in <data>/secrets/)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)

    var = args.var or default_var_dir()
    data = args.data or (var / "kafka")
    broker = LocalKafka(data, port=args.port,
                        controller_port=args.controller_port or args.port + 1,
                        heap=args.heap, var_dir=var, secure=args.secure)

    if args.command == "status":
        pid = broker.running_pid()
        ok, why = _kafka_admin_ok(broker.bootstrap, 3.0, broker.client_security("admin")) \
            if port_open(broker.port) \
            else (False, "port closed")
        print(f"pid={pid or '-'} bootstrap={broker.bootstrap} "
              f"{'ready' if ok else 'not ready: ' + why}")
        return 0 if (pid and ok) else 3

    if args.command == "stop":
        pid = broker.running_pid()
        if pid is None:
            print(f"no broker running for {broker.data_dir}")
            return 0
        broker.stop()
        print(f"stopped broker pid {pid}")
        return 0

    # start: foreground until SIGINT/SIGTERM
    stop_evt = threading.Event()

    def on_signal(signum, _frame):
        stop_evt.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        t0 = time.monotonic()
        broker.start(timeout=args.timeout, reuse=args.reuse)
    except BrokerError as e:
        print(f"error: {e}", file=sys.stderr)
        broker.stop()
        return 1
    print(f"Kafka {KAFKA_VERSION} ready on {broker.bootstrap} (pid {broker.pid}, "
          f"{time.monotonic() - t0:.1f}s); data in {broker.data_dir}; Ctrl-C to stop",
          flush=True)
    if broker.secure:
        print(f"SASL_SSL/SCRAM-SHA-512; CA {broker.pki().ca_pem}; passwords in {broker.secrets_dir}/<user> "
              f"(users: {', '.join(broker.users())})", flush=True)
    rc = 0
    while not stop_evt.wait(1.0):
        if not broker.is_running():
            code = broker._proc.returncode if broker._proc is not None else None
            if code in (0, 143, -signal.SIGTERM):   # stopped by `stop` or a SIGTERM
                print(f"Kafka broker pid {broker.pid} was stopped (exit {code})", flush=True)
            else:
                print(f"error: broker exited unexpectedly (exit {code}):\n"
                      f"{broker.log_tail()}", file=sys.stderr)
                rc = 1
            break
    broker.stop()
    print("Kafka broker stopped", flush=True)
    return rc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
