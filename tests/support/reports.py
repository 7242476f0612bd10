"""Building accident reports for tests (contract: accident-report/1)."""
from __future__ import annotations

import itertools
import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

CST = timezone(timedelta(hours=8))
_seq = itertools.count(1)

# 聊临路梁水镇段, near the 梁水镇 squad (seeds/002)
LIANGSHUI = (36.3923, 115.8571)
ZHANGDIAN = (36.8090, 118.0550)


def report(*, lat: float = LIANGSHUI[0], lon: float = LIANGSHUI[1], injured: int = 0, fatalities: int = 0,
           movable: bool = True, hit_and_run: bool = False, hazards: list[str] | None = None,
           parties: list[dict[str, Any]] | None = None, source: str = "122", report_id: str | None = None,
           at: datetime | None = None, **extra: Any) -> dict[str, Any]:
    n = next(_seq)
    return {
        "schema": "accident-report/1",
        "report_id": report_id or f"{source}-T-{uuid.uuid4().hex[:10]}-{n}",
        "source": source,
        "reported_at": (at or datetime.now(CST)).isoformat(timespec="seconds"),
        "location": {"lat": lat, "lon": lon, "address": "测试路段"},
        "injured": injured, "fatalities": fatalities, "vehicles_movable": movable, "hit_and_run": hit_and_run,
        "hazards": hazards or [],
        "reporter": {"name": "王某", "phone": "+8613800000000"},
        "parties": parties if parties is not None else [],
        "description": "测试",
        **extra,
    }


def party(plate: str, insurer: str | None = "PICC", *, phone: str = "+8613900000001", licensed: bool | None = True,
          **extra: Any) -> dict[str, Any]:
    return {"name": "张某", "phone": phone, "id_number": "371502199001011234", "plate": plate, "vehicle_type": "car",
            "insurer": insurer, "ci_policy": f"POL-{plate}" if insurer else None,
            **({"licensed": licensed} if licensed is not None else {}), **extra}


def produce(bootstrap: str, topic: str, values: list[Any], keys: list[bytes | None] | None = None) -> None:
    from connectors.kafka import make_producer

    p = make_producer(bootstrap)
    for i, v in enumerate(values):
        value = v if isinstance(v, (bytes, type(None))) else json.dumps(v, ensure_ascii=False).encode()
        key = keys[i] if keys else (v["report_id"].encode() if isinstance(v, dict) and "report_id" in v else None)
        p.send(topic, key=key, value=value)
    p.flush()
    p.close()
