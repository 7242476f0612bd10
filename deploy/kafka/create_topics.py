"""Create AccidentLink's topics on an external broker (docker-compose's one-shot ``topics`` service).

The broker runs with ``auto.create.topics.enable=false`` and the workers' faust apps never declare
topics, so the topics must exist, with the partition counts of ``streams/topics.py``, before any
worker or the web process starts. Existing topics are left as they are. Idempotent: run it at every
deployment.

Environment: KAFKA_BOOTSTRAP_SERVERS (required), KAFKA_TOPIC_REPLICATION (default 1; 3 on a
three-broker cluster), ACCIDENTLINK_TOPIC_PREFIX (default none), KAFKA_TOPICS_TIMEOUT_S (default 120).
"""
from __future__ import annotations

import os
import sys
import time

from connectors.kafka import ensure_topics
from claims.services import known_insurers
from streams.topics import declared


def main() -> int:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        print("KAFKA_BOOTSTRAP_SERVERS must name the broker(s)", file=sys.stderr)
        return 2
    replication = int(os.environ.get("KAFKA_TOPIC_REPLICATION") or 1)
    prefix = os.environ.get("ACCIDENTLINK_TOPIC_PREFIX", "")
    deadline = time.monotonic() + float(os.environ.get("KAFKA_TOPICS_TIMEOUT_S") or 120)
    delay = 1.0
    while True:
        try:
            created = ensure_topics(bootstrap, declared(known_insurers(), prefix), replication=replication)
        except Exception as e:  # the broker may still be electing its controller: retry until the deadline
            if time.monotonic() > deadline:
                print(f"could not create topics on {bootstrap}: {type(e).__name__}: {e}", file=sys.stderr)
                return 1
            print(f"broker not ready ({type(e).__name__}); retrying in {delay:.0f}s", file=sys.stderr)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
            continue
        print("created: " + (", ".join(sorted(created)) or "none (all topics exist)"))
        return 0


if __name__ == "__main__":
    sys.exit(main())
