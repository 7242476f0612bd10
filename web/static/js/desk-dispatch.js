// The joint 122/120 dispatcher desk: open incidents by severity with timers, the map, units, the live feed.
import { t, tOr, lang } from "./i18n.js";
import { fmtEta } from "./i18n-dispatch.js";
import {
  api, apiAll, ApiError, errorText, esc, safeText, fmtTime, fmtAge, fmtDuration, fmtKm, fmtFen, parseTime, cstHour, toast, askForm,
  debounce, $, $$,
} from "./util.js";
import { LiveFeed } from "./feed.js";
import { RegionMap, loadGeo, SEV_COLOR, SVC_COLOR } from "./map.js";

// Response-time targets (dispatch/rules/targets.json; domain.md §5), used for the countdowns shown here.
const TARGETS = { ack_s: 60, ambulance_out_s: 180, ambulance_response_s: 900, police_day_s: 300, police_night_s: 600 };
const SEV_RANK = { major: 0, death: 1, injury: 2, property: 3 };
// The statutory grades (国务院令 493 art. 3; accidentlink/rules/severity.json), highest first.
const GRADE_RANK = { especially_major: 0, major: 1, larger: 2, general: 3 };
const STATUS_ORDER = ["dispatched", "acknowledged", "en_route", "on_scene", "transporting", "at_hospital"];
const NEXT = { acknowledged: "en_route", en_route: "on_scene", on_scene: "transporting", transporting: "at_hospital", at_hospital: "available" };
const NEXT_122 = { acknowledged: "en_route", en_route: "on_scene", on_scene: "available" };
const BUSY = new Set(STATUS_ORDER);
const LIST_MAX = 300;  // cards shown at once; the counts come from the API, never from this page

/** The next response-time step of an active order and when it is due (ms), or null. */
export function nextDue(order, inc) {
  if (order.state !== "active") return null;
  const issued = parseTime(order.issued_at);
  const first = parseTime(inc.first_reported_at) ?? issued;
  const st = order.unit_status;
  if (st === "dispatched") return { step: "ack", due: issued + TARGETS.ack_s * 1000 };
  if (order.service === "120" && st === "acknowledged") return { step: "out", due: issued + TARGETS.ambulance_out_s * 1000 };
  if (st === "acknowledged" || st === "en_route") {
    if (order.service === "120") return { step: "on_scene", due: Math.min(first, issued) + TARGETS.ambulance_response_s * 1000 };
    const hr = cstHour(issued);
    const night = hr >= 22 || hr < 6;
    return { step: "on_scene", due: issued + (night ? TARGETS.police_night_s : TARGETS.police_day_s) * 1000 };
  }
  return null;
}

export function mountDispatcher(root, shell) {
  const S = {
    incidents: new Map(), units: new Map(), details: new Map(), selected: null, filter: "open", tab: "detail",
    unitSvc: "", unitStatus: "busy", flash: new Map(), map: null, feed: null, timers: [], alive: true,
    counts: null, queue: [], frame: 0, rows: new Map(), search: "", shown: 0, unitsVer: 0,
  };

  root.innerHTML = `
  <div class="desk desk-dispatch" data-testid="desk-dispatcher">
    <section class="kpis" id="kpis" aria-label="KPI"></section>
    <aside class="pane pane-list">
      <div class="pane-head">
        <h2 id="list-title"></h2>
        <div class="seg" role="tablist" id="inc-filter"></div>
        <select id="grade-filter" data-testid="grade-filter" aria-label="grade"></select>
      </div>
      <input id="inc-search" class="inc-search" type="search" autocomplete="off" data-testid="incident-search">
      <div id="inc-more" class="muted small" data-testid="incident-more" hidden></div>
      <div id="inc-list" class="inc-list" data-testid="incident-list"></div>
    </aside>
    <section class="pane pane-map">
      <svg id="map" class="map" role="img" aria-label="map" data-testid="map"></svg>
      <div class="map-tools" id="map-tools"></div>
      <div class="map-legend" id="map-legend"></div>
    </section>
    <aside class="pane pane-side">
      <div class="tabs" role="tablist" id="side-tabs"></div>
      <div id="side-body" class="side-body"></div>
    </aside>
  </div>`;

  // ---------------------------------------------------------------- data loading
  async function loadIncidents() {
    const status = S.filter === "all" ? "" : `&status=${S.filter}`;
    const list = await api("GET", `/api/incidents?limit=${LIST_MAX}&flagged_first=true${status}`);
    for (const i of list) upsert(i, false);
    renderAll();
    loadCounts().catch(() => {});
  }

  // counts from the server (GET /api/incidents/counts): true with thousands open, whatever the page holds
  let countsBusy = false, countsAgain = false;
  async function loadCounts() {
    if (countsBusy) { countsAgain = true; return; }
    countsBusy = true;
    try {
      S.counts = await api("GET", "/api/incidents/counts");
      renderKpis(); renderFilter();
    } finally {
      countsBusy = false;
      if (countsAgain) { countsAgain = false; setTimeout(() => loadCounts().catch(() => {}), 500); }
    }
  }
  const countsSoon = debounce(() => loadCounts().catch(() => {}), 700);

  async function loadUnits() {
    const list = await apiAll("/api/units?limit=200");  // every unit, page after page
    S.units = new Map(list.map((u) => [u.unit_id, u]));
    S.unitsVer++;
    renderKpis(); mapSoon(); if (S.tab === "units") renderSide();
  }
  const loadUnitsSoon = debounce(() => loadUnits().catch(() => {}), 400);

  async function loadDetail(id) {
    try {
      const d = await api("GET", `/api/incidents/${encodeURIComponent(id)}`);
      try { d.who = await api("GET", `/api/incidents/${encodeURIComponent(id)}/parties`); } catch (_) { d.who = null; }
      S.details.set(id, d);
      upsert(d, false);
      if (S.selected === id) { renderSide(); renderMap(); }
      renderList();
    } catch (e) {
      if (S.selected === id) toast(errorText(e), "error");
    }
  }
  const detailSoon = new Map();
  function loadDetailSoon(id) {
    clearTimeout(detailSoon.get(id));
    detailSoon.set(id, setTimeout(() => loadDetail(id), 300));
  }

  function upsert(snapshot, fromFeed) {
    const old = S.incidents.get(snapshot.incident_id);
    if (old && old.version > snapshot.version) return;  // an older snapshot arriving late
    const merged = { ...old, ...snapshot };
    if (!snapshot.timeline && old && old.timeline) merged.timeline = old.timeline;
    S.incidents.set(snapshot.incident_id, merged);
    if (fromFeed && !old) S.flash.set(snapshot.incident_id, Date.now());
  }

  // ---------------------------------------------------------------- live feed
  // the live feed: events are queued and applied once per animation frame (a burst of thousands of
  // reports costs one list update and one map update per frame, never one full render per event)
  function onFeed(ev) {
    if (ev.event !== "incident" || !ev.data || !ev.data.incident) return;
    S.queue.push(ev.data);
    if (!S.frame) {
      S.frame = requestAnimationFrame(flushFeed);
      setTimeout(() => { if (S.frame) { cancelAnimationFrame(S.frame); flushFeed(); } }, 250);  // a hidden tab
    }
  }

  function flushFeed() {
    S.frame = 0;
    const batch = S.queue.splice(0);
    if (!batch.length || !S.alive) return;
    let side = false, autoSelect = null;
    for (const data of batch) {
      const r = applyFeed(data);
      side = side || r.side;
      autoSelect = autoSelect || r.select;
    }
    if (autoSelect && !S.selected) return select(autoSelect, false);
    renderList(); mapSoon(); countsSoon();
    if (S.tab === "units" || side) renderSide(); else renderSideTabs();
  }

  function applyFeed(data) {
    upsert(data.incident, true);
    if (data.change === "unit_assigned" && data.unit_id && S.units.has(data.unit_id)) {
      S.units.set(data.unit_id, { ...S.units.get(data.unit_id), status: "dispatched", incident_id: data.incident_id });
      S.unitsVer++;
    }
    if (data.unit_id && S.units.has(data.unit_id) && data.unit_status) {
      const u = S.units.get(data.unit_id);
      S.units.set(data.unit_id, { ...u, status: data.unit_status, incident_id: data.unit_status === "available" ? null : data.incident_id });
      S.unitsVer++;
    }
    if (["unit_assigned", "unit_status", "closed", "reassigned", "escalated", "unit_added", "reopened"].includes(data.change)) loadUnitsSoon();
    if (S.selected === data.incident_id) loadDetailSoon(data.incident_id);
    const pick = data.change === "created" && !S.selected && S.filter !== "closed" ? data.incident_id : null;
    return { side: S.selected === data.incident_id, select: pick };
  }

  S.feed = new LiveFeed({
    url: "/api/incidents/stream", token: shell.token, onEvent: onFeed,
    onState: (state, info) => shell.setConn(state, info),
    onOpen: () => { loadIncidents().catch(() => {}); loadUnits().catch(() => {}); loadCounts().catch(() => {}); },
  }).start();

  // ---------------------------------------------------------------- rendering
  const flagged = (i) => i.status === "open" && (i.no_unit_nearby || []).length > 0;
  function groupOf(i) { return flagged(i) ? "nounit" : i.severity; }

  function visibleIncidents() {
    const all = [...S.incidents.values()];
    let list = (S.filter === "all" ? all : all.filter((i) => i.status === S.filter))
      .filter((i) => !S.grade || (GRADE_RANK[i.grade] ?? 3) <= GRADE_RANK[S.grade]);
    const q = S.search.trim().toLowerCase();
    if (q) list = list.filter((i) => (i.location.address || "").toLowerCase().includes(q) || i.incident_id.toLowerCase().includes(q));
    // incidents with no unit nearby first (the dispatcher decides), then by severity, newest first
    list.sort((a, b) => (flagged(b) - flagged(a)) || (SEV_RANK[a.severity] ?? 9) - (SEV_RANK[b.severity] ?? 9)
      || (parseTime(b.first_reported_at) ?? 0) - (parseTime(a.first_reported_at) ?? 0));
    return list;
  }

  function renderKpis() {
    const c = S.counts;
    const sev = (c && c.open_by_severity) || {};
    const n = (v) => (c ? v : "…");
    const units = [...S.units.values()];
    const free = (svc) => units.filter((u) => u.service === svc && u.status === "available").length;
    const total = (svc) => units.filter((u) => u.service === svc).length;
    const k = (cls, label, value, extra = "") => `<div class="kpi ${cls}"><div class="kpi-value">${value}</div><div class="kpi-label">${esc(label)}${extra}</div></div>`;
    const overdue = c ? c.overdue : 0, nounit = c ? c.no_unit_nearby : 0;
    $("#kpis", root).innerHTML =
      k("kpi-open", t("kpi.open"), `<span data-kpi="open">${n(c && c.open)}</span>`)
      + k(`kpi-nounit${nounit ? " alert" : ""}`, t("kpi.nounit"), `<span data-kpi="no_unit_nearby">${n(nounit)}</span>`)
      + k("kpi-death", t("kpi.death"), `<span data-kpi="death">${n((sev.death || 0) + (sev.major || 0))}</span>`)
      + k("kpi-injury", t("kpi.injury"), `<span data-kpi="injury">${n(sev.injury || 0)}</span>`)
      + k("kpi-graded", t("kpi.graded"), `<span data-kpi="graded">${n(c && c.open_graded)}</span>`)
      + k("kpi-pending", t("kpi.pending"), `<span data-kpi="pending_ack">${n(c && c.pending_ack)}</span>`)
      + k(`kpi-overdue${overdue ? " alert" : ""}`, t("kpi.overdue"), `<span data-kpi-overdue data-kpi="overdue">${n(overdue)}</span>`)
      + k("kpi-police", t("kpi.police"), `${free("122")}<small>/${total("122")}</small>`)
      + k("kpi-amb", t("kpi.ambulance"), `${free("120")}<small>/${total("120")}</small>`);
  }

  function gradeBadge(i, always = false) {
    if (!i.grade || (i.grade === "general" && !always)) return "";
    return `<span class="sev grade grade-${esc(i.grade)}" data-grade="${esc(i.grade)}" data-testid="grade">${esc(t("grade." + i.grade))}</span>`;
  }

  function sevBadge(sev) {
    return `<span class="sev sev-${esc(sev)}" data-sev="${esc(sev)}">${esc(t("sev." + sev))}</span>`;
  }

  function hazardChips(i) {
    const chips = [];
    if (i.fatalities) chips.push(`<span class="chip chip-dark">${esc(t("inc.fatalities", { n: i.fatalities }))}</span>`);
    if (i.injured) chips.push(`<span class="chip chip-warn">${esc(t("inc.injured", { n: i.injured }))}</span>`);
    for (const hz of i.hazards || []) chips.push(`<span class="chip chip-red">${esc(t("inc." + hz))}</span>`);
    if (i.hit_and_run) chips.push(`<span class="chip chip-red">${esc(t("inc.hit_and_run"))}</span>`);
    if (i.quick_handling) chips.push(`<span class="chip chip-blue">${esc(t("inc.quick"))}</span>`);
    return chips.join("");
  }

  function place(i) {
    return i.location.address || t("inc.noaddr", { lat: i.location.lat.toFixed(4), lon: i.location.lon.toFixed(4) });
  }

  function renderFilter() {
    const c = S.counts || {};
    $("#inc-filter", root).innerHTML = ["open", "closed", "all"].map((f) =>
      `<button role="tab" class="seg-btn${S.filter === f ? " on" : ""}" data-filter="${f}" aria-selected="${S.filter === f}">${esc(t("inc." + f))}<span class="count" data-count="${f}">${c[f] ?? "…"}</span></button>`).join("");
    $("#grade-filter", root).innerHTML = ["", "larger", "major", "especially_major"].map((g) =>
      `<option value="${g}"${(S.grade || "") === g ? " selected" : ""}>${esc(g ? t("grade.atleast", { g: t("grade." + g) }) : t("grade.any"))}</option>`).join("");
  }

  function nounitChips(i) {
    return (i.no_unit_nearby || []).map((f) => {
      const near = f.nearest_distance_m != null ? t("inc.nounit.nearest", { km: fmtKm(f.nearest_distance_m) }) : t("inc.nounit.none");
      return `<span class="chip chip-nounit" data-testid="no-unit-flag" data-svc="${esc(f.service)}">⚠ ${esc(t("inc.nounit.svc", { svc: t("svc.name." + f.service) }))} · ${esc(near)}</span>`;
    }).join("");
  }

  function cardHtml(i, now) {
    const dues = (i.orders || []).map((o) => nextDue(o, i)).filter(Boolean).map((d) => d.due);
    const isNew = S.flash.has(i.incident_id) && now - S.flash.get(i.incident_id) < 15000;
    const units = (i.orders || []).filter((o) => o.state === "active").map((o) =>
      `<span class="unit-chip svc-${o.service}" title="${esc(o.unit_name || o.unit_id)}"><i></i>${esc(t("svc.short." + o.service))} · ${esc(t("ust." + o.unit_status))}</span>`).join("");
    return `<article class="inc-card sevb-${esc(i.severity)}${i.incident_id === S.selected ? " selected" : ""}${isNew ? " is-new" : ""}${i.status === "closed" ? " closed" : ""}${flagged(i) ? " nounit" : ""}"
          data-incident="${esc(i.incident_id)}" data-testid="incident-card" tabindex="0">
        <div class="inc-row">
          ${sevBadge(i.severity)}${gradeBadge(i)}
          <span class="inc-addr">${esc(safeText(place(i)))}</span>
          ${isNew ? `<span class="new-badge">${esc(t("inc.new"))}</span>` : ""}
        </div>
        <div class="inc-row small">
          <span class="mono">${esc(i.incident_id)}</span>
          <span class="age" data-since="${parseTime(i.first_reported_at)}" data-fmt="age" title="${esc(t("inc.first"))} ${esc(fmtTime(i.first_reported_at))}">${esc(fmtAge((now - parseTime(i.first_reported_at)) / 1000))}</span>
        </div>
        ${flagged(i) ? `<div class="inc-row chips">${nounitChips(i)}</div>` : ""}
        <div class="inc-row chips">${hazardChips(i)}<span class="chip">${esc(t("inc.reports", { n: (i.report_ids || []).length }))}</span>
          <span class="chip chip-late" data-dues="${dues.join(",")}" hidden></span></div>
        ${units ? `<div class="inc-row units">${units}</div>` : ""}
      </article>`;
  }

  // keyed rows: a card is rebuilt only when its incident changed, and moved only when its place changed; a
  // card that leaves the list is kept aside and comes back as it was. The first cards are placed at once, the
  // rest in small tasks after, so that a keystroke or a click is never queued behind a whole list.
  const CHUNK = 40;
  let listGen = 0;
  function renderList() {
    $("#list-title", root).textContent = t("inc.list");
    renderFilter();
    const all = visibleIncidents();
    const list = all.slice(0, LIST_MAX);
    const box = $("#inc-list", root);
    const more = $("#inc-more", root);
    const total = S.counts ? S.counts[S.filter] : all.length;
    more.hidden = !(total > list.length);
    more.textContent = t("inc.more", { n: list.length, total });
    const gen = ++listGen;
    const now = Date.now();
    const L = lang();
    const want = [];
    let group = null;
    for (const i of list) {
      const g = groupOf(i);
      if (g !== group) {
        group = g;
        want.push({ key: "g:" + g, sig: L, html: () => `<div class="group-head" data-group="${g}"><span class="dot sev-bg-${g}"></span>${esc(t("sev.group." + g))}</div>` });
      }
      const isNew = S.flash.has(i.incident_id) && now - S.flash.get(i.incident_id) < 15000;
      const sig = `${i.version}|${i.status}|${i.incident_id === S.selected}|${isNew}|${L}|${(i.no_unit_nearby || []).length}|${(i.orders || []).map((o) => o.unit_status).join()}`;
      want.push({ key: "i:" + i.incident_id, sig, html: () => cardHtml(i, now) });
    }
    const keep = new Set(want.map((w) => w.key));
    for (const [key, row] of S.rows) if (!keep.has(key) && row.el.isConnected) row.el.remove();
    const empty = box.querySelector(".empty");
    if (!list.length) {
      if (!empty) box.insertAdjacentHTML("afterbegin", `<div class="empty"><div class="empty-icon">◎</div><p>${esc(t("inc.none"))}</p><p class="muted">${esc(t("inc.none.hint"))}</p></div>`);
      return;
    }
    if (empty) empty.remove();
    const place = (from) => {
      if (gen !== listGen || !S.alive) return;  // a newer render took over
      let at = from === 0 ? box.firstElementChild : S.rows.get(want[from - 1].key).el.nextElementSibling;
      const to = Math.min(want.length, from + CHUNK);
      for (let n = from; n < to; n++) {
        const w = want[n];
        let row = S.rows.get(w.key);
        if (!row || row.sig !== w.sig) {
          const tpl = document.createElement("template");
          tpl.innerHTML = w.html().trim();
          const el = tpl.content.firstElementChild;
          if (row) {
            if (row.el === at) at = el;
            if (row.el.isConnected) row.el.replaceWith(el);
          }
          row = { el, sig: w.sig };
          S.rows.set(w.key, row);
        }
        if (row.el === at) at = at.nextElementSibling;
        else box.insertBefore(row.el, at);
      }
      if (to < want.length) setTimeout(() => place(to), 0);
    };
    place(0);
    S.shown = list.length;  // timers on new cards are filled in by the next tick (every second)
  }

  // the map is redrawn at most every 400 ms while a burst comes in (in its own task, so input goes between)
  let mapTimer = 0;
  function mapSoon() {
    if (!mapTimer) mapTimer = setTimeout(() => { mapTimer = 0; renderMap(); }, 400);
  }

  function renderMap() {
    if (!S.map) return;
    if (S.map.unitsVer !== S.unitsVer) { S.map.units = [...S.units.values()]; S.map.unitsVer = S.unitsVer; }
    S.map.incidents = S.filter === "closed" ? visibleIncidents() : [...S.incidents.values()].filter((i) => i.status === "open" || i.incident_id === S.selected);
    S.map.selected = S.selected;
    S.map.renderDynamic();
  }

  function renderSideTabs() {
    const busy = [...S.units.values()].filter((u) => BUSY.has(u.status)).length;
    $("#side-tabs", root).innerHTML = ["detail", "units"].map((k) =>
      `<button role="tab" class="tab${S.tab === k ? " on" : ""}" data-tab="${k}" aria-selected="${S.tab === k}">${esc(t("tab." + k))}${k === "units" ? `<span class="count">${busy}/${S.units.size}</span>` : ""}</button>`).join("");
  }

  function renderSide() {
    renderSideTabs();
    const body = $("#side-body", root);
    if (S.tab === "units") { body.innerHTML = unitsHtml(); tick(); return; }
    if (!S.selected) {
      body.innerHTML = `<div class="empty"><div class="empty-icon">⌖</div><p>${esc(t("inc.select"))}</p></div>`;
      return;
    }
    const i = S.details.get(S.selected) ? { ...S.details.get(S.selected), ...S.incidents.get(S.selected) } : S.incidents.get(S.selected);
    if (!i) { body.innerHTML = `<div class="empty">${esc(t("inc.loading"))}</div>`; return; }
    const detail = S.details.get(S.selected);
    const timeline = (detail && detail.timeline) || i.timeline || [];
    const hosp = i.hospital_id && shell.geo && shell.geo.hospitals.find((x) => x.hospital_id === i.hospital_id);
    const now = Date.now();
    const orders = (i.orders || []).slice().sort((a, b) => (a.state === "active" ? 0 : 1) - (b.state === "active" ? 0 : 1));
    const open = i.status === "open";
    const activeSvc = new Set((i.orders || []).filter((o) => o.state === "active").map((o) => o.service));
    const callers = (detail && detail.callers) || [];
    body.innerHTML = `
      <div class="detail" data-testid="incident-detail" data-incident="${esc(i.incident_id)}">
        <div class="detail-head sevb-${esc(i.severity)}">
          <div class="inc-row">${sevBadge(i.severity)} ${gradeBadge(i, true)} <span class="status-pill st-${esc(i.status)}">${esc(t("inc." + i.status))}</span>
            <span class="mono muted">${esc(i.incident_id)}</span></div>
          <h3>${esc(safeText(place(i)))}</h3>
          <div class="inc-row chips">${hazardChips(i)}<span class="chip">${esc(i.vehicles_movable ? t("inc.movable") : t("inc.unmovable"))}</span></div>
        </div>
        <dl class="facts">
          <div><dt>${esc(t("inc.age"))}</dt><dd class="big" data-since="${parseTime(i.first_reported_at)}" data-fmt="dur">${esc(fmtDuration((now - parseTime(i.first_reported_at)) / 1000))}</dd></div>
          <div><dt>${esc(t("inc.first"))}</dt><dd>${esc(fmtTime(i.first_reported_at))}</dd></div>
          <div><dt>${esc(t("inc.last"))}</dt><dd>${esc(fmtTime(i.last_reported_at))}</dd></div>
          <div><dt>${esc(t("inc.sources"))}</dt><dd>${(i.sources || []).map((s) => `<span class="chip">${esc(s)}</span>`).join(" ")} <span class="muted">${esc(t("inc.reports", { n: (i.report_ids || []).length }))}</span></dd></div>
          <div><dt>${esc(t("inc.plates"))}</dt><dd>${(i.plates || []).map((p) => `<span class="plate">${esc(p)}</span>`).join(" ") || "—"}</dd></div>
          ${partiesRows(detail && detail.who)}
          <div><dt>${esc(t("inc.hospital"))}</dt><dd>${hosp ? esc(hosp.name) : esc(i.hospital_id || "—")}${i.admission_id ? ` <span class="muted mono">${esc(i.admission_id)}</span>` : ""}</dd></div>
          ${i.closed_at ? `<div><dt>${esc(t("inc.closed_at"))}</dt><dd>${esc(fmtTime(i.closed_at))}</dd></div>` : ""}
          ${(i.police_timers || []).map((pt) => `<div data-testid="police-timer" data-timer="${esc(pt.timer)}" data-state="${esc(pt.state)}"><dt class="${pt.flagged ? "late-text" : ""}">${esc(t("ptimer." + pt.timer))}</dt><dd class="${pt.flagged ? "late-text" : ""}">${esc(t("ptimer.state." + pt.state))} · ${esc(t("ptimer.due"))} ${esc(fmtTime(pt.due, { seconds: false, forceDate: true }))}${(pt.calendar_years || []).length ? ` · ${esc(t("fund.calendar_flag", { years: pt.calendar_years.join(", ") }))}` : ""}</dd></div>`).join("")}
        </dl>
        ${flagged(i) ? `<section class="block nounit-block" data-testid="no-unit-box">${(i.no_unit_nearby || []).map((f) =>
          `<div class="nounit-row"><p>⚠ ${esc(safeText(lang() === "en" ? f.text_en || f.text : f.text))}</p>
            <button class="btn btn-sm btn-primary" data-act="choose" data-svc="${esc(f.service)}" data-testid="choose-unit-${esc(f.service)}">${esc(t("act.choose"))}</button></div>`).join("")}</section>` : ""}
        <section class="block">
          <div class="block-head"><h4>${esc(t("inc.orders"))}</h4>
            <div class="btn-row">
              ${open ? `${["122", "120"].map((svc) => activeSvc.has(svc)
                ? `<button class="btn btn-sm" data-act="reassign" data-svc="${svc}">${esc(t("act.reassign", { svc }))}</button>
                   <button class="btn btn-sm" data-act="choose" data-svc="${svc}" data-replace="1" data-testid="reassign-to-${svc}">${esc(t("act.reassign.to"))}</button>`
                : `<button class="btn btn-sm" data-act="choose" data-svc="${svc}" data-testid="add-unit-${svc}">${esc(t("act.add", { svc: t("svc.name." + svc) }))}</button>`).join("")}
              <button class="btn btn-sm btn-danger" data-act="close" data-testid="close-incident">${esc(t("act.close"))}</button>`
              : `<button class="btn btn-sm" data-act="reopen" data-testid="reopen-incident">${esc(t("act.reopen"))}</button>`}
            </div></div>
          ${orders.length ? `<div class="orders" data-testid="orders">${orders.filter((o) => o.state === "active").map((o) => orderRow(o, i)).join("")}</div>
            ${orders.some((o) => o.state !== "active") ? `<details class="past-orders"><summary>${esc(t("inc.past_orders", { n: orders.filter((o) => o.state !== "active").length }))}</summary>
              ${orders.filter((o) => o.state !== "active").map((o) => orderRow(o, i)).join("")}</details>` : ""}`
            : `<p class="muted pad">${esc(t("inc.no_orders"))}</p>`}
        </section>
        ${callers.length ? `<section class="block" data-testid="callers"><h4>${esc(t("inc.callers"))}</h4><ul class="callers">${callers.map((cl) =>
          `<li data-report="${esc(cl.report_id)}"><div><span class="chip">${esc(cl.source)}</span> <span class="mono muted">${esc(fmtTime(cl.reported_at))}</span> ${esc(cl.caller || "")}</div>
            <div class="caller-desc">${esc(safeText(cl.description || t("inc.caller.nodesc")))}</div>
            <div class="small">${esc(t("inc.caller.callback"))}: <span class="mono" data-callback="${esc(cl.report_id)}">${esc(cl.callback || t("inc.caller.none"))}</span>
            ${cl.has_callback ? `<button class="btn btn-xs" data-act="reveal" data-report="${esc(cl.report_id)}">${esc(t("inc.caller.reveal"))}</button>` : ""}</div></li>`).join("")}</ul></section>` : ""}
        ${(i.notes || []).length ? `<section class="block"><h4>${esc(t("inc.notes"))}</h4><ul class="notes" data-testid="notes">${i.notes.map((n) =>
          `<li><span class="mono muted">${esc(fmtTime(n.at))}</span> <b>${esc(tOr("tl." + n.kind, n.kind))}</b> ${esc(safeText(noteText(n)))}</li>`).join("")}</ul></section>` : ""}
        <section class="block">
          <h4>${esc(t("inc.timeline"))}</h4>
          <ol class="timeline" data-testid="timeline">${timeline.slice().reverse().map(timelineItem).join("") || `<li class="muted">${esc(t("inc.loading"))}</li>`}</ol>
        </section>
      </div>`;
    tick();
  }

  function partiesRows(who) {
    // who each party is (driver, occupant, pedestrian, cyclist, fled) and the fleeing vehicle (程序规定 16)
    if (!who) return "";
    const people = (who.parties || []).map((x) => `<span class="chip" data-testid="party-role" data-role="${esc(x.role || "")}">`
      + `${esc(tOr("role." + x.role, x.role || "—"))}${x.plate ? ` <span class="plate">${esc(x.plate)}</span>` : ""}`
      + `${x.vehicle_plate ? ` → <span class="plate">${esc(x.vehicle_plate)}</span>` : ""}`
      + `${x.vehicle_type && !x.motor_vehicle ? ` <span class="muted">${esc(t("inc.non_motor"))}</span>` : ""}</span>`).join(" ");
    const f = who.fled_vehicle;
    const fled = f ? [f.plate, f.model, f.colour, f.direction, f.driver].filter(Boolean).map((v) => esc(v)).join(" · ") : "";
    return `${people ? `<div><dt>${esc(t("inc.parties"))}</dt><dd>${people}</dd></div>` : ""}`
      + `${f ? `<div><dt>${esc(t("inc.fled_vehicle"))}</dt><dd data-testid="fled-vehicle">${fled || esc(t("inc.fled_unknown"))}</dd></div>` : ""}`;
  }

  function orderRow(o, inc) {
    const active = o.state === "active";
    const d = nextDue(o, inc);
    const unit = S.units.get(o.unit_id);
    const nextMap = o.service === "122" ? NEXT_122 : NEXT;
    const nxt = nextMap[o.unit_status];
    let actions = "";
    if (active && inc.status === "open") {
      if (o.unit_status === "dispatched")
        actions = `<button class="btn btn-sm btn-primary" data-act="ack" data-unit="${esc(o.unit_id)}" data-testid="ack-${esc(o.unit_id)}" title="${esc(t("act.ack.title"))}">${esc(t("act.ack"))}</button>`;
      else if (nxt)
        actions = `<button class="btn btn-sm" data-act="status" data-status="${nxt}" data-unit="${esc(o.unit_id)}" title="${esc(t("act.next.title"))}">${esc(t("act.next", { status: t("ust." + nxt) }))}</button>`;
    }
    const status = active ? o.unit_status : o.state;
    const statusLabel = active ? t("ust." + o.unit_status) : t("ord." + o.state);
    return `<div class="order${active ? "" : " inactive"}${d && Date.now() > d.due ? " late" : ""}" data-order="${esc(o.order_id)}" data-unit-row="${esc(o.unit_id)}">
      <div class="order-top"><i class="svc-dot svc-${o.service}"></i><span class="order-name">${esc(o.unit_name || (unit && unit.name) || o.unit_id)}</span>
        <span class="ustat ust-${esc(status)}" data-testid="unit-status-${esc(o.unit_id)}">${esc(statusLabel)}</span></div>
      <div class="order-meta">${esc(t("svc." + o.service))} · ${esc(fmtKm(o.distance_m))} · ${esc(t("col.eta"))} <span data-testid="eta">${esc(fmtEta(o.eta_s))}</span>
        · ${esc(t("col.elapsed"))} ${active ? `<span class="mono" data-since="${parseTime(o.issued_at)}" data-fmt="dur"></span>` : esc(fmtTime(o.issued_at, { seconds: false }))}</div>
      ${active ? `<div class="order-bottom">${d ? `<span class="due" data-due="${d.due}" data-step="${d.step}"></span>` : `<span class="muted small">${esc(t("due.none"))}</span>`}<span class="grow"></span>${actions}</div>` : ""}
    </div>`;
  }

  function timelineItem(e) {
    const bits = [];
    if (e.unit_name || e.unit_id) bits.push(esc(e.unit_name || (S.units.get(e.unit_id) || {}).name || e.unit_id));
    if (e.service) bits.push(esc(t("svc." + e.service)));
    if (e.status) bits.push(`<span class="ustat ust-${esc(e.status)}">${esc(t("ust." + e.status))}</span>`);
    if (e.hospital_name) bits.push(esc(e.hospital_name));
    if (e.distance_m !== undefined && e.distance_m !== null) bits.push(esc(fmtKm(e.distance_m)));
    if (e.source) bits.push(`${esc(e.source)} · ${esc(e.report_id || "")}`);
    if (e.amount_fen !== undefined) bits.push(`${esc(fmtFen(e.amount_fen))}`);
    if (e.insurer_fen !== undefined) bits.push(`${esc(t("hosp.insurer"))} ${esc(fmtFen(e.insurer_fen))}`);
    if (e.fund_fen !== undefined) bits.push(`${esc(t("hosp.fund"))} ${esc(fmtFen(e.fund_fen))}`);
    if (e.claim_id) bits.push(`${esc(e.insurer || "")} ${esc(e.claim_id)}`);
    if (e.case_id) bits.push(esc(e.case_id));
    const text = noteText(e);
    const label = t("tl." + e.kind);
    return `<li class="tl tl-${esc(e.kind)}"><span class="tl-time mono">${esc(fmtTime(e.at))}</span>
      <span class="tl-body"><b>${esc(label === "tl." + e.kind ? e.kind : label)}</b> ${bits.join(" · ")}${text ? `<div class="muted small">${esc(safeText(text))}</div>` : ""}</span></li>`;
  }

  /** A note's or timeline entry's words in the screen's language (dispatch writes both, dispatch/texts.py). */
  function noteText(e) {
    if (lang() === "en") return e.text_en || e.why_en || e.text || e.reason || e.why || "";
    return e.text || e.reason || e.why || "";
  }

  function unitsHtml() {
    const all = [...S.units.values()];
    const list = all.filter((u) => (!S.unitSvc || u.service === S.unitSvc)
      && (S.unitStatus === "" || (S.unitStatus === "busy" ? BUSY.has(u.status) : u.status === S.unitStatus)))
      .sort((a, b) => (BUSY.has(b.status) - BUSY.has(a.status)) || a.unit_id.localeCompare(b.unit_id));
    const counts = {};
    for (const u of all) counts[u.status] = (counts[u.status] || 0) + 1;
    const statusOpts = [["busy", t("units.busy")], ["", t("units.all")], ...["available", ...STATUS_ORDER, "out_of_service"].map((s) => [s, `${t("ust." + s)} (${counts[s] || 0})`])];
    const now = Date.now();
    return `<div class="units-pane" data-testid="units">
      <div class="filters">
        <div class="seg">${[["", t("units.all")], ["122", t("svc.122")], ["120", t("svc.120")]].map(([v, l]) =>
          `<button class="seg-btn${S.unitSvc === v ? " on" : ""}" data-usvc="${v}">${esc(l)}</button>`).join("")}</div>
        <select id="ustatus" aria-label="status">${statusOpts.map(([v, l]) => `<option value="${v}"${S.unitStatus === v ? " selected" : ""}>${esc(l)}</option>`).join("")}</select>
        <span class="muted small">${esc(t("units.count", { n: list.length }))}</span>
      </div>
      ${list.length ? `<table class="tbl units-tbl"><thead><tr><th>${esc(t("col.unit"))}</th><th>${esc(t("col.status"))}</th><th>${esc(t("col.since"))}</th><th></th></tr></thead><tbody>
      ${list.slice(0, 400).map((u) => {
        const nxt = (u.service === "122" ? NEXT_122 : NEXT)[u.status];
        const act = u.status === "dispatched"
          ? `<button class="btn btn-sm btn-primary" data-act="ack" data-unit="${esc(u.unit_id)}">${esc(t("act.ack"))}</button>`
          : nxt && u.incident_id ? `<button class="btn btn-sm" data-act="status" data-status="${nxt}" data-unit="${esc(u.unit_id)}">${esc(t("act.next", { status: t("ust." + nxt) }))}</button>` : "";
        return `<tr data-unit-row="${esc(u.unit_id)}"><td><div class="unit-name"><i class="svc-dot svc-${u.service}"></i>${esc(u.name)}</div>
          <div class="muted small mono">${esc(u.unit_id)}${u.incident_id ? ` · <a href="#" data-goto="${esc(u.incident_id)}">${esc(u.incident_id)}</a>` : ""}</div></td>
          <td><span class="ustat ust-${esc(u.status)}">${esc(t("ust." + u.status))}</span></td>
          <td class="mono small"><span data-since="${parseTime(u.status_at)}" data-fmt="age">${esc(fmtAge((now - parseTime(u.status_at)) / 1000))}</span></td>
          <td class="right">${act}</td></tr>`;
      }).join("")}</tbody></table>` : `<div class="empty">${esc(t("units.none"))}</div>`}
    </div>`;
  }

  function renderMapChrome() {
    $("#map-tools", root).innerHTML = `
      <div class="seg">${["all", "liaocheng", "zibo"].map((v) => `<button class="seg-btn" data-view="${v}">${esc(t("map." + v))}</button>`).join("")}</div>
      <div class="seg"><button class="seg-btn" data-zoom="1.5" title="${esc(t("map.zoomin"))}">＋</button><button class="seg-btn" data-zoom="0.67" title="${esc(t("map.zoomout"))}">－</button></div>`;
    $("#map-legend", root).innerHTML = `
      <div class="legend-row"><svg width="14" height="16"><path d="M7,15 L1,6 A6,6 0 1 1 13,6 Z" fill="${SEV_COLOR.injury}"/></svg>${esc(t("map.incident"))}</div>
      <div class="legend-row"><i class="lg-dot lg-122 on"></i><i class="lg-dot lg-122"></i>${esc(t("map.police"))}</div>
      <div class="legend-row"><i class="lg-dot lg-120 on"></i><i class="lg-dot lg-120"></i>${esc(t("map.ambulance"))}</div>
      <div class="legend-row"><i class="lg-cluster">9</i>${esc(t("map.cluster", { n: "N" }))}</div>
      <div class="legend-row"><i class="lg-hosp">+</i>${esc(t("map.hospital"))}</div>
      <div class="legend-note">${esc(t("map.note"))}</div>`;
  }

  function renderAll() {
    $("#inc-search", root).placeholder = t("inc.search");
    renderKpis(); renderList(); renderMap(); renderSide();
  }

  // ---------------------------------------------------------------- timers (every second, no re-render)
  function tick() {
    const now = Date.now();
    for (const el of $$("[data-since]", root)) {
      const since = Number(el.dataset.since);
      if (!since) continue;
      const sec = (now - since) / 1000;
      el.textContent = el.dataset.fmt === "age" ? fmtAge(sec) : fmtDuration(sec);
    }
    for (const el of $$("[data-due]", root)) {
      const left = (Number(el.dataset.due) - now) / 1000;
      const step = t("step." + el.dataset.step);
      el.textContent = left >= 0 ? t("due.left", { step, t: fmtDuration(left) }) : t("due.late", { step, t: fmtDuration(-left) });
      el.classList.toggle("late", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 30);
    }
    for (const el of $$("[data-dues]", root)) {
      const n = el.dataset.dues ? el.dataset.dues.split(",").filter((d) => Number(d) < now).length : 0;
      el.hidden = n === 0;
      el.textContent = `⚠ ${t("inc.overdue", { n })}`;
      el.closest(".inc-card")?.classList.toggle("has-late", n > 0);
    }
  }
  S.timers.push(setInterval(tick, 1000));
  S.timers.push(setInterval(() => { loadCounts().catch(() => {}); if (S.flash.size) renderList(); }, 5000));
  S.timers.push(setInterval(() => { loadUnits().catch(() => {}); }, 30000));
  S.timers.push(setInterval(() => { if (S.selected) loadDetail(S.selected); }, 20000));

  // ---------------------------------------------------------------- actions
  function select(id, focusMap = true) {
    S.selected = id;
    S.tab = "detail";
    renderList(); renderSide(); renderMap();
    const i = S.incidents.get(id);
    if (i && focusMap && S.map) S.map.focus(i.location.lon, i.location.lat, 1100);
    loadDetail(id);
  }

  async function setStatus(unitId, status, btn) {
    if (btn) btn.disabled = true;
    try {
      const out = await api("POST", `/api/units/${encodeURIComponent(unitId)}/status`, { status, note: "dashboard" });
      const u = S.units.get(unitId);
      if (u) S.units.set(unitId, { ...u, status: out.status });
      S.unitsVer++;
      for (const i of S.incidents.values()) for (const o of i.orders || []) if (o.unit_id === unitId && o.state === "active") o.unit_status = out.status;
      for (const d of S.details.values()) for (const o of d.orders || []) if (o.unit_id === unitId && o.state === "active") o.unit_status = out.status;
      const name = (u && u.name) || unitId;
      toast(status === "acknowledged" ? t("ok.ack", { unit: name }) : t("ok.status", { unit: name, status: t("ust." + out.status) }), "ok");
      renderAll();
      if (S.selected) loadDetailSoon(S.selected);
      loadUnitsSoon();
    } catch (e) {
      toast(errorText(e), "error");
      if (btn) btn.disabled = false;
    }
  }

  async function reassign(svc) {
    const v = await askForm({ title: t("dlg.reassign", { svc }), note: t("dlg.reassign.note"), submit: t("act.reassign", { svc }),
      fields: [{ name: "reason", label: t("dlg.reason"), type: "textarea", required: false }] });
    if (!v) return;
    try {
      await api("POST", `/api/incidents/${encodeURIComponent(S.selected)}/reassign`, { service: svc, reason: v.reason });
      toast(t("ok.reassign"), "ok");
      loadDetail(S.selected); loadUnitsSoon();
    } catch (e) { toast(errorText(e), "error"); }
  }

  async function chooseUnit(svc, replace) {
    const id = S.selected;
    let found;
    try { found = await api("GET", `/api/incidents/${encodeURIComponent(id)}/candidates?service=${svc}`); }
    catch (e) { toast(errorText(e), "error"); return; }
    const svcName = t("svc.name." + svc);
    if (!found.length) { toast(t("dlg.choose.none", { svc: svcName }), "error"); return; }
    const v = await askForm({ title: t("dlg.choose", { id, svc: svcName }), note: t("dlg.choose.note"),
      submit: replace ? t("act.reassign.to") : t("act.choose"),
      fields: [{ name: "unit_id", label: t("dlg.choose.unit"), type: "select", value: found[0].unit_id,
                 options: found.map((u) => [u.unit_id, `${u.name} · ${fmtKm(u.distance_m)} · ${fmtEta(u.eta_s)}${u.within_reach ? "" : " · " + t("dlg.beyond")}`]) },
               { name: "reason", label: t("dlg.reason"), type: "textarea", required: false }] });
    if (!v) return;
    try {
      const out = replace
        ? await api("POST", `/api/incidents/${encodeURIComponent(id)}/reassign`, { service: svc, unit_id: v.unit_id, reason: v.reason })
        : await api("POST", `/api/incidents/${encodeURIComponent(id)}/units`, { unit_id: v.unit_id, reason: v.reason });
      upsert(out, false);
      toast(t("ok.add", { unit: (found.find((u) => u.unit_id === v.unit_id) || {}).name || v.unit_id }), "ok");
      loadDetail(id); loadUnitsSoon(); countsSoon();
    } catch (e) { toast(errorText(e), "error"); }
  }

  async function reopenIncident() {
    const id = S.selected;
    const v = await askForm({ title: t("dlg.reopen", { id }), note: t("dlg.reopen.note"), submit: t("act.reopen"),
      fields: [{ name: "reason", label: t("dlg.reason"), type: "textarea", required: true }] });
    if (!v) return;
    try {
      const out = await api("POST", `/api/incidents/${encodeURIComponent(id)}/reopen`, { reason: v.reason });
      upsert(out, false);
      toast(t("ok.reopen"), "ok");
      loadDetail(id); countsSoon(); renderAll();
    } catch (e) { toast(errorText(e), "error"); }
  }

  async function revealCallback(reportId, btn) {
    try {
      const out = await api("GET", `/api/incidents/${encodeURIComponent(S.selected)}/callers/${encodeURIComponent(reportId)}/callback`);
      const el = root.querySelector(`[data-callback="${CSS.escape(reportId)}"]`);
      if (el) el.textContent = out.callback;
      if (btn) btn.remove();
    } catch (e) { toast(errorText(e), "error"); }
  }

  async function closeIncident() {
    const id = S.selected;
    const v = await askForm({ title: t("dlg.close", { id }), note: t("dlg.close.note"), submit: t("act.close"), danger: true,
      fields: [{ name: "reason", label: t("dlg.reason"), type: "textarea", required: true },
               { name: "police_classification", label: t("dlg.classification"), type: "select", value: "",
                 options: [["", t("cls.none")], ...["property", "injury", "death", "not_an_accident", "duplicate"].map((c) => [c, t("cls." + c)])] }] });
    if (!v) return;
    try {
      const body = { reason: v.reason };
      if (v.police_classification) body.police_classification = v.police_classification;
      let out;
      try {
        out = await api("POST", `/api/incidents/${encodeURIComponent(id)}/close`, body);
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 409 && e.body && e.body.reason === "patient_aboard")) throw e;
        const sure = await askForm({ title: t("dlg.patient"), danger: true, submit: t("act.close.anyway"),
          note: lang() === "en" ? e.body.reason_en : e.body.reason_zh, fields: [] });
        if (!sure) return;
        out = await api("POST", `/api/incidents/${encodeURIComponent(id)}/close`, { ...body, confirmed: true });
      }
      upsert(out, false); S.details.set(id, { ...(S.details.get(id) || {}), ...out });
      toast(t("ok.close"), "ok");
      renderAll(); loadUnitsSoon(); countsSoon(); loadDetail(id);
    } catch (e) { toast(errorText(e), "error"); }
  }

  root.addEventListener("click", (ev) => {
    const el = ev.target.closest("[data-incident],[data-filter],[data-tab],[data-act],[data-usvc],[data-goto],[data-view],[data-zoom]");
    if (!el || !root.contains(el)) return;
    if (el.dataset.act === "ack") return setStatus(el.dataset.unit, "acknowledged", el);
    if (el.dataset.act === "status") return setStatus(el.dataset.unit, el.dataset.status, el);
    if (el.dataset.act === "reassign") return reassign(el.dataset.svc);
    if (el.dataset.act === "close") return closeIncident();
    if (el.dataset.act === "choose") return chooseUnit(el.dataset.svc, el.dataset.replace === "1");
    if (el.dataset.act === "reopen") return reopenIncident();
    if (el.dataset.act === "reveal") return revealCallback(el.dataset.report, el);
    if (el.dataset.filter) {
      S.filter = el.dataset.filter; renderList(); renderMap();
      loadIncidents().catch((e) => toast(errorText(e), "error"));
      return;
    }
    if (el.dataset.tab) { S.tab = el.dataset.tab; renderSide(); return; }
    if (el.dataset.usvc !== undefined) { S.unitSvc = el.dataset.usvc; renderSide(); return; }
    if (el.dataset.goto) { ev.preventDefault(); return select(el.dataset.goto); }
    if (el.dataset.view && S.map) return S.map.fit(shell.geo.views[el.dataset.view]);
    if (el.dataset.zoom && S.map) return S.map.zoom(Number(el.dataset.zoom));
    if (el.dataset.incident && el.classList.contains("inc-card")) return select(el.dataset.incident);
  });
  root.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && ev.target.classList.contains("inc-card")) select(ev.target.dataset.incident);
  });
  root.addEventListener("input", (ev) => {
    if (ev.target.id === "inc-search") { S.search = ev.target.value; renderList(); }
  });
  root.addEventListener("change", (ev) => {
    if (ev.target.id === "ustatus") { S.unitStatus = ev.target.value; renderSide(); }
    if (ev.target.id === "grade-filter") { S.grade = ev.target.value || null; renderList(); renderMap(); }
  });

  // ---------------------------------------------------------------- start
  renderMapChrome();
  renderAll();
  loadGeo().then((geo) => {
    if (!S.alive) return;
    shell.geo = geo;
    S.map = new RegionMap($("#map", root), geo, { onSelect: (id) => select(id, false) });
    renderMap(); renderSide();
  }).catch((e) => toast(`${t("err.load")}: map ${e.message}`, "error"));
  loadIncidents().catch((e) => toast(`${t("err.load")}: ${errorText(e)}`, "error"));
  loadUnits().catch((e) => toast(`${t("err.load")}: ${errorText(e)}`, "error"));

  return {
    rerender() { renderMapChrome(); renderAll(); if (S.map) S.map.renderAll(); },
    unmount() {
      S.alive = false;
      S.feed.stop();
      S.timers.forEach(clearInterval);
      root.innerHTML = "";
    },
  };
}
