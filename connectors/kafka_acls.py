"""Kafka's access control from one data table (``connectors/data/kafka-acls.json``): SCRAM users and ACLs.

Each service has its own principal and may read and write only its own topics, join only its own consumer
group and touch only its faust app's internal topics; ``User:admin`` is the broker's super user. The same
table serves the local secure broker (``connectors.kafka_broker.LocalKafka(secure=True)``), the integration
test and docker-compose's one-shot ``kafka-security`` job:

    KAFKA_SECURITY_PROTOCOL=SASL_SSL KAFKA_SASL_USERNAME=admin KAFKA_SASL_PASSWORD_FILE=... \\
    KAFKA_SSL_CAFILE=ca.pem python -m connectors.kafka_acls apply --passwords-dir /run/secrets

``apply`` upserts the SCRAM credential of every principal with a ``<prefix><name>`` file in ``--passwords-dir``
(how a password is rotated: change the file, run ``apply`` again) and creates the table's ACLs (creating an ACL
that exists is a no-op). ``print`` shows the equivalent ``kafka-acls.sh`` command lines. ``secrets DIR`` writes
what docker-compose.yml reads from ``deploy/secrets/``: a random password per principal and the super user
(files it leaves alone if they exist) and, for a trial, a throw-away CA and broker certificate (keytool).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

TABLE_PATH = Path(__file__).resolve().parent / "data" / "kafka-acls.json"
SUPER_USER = "admin"


@dataclass(frozen=True, order=True)
class Binding:
    """One ACL: ``principal`` may ``operation`` the ``resource`` (TOPIC, GROUP) named ``name`` (LITERAL or PREFIXED)."""
    principal: str
    resource: str
    name: str
    pattern: str
    operation: str


def load_table(path: Path | None = None) -> dict[str, Any]:
    return json.loads((path or TABLE_PATH).read_text(encoding="utf-8"))


def principals(table: Mapping[str, Any] | None = None) -> list[str]:
    """The services' principals (SCRAM user names), the super user not included."""
    return sorted((table or load_table())["principals"])


def _topic(name: str, prefix: str) -> tuple[str, str]:
    return (prefix + name[:-1], "PREFIXED") if name.endswith("*") else (prefix + name, "LITERAL")


def bindings(table: Mapping[str, Any] | None = None, prefix: str = "") -> list[Binding]:
    """Every ACL of the table, topic and group names prefixed with ``prefix`` (tests isolate themselves so)."""
    out: set[Binding] = set()
    for who, rights in (table or load_table())["principals"].items():
        for name in rights.get("read", ()):
            out.add(Binding(who, "TOPIC", *_topic(name, prefix), "READ"))
        for name in rights.get("write", ()):
            out.add(Binding(who, "TOPIC", *_topic(name, prefix), "WRITE"))
        for group in rights.get("groups", ()):
            out.add(Binding(who, "GROUP", prefix + group, "LITERAL", "READ"))
        for group in rights.get("describe_groups", ()):
            out.add(Binding(who, "GROUP", prefix + group, "LITERAL", "DESCRIBE"))
        for start in rights.get("internal", ()):
            out.add(Binding(who, "TOPIC", prefix + start, "PREFIXED", "ALL"))
    return sorted(out)


def _acl(b: Binding) -> Any:
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern, ResourceType

    return ACL(principal=f"User:{b.principal}", host="*", operation=ACLOperation[b.operation],
               permission_type=ACLPermissionType.ALLOW,
               resource_pattern=ResourcePattern(ResourceType[b.resource], b.name, ACLResourcePatternType[b.pattern]))


def create_acls(admin: Any, acls: Iterable[Binding]) -> int:
    """Create ``acls`` through a kafka-python admin client signed in as the super user; returns how many."""
    acls = list(acls)
    result = admin.create_acls([_acl(b) for b in acls])
    if result.get("failed"):
        raise RuntimeError(f"creating {len(result['failed'])} ACL(s) failed: {result['failed'][:3]}")
    return len(acls)


def upsert_users(admin: Any, passwords: Mapping[str, str], mechanism: str = "SCRAM-SHA-512") -> list[str]:
    """Create or change each user's SCRAM credential (a rotation is the same call with the new password)."""
    from kafka.admin import UserScramCredentialUpsertion

    if not passwords:
        return []
    res = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(user, mechanism, pw) for user, pw in sorted(passwords.items())])
    failed = {u: e for u, e in res.items() if e}
    if failed:
        raise RuntimeError(f"SCRAM credentials refused: {failed}")
    return sorted(passwords)


def passwords_from_dir(folder: Path, names: Sequence[str], file_prefix: str = "") -> dict[str, str]:
    """``{name: password}`` for each ``name`` with a readable file ``folder/<file_prefix><name>`` (compose secrets)."""
    out = {}
    for name in names:
        path = Path(folder) / f"{file_prefix}{name}"
        if path.is_file():
            out[name] = path.read_text(encoding="utf-8").rstrip("\r\n")
    return out


def kafka_acls_commands(acls: Iterable[Binding], bootstrap: str = "kafka:9092",
                        config: str = "/etc/kafka/admin.properties") -> list[str]:
    """The same ACLs as ``kafka-acls.sh`` command lines (for an operator who prefers the broker's tools)."""
    out = []
    for b in acls:
        kind = "--topic" if b.resource == "TOPIC" else "--group"
        out.append(f"kafka-acls.sh --bootstrap-server {bootstrap} --command-config {config} --add "
                   f"--allow-principal User:{b.principal} --operation {b.operation.title()} "
                   f"--resource-pattern-type {b.pattern.lower()} {kind} '{b.name}'")
    return out


def apply(bootstrap: str, *, passwords: Mapping[str, str], prefix: str = "", security: Any = None,
          timeout_s: float = 120) -> dict[str, Any]:
    """Users, then ACLs, as the super user (``security``, default the environment's); retried while the broker
    is still starting."""
    from connectors.kafka import admin_client

    deadline = time.monotonic() + timeout_s
    delay = 1.0
    while True:
        try:
            with contextlib.closing(admin_client(bootstrap, 15, security=security)) as admin:
                users = upsert_users(admin, passwords)
                n = create_acls(admin, bindings(prefix=prefix))
            return {"users": users, "acls": n}
        except Exception as e:
            if time.monotonic() > deadline:
                raise
            print(f"kafka not ready for security set-up ({type(e).__name__}: {e}); retrying in {delay:.0f}s",
                  file=sys.stderr)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def write_secrets(folder: Path, hosts: Sequence[str]) -> int:
    """Owner-only files for docker-compose.yml's secrets: ``kafka_admin``, ``kafka_user_<principal>`` and
    ``kafka-tls/`` (a throw-away CA; replace it by the site CA's certificate for a real deployment)."""
    import secrets as _secrets

    from connectors.kafka_tls import throwaway_pki

    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    made = []
    for name in ["kafka_admin", *(f"kafka_user_{p}" for p in principals())]:
        path = folder / name
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(_secrets.token_urlsafe(24) + "\n")
            made.append(name)
    pki = throwaway_pki(folder / "kafka-tls", hosts=hosts, days=365)
    # compose bind-mounts a file secret with its host mode, and the containers run as their own users (10001 in
    # the app image, 1000 in apache/kafka): the files are readable, the folders closed to other host users
    folder.chmod(0o700)
    for path in [*folder.iterdir(), *pki.folder.iterdir()]:
        if path.is_file():
            path.chmod(0o644)
    print(f"passwords written: {', '.join(made) or 'none (all there)'}; CA {pki.ca_pem}, broker keystore "
          f"{pki.keystore} for {', '.join(hosts)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m connectors.kafka_acls", description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=["apply", "print", "secrets"])
    ap.add_argument("folder", nargs="?", type=Path, help="secrets: where to write them (deploy/secrets)")
    ap.add_argument("--passwords-dir", type=Path, help="a file per principal holding its password")
    ap.add_argument("--file-prefix", default="", help="the password files' names: <prefix><principal>")
    ap.add_argument("--hosts", nargs="+", default=["kafka", "localhost"], help="secrets: the broker's names")
    ap.add_argument("--prefix", default=os.environ.get("ACCIDENTLINK_TOPIC_PREFIX", ""))
    a = ap.parse_args(argv)
    if a.action == "secrets":
        return write_secrets(a.folder or Path("deploy/secrets"), a.hosts)
    if a.action == "print":
        print("\n".join(kafka_acls_commands(bindings(prefix=a.prefix))))
        return 0
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        print("KAFKA_BOOTSTRAP_SERVERS must name the broker(s)", file=sys.stderr)
        return 2
    pw = passwords_from_dir(a.passwords_dir, principals(), a.file_prefix) if a.passwords_dir else {}
    done = apply(bootstrap, passwords=pw, prefix=a.prefix,
                 timeout_s=float(os.environ.get("KAFKA_SECURITY_TIMEOUT_S") or 120))
    print(f"SCRAM users set: {', '.join(done['users']) or 'none'}; {done['acls']} ACLs in place")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
