// The insurer desk: the insurer's own claims and the steps of handling one (条例 27-29).
import { t, tOr, lang } from "./i18n.js";
import { api, errorText, esc, safeText, fmtTime, fmtFen, fenToYuanInput, toast, askForm, $ } from "./util.js";

// action: statuses it is allowed from (claims/services.py TRANSITIONS)
const STEPS = [
  ["request-documents", ["opened"]],
  ["documents-complete", ["opened", "documents_requested"]],
  ["assess", ["documents_complete", "assessed"]],
  ["decide", ["assessed"]],
  ["agree", ["cover_decided"]],
  ["pay", ["agreed"]],
];
const FLOW = ["opened", "documents_requested", "documents_complete", "assessed", "cover_decided", "agreed", "paid"];

export function mountInsurer(root, shell) {
  const S = { list: [], selected: null, detail: null, error: "", timers: [], alive: true, sig: "", status: "" };

  root.innerHTML = `
  <div class="desk desk-two" data-testid="desk-insurer">
    <aside class="pane pane-list">
      <div class="pane-head"><h2 id="c-title"></h2><select id="c-status" aria-label="status"></select></div>
      <div id="claim-list" class="inc-list" data-testid="claim-list"></div>
    </aside>
    <section class="pane pane-main" id="claim-detail"></section>
  </div>`;

  const stText = (s) => tOr("clm.st." + s, s);
  const pill = (s) => `<span class="status-pill cst-${esc(s)}" data-testid="claim-status">${esc(stText(s))}</span>`;

  async function load() {
    try {
      const list = await api("GET", `/api/claims?limit=500${S.status ? `&status=${encodeURIComponent(S.status)}` : ""}`);
      shell.setConn("polling", { at: Date.now() });
      const sig = JSON.stringify(list);
      if (sig === S.sig) return;
      S.sig = sig; S.list = list;
      if (!S.selected && list.length) S.selected = list[0].claim_id;
      const fresh = list.find((c) => c.claim_id === S.selected);
      if (fresh && (!S.detail || S.detail.version !== fresh.version)) S.detail = fresh;
      renderList(); renderDetail();
    } catch (e) {
      shell.setConn("retry", { seconds: 5 });
      if (e.status !== 0) toast(errorText(e), "error");
    }
  }

  async function loadDetail() {
    const id = S.selected;
    try {
      const d = await api("GET", `/api/claims/${encodeURIComponent(id)}`);
      if (S.selected === id) { S.detail = d; renderDetail(); }
    } catch (e) { S.error = errorText(e); renderDetail(); }
  }

  function renderList() {
    $("#c-title", root).textContent = t("clm.title");
    const sel = $("#c-status", root);
    sel.innerHTML = [["", t("inc.all")], ...["awaiting_routing", ...FLOW, "refused"].map((s) => [s, stText(s)])]
      .map(([v, l]) => `<option value="${v}"${S.status === v ? " selected" : ""}>${esc(l)}</option>`).join("");
    const box = $("#claim-list", root);
    if (!S.list.length) { box.innerHTML = `<div class="empty"><div class="empty-icon">⛨</div><p>${esc(t("clm.none"))}</p></div>`; return; }
    box.innerHTML = S.list.map((c) => `<article class="inc-card${c.claim_id === S.selected ? " selected" : ""}${(c.overdue || []).length ? " has-late" : ""}" data-claim="${esc(c.claim_id)}" data-testid="claim-card" tabindex="0">
        <div class="inc-row">${pill(c.status)}<span class="inc-addr"><span class="plate">${esc(c.plate || "—")}</span></span>
          <span class="chip">${esc(tOr("clm.kind." + c.kind, c.kind || ""))}</span></div>
        <div class="inc-row small"><span class="mono">${esc(c.claim_id)}</span><span class="muted">${esc(fmtTime(c.opened_at, { seconds: false }))}</span></div>
        <div class="inc-row small">${esc(safeText((c.facts && c.facts.location && c.facts.location.address) || ""))}
          ${(c.flags || []).length ? `<span class="chip chip-warn">⚑ ${(c.flags || []).length}</span>` : ""}</div>
      </article>`).join("");
  }

  function renderDetail() {
    const pane = $("#claim-detail", root);
    const c = S.detail;
    if (!c || c.claim_id !== S.selected) {
      pane.innerHTML = `<div class="empty"><div class="empty-icon">⛨</div><p>${esc(t("clm.select"))}</p></div>`;
      return;
    }
    const f = c.facts || {};
    const party = c.party || {};
    const en = lang() === "en";
    const flowIdx = FLOW.indexOf(c.status);
    pane.innerHTML = `<div class="detail" data-testid="claim-detail" data-claim="${esc(c.claim_id)}">
      <div class="detail-head">
        <div class="inc-row">${pill(c.status)}<span class="chip">${esc(tOr("clm.kind." + c.kind, c.kind || ""))}</span><span class="mono muted">${esc(c.claim_id)}</span></div>
        <h3><span class="plate">${esc(c.plate || "—")}</span> ${esc(safeText((f.location && f.location.address) || ""))}</h3>
        <div class="muted small">${esc(t("hosp.incident"))} <span class="mono">${esc(c.incident_id)}</span> · ${esc(t("clm.policy"))} <span class="mono">${esc(safeText(party.ci_policy || c.ci_policy || "—"))}</span></div>
      </div>
      <ol class="stepper">${FLOW.map((s, i) => `<li class="${c.status === "refused" && s === "cover_decided" ? "refused" : i < flowIdx ? "done" : i === flowIdx ? "now" : ""}"><span>${esc(stText(s))}</span>${c.timestamps && c.timestamps[s] ? `<small>${esc(fmtTime(c.timestamps[s], { seconds: false }))}</small>` : ""}</li>`).join("")}</ol>
      <div class="money-row">
        <div class="money-cell"><div class="lbl">${esc(t("clm.owed"))}</div><div class="amt">${esc(fmtFen(c.owed_to_hospital_fen))}</div></div>
        <div class="money-cell"><div class="lbl">${esc(t("clm.assessed"))}</div><div class="amt">${esc(fmtFen(c.assessed_fen))}</div></div>
        <div class="money-cell"><div class="lbl">${esc(t("clm.paid"))}</div><div class="amt">${esc(fmtFen(c.paid_fen))}</div></div>
      </div>
      <div class="action-bar" data-testid="claim-steps">
        ${STEPS.map(([a, from]) => `<button class="btn ${a === "pay" ? "btn-go" : a === "decide" ? "btn-primary" : ""}" data-act="${a}" data-testid="claim-${a}" ${from.includes(c.status) ? "" : "disabled"}>${esc(t("clm.act." + a))}</button>`).join("")}
      </div>
      <div class="alert" role="alert" data-testid="action-error" ${S.error ? "" : "hidden"}>${esc(S.error)}</div>
      ${c.decision ? `<p class="notice ${c.decision.accepted ? "notice-green" : "notice-red"}"><b>${esc(t("clm.decision"))}:</b> ${esc(c.decision.accepted ? t("clm.accepted") : t("clm.refused"))}${c.decision.reasons ? ` — ${esc(safeText(c.decision.reasons))}` : ""}</p>` : ""}
      ${(c.flags || []).length ? `<section class="block"><h4>${esc(t("clm.flags"))}</h4><ul class="flags">${c.flags.map((fl) => `<li>⚑ ${esc(en ? fl.en || fl.code : fl.zh || fl.code)}</li>`).join("")}</ul></section>` : ""}
      ${(c.overdue || []).length ? `<section class="block"><h4 class="late-text">${esc(t("clm.overdue"))}</h4><ul>${c.overdue.map((o) => `<li>${esc(o.step || "")} ${o.due ? esc(fmtTime(o.due, { forceDate: true })) : ""}</li>`).join("")}</ul></section>` : ""}
      <div class="grid-2">
        <section class="block"><h4>${esc(t("clm.party"))}</h4><dl class="facts">
          ${[["name", party.name], ["plate", party.plate], ["vehicle_type", party.vehicle_type], ["insurer", party.insurer], ["id_number", party.id_number], ["phone", party.phone]]
            .filter(([, v]) => v).map(([k, v]) => `<div><dt>${esc(t("party." + k))}</dt><dd class="mono">${esc(safeText(k === "vehicle_type" ? tOr("vt." + v, v) : v))}</dd></div>`).join("")}
        </dl></section>
        <section class="block"><h4>${esc(t("clm.facts"))}</h4><dl class="facts">
          <div><dt>${esc(t("inc.first"))}</dt><dd>${esc(fmtTime(f.reported_at, { forceDate: true }))}</dd></div>
          <div><dt>${esc(t("hosp.casualties"))}</dt><dd>${esc(t("inc.injured", { n: f.injured ?? 0 }))} · ${esc(t("inc.fatalities", { n: f.fatalities ?? 0 }))}</dd></div>
          <div><dt>${esc(t("inc.plates"))}</dt><dd>${(f.vehicles || []).map((p) => `<span class="plate">${esc(p)}</span>`).join(" ") || "—"}</dd></div>
          <div><dt></dt><dd>${f.hit_and_run ? `<span class="chip chip-red">${esc(t("inc.hit_and_run"))}</span>` : ""}${(f.hazards || []).map((hz) => `<span class="chip chip-red">${esc(t("inc." + hz))}</span>`).join("")}
            <span class="chip">${esc(f.vehicles_movable ? t("inc.movable") : t("inc.unmovable"))}</span></dd></div>
        </dl></section>
      </div>
    </div>`;
  }

  async function act(action) {
    const c = S.detail;
    let body = {};
    if (action === "assess" || action === "pay") {
      const preset = action === "pay" ? c.assessed_fen : c.assessed_fen ?? c.owed_to_hospital_fen;
      const v = await askForm({ title: `${t("clm.act." + action)} · ${c.claim_id}`, submit: t("clm.act." + action),
        fields: [{ name: "amount_fen", label: t("clm.amount"), type: "money", required: action === "assess", value: preset ? fenToYuanInput(preset) : "" }] });
      if (!v) return;
      if (v.amount_fen !== null) body.amount_fen = v.amount_fen;
    } else if (action === "decide") {
      const v = await askForm({ title: `${t("clm.act.decide")} · ${c.claim_id}`, submit: t("clm.act.decide"),
        fields: [{ name: "accepted", label: t("clm.decide.accepted"), type: "select", value: "yes", options: [["yes", t("clm.decide.yes")], ["no", t("clm.decide.no")]] },
                 { name: "reasons", label: t("clm.reasons"), type: "textarea" }],
        validate: (o) => { if (o.accepted === "no" && !o.reasons) throw new Error(t("clm.reasons.required")); } });
      if (!v) return;
      body = { accepted: v.accepted === "yes", reasons: v.reasons };
    }
    S.error = "";
    try {
      const out = await api("POST", `/api/claims/${encodeURIComponent(c.claim_id)}/${action}`, body);
      S.detail = out;
      toast(t("clm.ok", { step: t("clm.act." + action) }), "ok");
    } catch (e) {
      S.error = errorText(e);
      toast(S.error, "error");
    }
    renderDetail();
    S.sig = "";
    load();
  }

  root.addEventListener("click", (ev) => {
    const el = ev.target.closest("[data-claim],[data-act]");
    if (!el || !root.contains(el)) return;
    if (el.dataset.act) return act(el.dataset.act);
    if (el.dataset.claim && el.classList.contains("inc-card")) {
      S.selected = el.dataset.claim; S.error = "";
      S.detail = S.list.find((c) => c.claim_id === S.selected) || null;
      renderList(); renderDetail(); loadDetail();
    }
  });
  root.addEventListener("change", (ev) => {
    if (ev.target.id === "c-status") { S.status = ev.target.value; S.sig = ""; load(); }
  });

  S.timers.push(setInterval(() => { if (S.alive) load(); }, 5000));
  renderList(); renderDetail(); load();
  return {
    rerender() { renderList(); renderDetail(); },
    unmount() { S.alive = false; S.timers.forEach(clearInterval); root.innerHTML = ""; },
  };
}
