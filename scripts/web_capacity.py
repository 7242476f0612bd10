"""Roughly what one web process serves: uvicorn on a fresh SQLite store (demo units, 300 incidents), the rate
limit out of the way, N client threads on keep-alive connections for S seconds against the dashboard's
usual reads. Prints requests/s per route. Used to set the rate limit's defaults well below (README).

    .venv/bin/python scripts/web_capacity.py [--threads 8] [--seconds 5]
"""
from __future__ import annotations

import argparse
import http.client
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5)
    a = ap.parse_args()

    import uvicorn

    from accidentlink.bootstrap import build
    from accidentlink.demo import load_resources_into_db
    from accidentlink.settings import Settings
    from connectors.kafka_broker import free_port
    from connectors.sql.stores import upgrade_all
    from tests.unit.test_http_hardening import _seed_incidents
    from web.app import create_app
    from web.auth import create_token

    d = Path(tempfile.mkdtemp(prefix="al-capacity-"))
    url = f"sqlite:///{d / 'al.db'}"
    upgrade_all(url, d)
    port = free_port()
    c = build(Settings(var_dir=d, database_url=url, kafka_bootstrap="127.0.0.1:1", http_port=port,
                       rate_limit_per_s=10**6, rate_limit_per_address_per_s=10**6))
    load_resources_into_db(c)
    _seed_incidents(c, 300)
    token, _ = create_token(c.store("web"), "dispatcher", "capacity", c.clock.now())
    server = uvicorn.Server(uvicorn.Config(create_app(c), host="127.0.0.1", port=port, log_level="error",
                                           access_log=False))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    for path in ("/api/units?limit=100", "/api/incidents?limit=20", "/api/incidents?limit=200", "/dashboard/"):
        count = [0]
        stop = time.monotonic() + a.seconds

        def load() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            n = 0
            while time.monotonic() < stop:
                conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
                r = conn.getresponse()
                r.read()
                assert r.status == 200, r.status
                n += 1
            count[0] += n

        threads = [threading.Thread(target=load) for _ in range(a.threads)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(f"{path:32s} {count[0] / (time.monotonic() - started):8.0f} requests/s")
    server.should_exit = True


if __name__ == "__main__":
    main()
