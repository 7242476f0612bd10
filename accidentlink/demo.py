"""Demo data: Liaocheng and Zibo resources into the database, demo tokens, a few demo reports."""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from accidentlink.clock import SystemClock, iso

log = logging.getLogger("accidentlink.demo")


def unit_phone(unit_id: str) -> str:
    """A stable made-up mobile number per unit (demo data only; 170 numbers are virtual-operator ranges)."""
    n = int(hashlib.sha1(unit_id.encode()).hexdigest(), 16) % 10**8
    return f"+86170{n:08d}"


def load_resources_into_db(c: Any, path: str | None = None) -> dict[str, int]:
    """Insert posts, hospitals and units that are not there yet; existing rows keep their status. Dispatch
    keeps them all (it chooses among them); the hospitals context keeps its own list of hospitals."""
    from connectors.sql.models import HospitalRow, PostRow, UnitRow
    from dispatch.resources import load_resources

    res = load_resources(path or c.settings.resources)
    now = c.clock.now()
    added = {"posts": 0, "hospitals": 0, "units": 0}
    with c.store("hospitals").uow() as uow:
        s = uow.session
        have_h = set(s.scalars(select(HospitalRow.hospital_id)))
        for h in res.hospitals:
            if h.hospital_id not in have_h:
                s.add(HospitalRow(hospital_id=h.hospital_id, name=h.name, lat=h.lat, lon=h.lon, city=h.city,
                                  trauma_level=h.trauma_level, green_channel=h.green_channel, approx=h.approx))
        uow.commit()
    with c.store("dispatch").uow() as uow:
        s = uow.session
        have_posts = set(s.scalars(select(PostRow.post_id)))
        have_h = set(s.scalars(select(HospitalRow.hospital_id)))
        have_u = set(s.scalars(select(UnitRow.unit_id)))
        for h in res.hospitals:
            if h.hospital_id not in have_h:
                s.add(HospitalRow(hospital_id=h.hospital_id, name=h.name, lat=h.lat, lon=h.lon, city=h.city,
                                  trauma_level=h.trauma_level, green_channel=h.green_channel, approx=h.approx))
                added["hospitals"] += 1
        for p in res.posts:
            if p.post_id not in have_posts:
                s.add(PostRow(post_id=p.post_id, kind=p.kind, name=p.name, lat=p.lat, lon=p.lon, city=p.city,
                              approx=p.approx, paired_hospital_id=p.paired_hospital_id))
                added["posts"] += 1
        for u in res.units:
            if u.unit_id not in have_u:
                s.add(UnitRow(unit_id=u.unit_id, service=u.service, kind=u.kind, name=u.name, lat=u.lat, lon=u.lon,
                              home=u.home, phone=unit_phone(u.unit_id), status="available", status_at=now, version=1))
                added["units"] += 1
        uow.commit()
    return added


DEMO_REPORTS = [
    # 聊临路梁水镇段: two cars, one trapped; the 122 call and the 120 call of the same crash
    {"report_id": "122-DEMO-0001", "source": "122", "minutes_ago": 3,
     "location": {"lat": 36.3923, "lon": 115.8571, "address": "聊临路梁水镇段"}, "injured": 2, "fatalities": 0,
     "vehicles_movable": False, "hit_and_run": False, "hazards": ["trapped"],
     "reporter": {"name": "王某", "phone": "+8613800000001"},
     "parties": [{"name": "张某", "phone": "+8613900000001", "id_number": "371502199001011234", "plate": "鲁P12345",
                  "vehicle_type": "car", "insurer": "PICC", "ci_policy": "PDZA202637150000001234"},
                 {"name": "李某", "phone": "+8613900000002", "id_number": "371502198805052345", "plate": "鲁P67890",
                  "vehicle_type": "car", "insurer": "PINGAN", "ci_policy": "PA2026371500000088"}],
     "description": "两车相撞，一人被困"},
    {"report_id": "120-DEMO-0001", "source": "120", "minutes_ago": 2,
     "location": {"lat": 36.3925, "lon": 115.8574}, "injured": 2, "fatalities": 0,
     "vehicles_movable": False, "hit_and_run": False, "hazards": ["trapped"],
     "reporter": {"name": "赵某", "phone": "+8613800000003"}, "parties": [], "description": "车祸，两人受伤"},
    # 聊堂路道口铺: hit-and-run, one injured
    {"report_id": "122-DEMO-0002", "source": "122", "minutes_ago": 1,
     "location": {"lat": 36.4718, "lon": 116.1010, "address": "聊堂路道口铺"}, "injured": 1, "fatalities": 0,
     "vehicles_movable": True, "hit_and_run": True, "hazards": [],
     "reporter": {"name": "孙某", "phone": "+8613800000004"}, "parties": [], "description": "行人被撞，肇事车辆逃逸"},
    # 淄博张店: a minor two-car crash for online quick handling
    {"report_id": "12123-DEMO-0003", "source": "12123", "minutes_ago": 1,
     "location": {"lat": 36.8090, "lon": 118.0550, "address": "淄博市张店区人民西路"}, "injured": 0, "fatalities": 0,
     "vehicles_movable": True, "hit_and_run": False, "hazards": [],
     "reporter": {"name": "周某", "phone": "+8613800000005"},
     "parties": [{"name": "周某", "phone": "+8613800000005", "id_number": "370302199203034567", "plate": "鲁C11111",
                  "vehicle_type": "car", "insurer": "CPIC", "ci_policy": "CPIC2026370300001111", "licensed": True},
                 {"name": "吴某", "phone": "+8613800000006", "id_number": "370302199104045678", "plate": "鲁C22222",
                  "vehicle_type": "car", "insurer": "PICC", "ci_policy": "PDZA202637030000002222", "licensed": True}],
     "description": "追尾，无人受伤，车辆可移动"},
]


def demo_report_values(now: Any = None) -> list[dict[str, Any]]:
    """The demo reports, placed by the offline gazetteer where their address names a known place."""
    from connectors.geo import GazetteerGeocoder

    geocoder = GazetteerGeocoder()
    now = now or SystemClock().now()
    out = []
    last: tuple[float, float] | None = None
    for r in DEMO_REPORTS:
        r = dict(r)
        found = geocoder.geocode(r["location"].get("address") or "")
        if found:
            r["location"] = {**r["location"], "lat": found[0], "lon": found[1]}
            last = found
        elif last and r["source"] == "120":  # the second caller of the same crash, 60 m away
            r["location"] = {**r["location"], "lat": last[0] + 0.0004, "lon": last[1] + 0.0003}
        at = now - timedelta(minutes=r.pop("minutes_ago"))
        out.append({"schema": "accident-report/1", **r, "reported_at": iso(at.replace(microsecond=0))})
    return out


def send_demo_reports(settings: Any) -> int:
    import os

    from connectors.kafka import make_producer

    prefix = os.environ.get("ACCIDENTLINK_TOPIC_PREFIX", "")
    p = make_producer(settings.bootstrap)
    stamp = SystemClock().now().strftime("%Y%m%d%H%M")
    n = 0
    for v in demo_report_values():
        v["report_id"] = f"{v['report_id']}-{stamp}"
        p.send(prefix + "accidents.reported", key=v["report_id"].encode(), value=json.dumps(v, ensure_ascii=False).encode())
        n += 1
    p.flush()
    p.close()
    log.info("sent %d demo reports", n)
    return n


DEMO_TOKENS = [
    {"role": "dispatcher", "name": "演示调度员 demo dispatcher"},
    {"role": "intake", "name": "122/120 接警平台 intake"},
    {"role": "hospital", "name": "聊城市第三人民医院 急诊", "hospital_id": None},
    {"role": "fund_admin", "name": "救助基金 经办人 A"},
    {"role": "fund_admin", "name": "救助基金 复核人 B"},
    {"role": "insurer", "name": "PICC 理赔", "insurer_id": "PICC"},
    {"role": "insurer", "name": "PINGAN 理赔", "insurer_id": "PINGAN"},
    {"role": "insurer", "name": "CPIC 理赔", "insurer_id": "CPIC"},
]


def demo_tokens_path(settings: Any) -> Path:
    return Path(settings.var_dir) / "demo-tokens.json"


def print_demo_tokens(settings: Any) -> Path:
    """Create (once) the demo tokens and keep them in ``.var/demo-tokens.json``, readable by its owner alone
    (0600). Only the file's path is printed: a token never goes to stdout or a log, where whoever reads the
    log could act as both fund administrators (maker-checker) or any desk."""
    from accidentlink.bootstrap import build
    from accidentlink.private_files import owner_only_file, write_private
    from connectors.sql.models import HospitalRow
    from web.auth import authenticate, create_token

    path = demo_tokens_path(settings)
    c = build(settings)
    try:
        tokens = json.loads(path.read_text()) if path.exists() else []
        if not tokens or any(authenticate(c.store("web"), t["token"], c.clock.now()) is None for t in tokens):
            with c.store("hospitals").read() as s:
                h = s.scalar(select(HospitalRow.hospital_id).where(HospitalRow.name.like("%第三人民医院%"))) or \
                    s.scalar(select(HospitalRow.hospital_id))
            tokens = []
            for spec in DEMO_TOKENS:
                kw = {k: v for k, v in spec.items() if k not in ("role", "name")}
                if spec["role"] == "hospital":
                    kw["hospital_id"] = h
                tok, _ = create_token(c.store("web"), spec["role"], spec["name"], c.clock.now(), **kw)
                tokens.append({**spec, **kw, "token": tok})
            write_private(path, json.dumps(tokens, ensure_ascii=False, indent=1))
        owner_only_file(path)  # a file from an older version may have been wider
        print(f"demo tokens ({', '.join(t['role'] for t in tokens)}): in {path} (readable by its owner only)",
              flush=True)
        return path
    finally:
        c.close()


def load_demo(c: Any, reports: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"added": load_resources_into_db(c)}
    if reports:
        out["reports"] = send_demo_reports(c.settings)
    return out
