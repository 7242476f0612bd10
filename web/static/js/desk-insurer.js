// The insurer desk: the insurer's own claims and the steps of handling one (条例 27-29).
import { t, tOr, lang } from "./i18n.js";
import "./i18n-desks.js";
import { api, errorText, esc, safeText, fmtTime, fmtFen, fmtAge, fenToYuanInput, toast, askForm, debounce, $ } from "./util.js";

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
  const S = { list: [], selected: null, detail: null, error: "", timers: [], alive: true, sig: "", status: "", q: "" };
  const said = (r) => (lang() === "en" ? r.en : r.zh);

  root.innerHTML = `
  <div class="desk desk-two" data-testid="desk-insurer">
    <aside class="pane pane-list">
      <div class="pane-head"><h2 id="c-title"></h2><select id="c-status" data-testid="claim-filter-status"></select></div>
      <div class="filters"><input type="search" id="c-search" autocomplete="off" data-testid="claim-search"></div>
      <div id="claim-list" class="inc-list" data-testid="claim-list"></div>
    </aside>
    <section class="pane pane-main" id="claim-detail"></section>
  </div>`;

  const stText = (s) => tOr("clm.st." + s, s);
  const pill = (s) => `<span class="status-pill cst-${esc(s)}" data-testid="claim-status">${esc(stText(s))}</span>`;

  async function load() {
    try {
      const list = await api("GET", `/api/claims?limit=500${S.status ? `&status=${encodeURIComponent(S.status)}` : ""}${S.q.trim() ? `&q=${encodeURIComponent(S.q.trim())}` : ""}`);
      shell.setConn("polling", { at: Date.now() });
      const sig = JSON.stringify(list);
      if (sig === S.sig) return;
      S.sig = sig; S.list = list;
      if (!S.selected && list.length) S.selected = list[0].claim_id;
      const fresh = list.find((c) => c.claim_id === S.selected);
      renderList();
      if (fresh && (!S.detail || S.detail.version !== fresh.version)) loadDetail(); else renderDetail();
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
    const search = $("#c-search", root);
    search.placeholder = t("clm.search.ph");
    search.setAttribute("aria-label", t("clm.search"));
    const sel = $("#c-status", root);
    sel.setAttribute("aria-label", t("clm.filter.status"));
    sel.innerHTML = [["", t("inc.all")], ...["awaiting_routing", ...FLOW, "refused"].map((s) => [s, stText(s)])]
      .map(([v, l]) => `<option value="${v}"${S.status === v ? " selected" : ""}>${esc(l)}</option>`).join("");
    const box = $("#claim-list", root);
    if (!S.list.length) { box.innerHTML = `<div class="empty"><div class="empty-icon">⛨</div><p>${esc(t("clm.none"))}</p></div>`; return; }
    box.innerHTML = S.list.map((c) => `<article class="inc-card${c.claim_id === S.selected ? " selected" : ""}${(c.overdue || []).length ? " has-late" : ""}" data-claim="${esc(c.claim_id)}" data-testid="claim-card" tabindex="0">
        <div class="inc-row">${pill(c.status)}<span class="inc-addr"><span class="plate">${esc(c.plate || "—")}</span></span>
          <span class="chip">${esc(tOr("clm.kind." + c.kind, c.kind || ""))}</span></div>
        <div class="inc-row small"><span class="mono">${esc(c.claim_id)}</span><span class="muted">${esc(fmtTime(c.opened_at, { seconds: false }))}</span></div>
        ${nextDeadline(c) ? `<div class="inc-row small" data-testid="claim-card-deadline">${deadlineText(nextDeadline(c))}</div>` : ""}
        <div class="inc-row small">${esc(safeText((c.facts && c.facts.location && c.facts.location.address) || ""))}
          ${(c.flags || []).length ? `<span class="chip chip-warn">⚑ ${(c.flags || []).length}</span>` : ""}</div>
      </article>`).join("");
  }

  function nextDeadline(c) {
    return (c.deadlines || []).filter((d) => !d.done_at).sort((a, b) => a.due.localeCompare(b.due))[0] || null;
  }

  function deadlineText(d) {
    const label = t("clm.dl.label", { step: tOr("clm.dl." + d.step, t("clm.dl.other")), days: t("clm.dl.days", { n: d.days }) });
    if (d.done_at) return `<span class="muted">${esc(label)} · ${esc(t("clm.dl.done"))} ${esc(fmtTime(d.done_at, { seconds: false }))}</span>`;
    const left = (Date.parse(d.due) - Date.now()) / 1000;
    return `<span class="${left < 0 ? "late-text" : left < 86400 ? "warn-text" : ""}">${esc(label)} · ${esc(left < 0 ? t("clm.dl.late", { age: fmtAge(-left) }) : t("clm.dl.left", { age: fmtAge(left) }))}</span>`;
  }

  function quickHtml(q) {
    if (!q) return "";
    const o = q.outcome || {};
    const shares = o.shares || {};
    const agreement = o.agreement || {};
    const signed = new Set(q.signed || []);
    return `<section class="block" data-testid="claim-quick"><h4>${esc(t("clm.quick"))} <span class="mono muted small">${esc(q.quick_id)}</span></h4>
      <p>${esc(tOr("clm.quick.st." + q.status, t("clm.quick.st.other")))}${o.kind ? ` · ${esc(tOr("clm.quick.kind." + o.kind, t("clm.quick.st.other")))}` : ""}</p>
      ${Object.keys(shares).length ? `<table class="tbl" data-testid="claim-liability"><thead><tr><th>${esc(t("clm.plate"))}</th><th>${esc(t("clm.liability"))}</th><th>${esc(t("clm.signed"))}</th></tr></thead><tbody>
        ${Object.entries(shares).map(([plate, d]) => `<tr><td><span class="plate">${esc(plate)}</span></td><td>${esc(tOr("liab." + d, t("clm.quick.st.other")))}</td>
          <td>${signed.has(plate) || (agreement.parties || []).some((p) => p.plate === plate && p.signed) ? esc(t("clm.signed.yes")) : esc(t("clm.signed.no"))}
          ${q.signatures && q.signatures[plate] ? `<img class="sig" alt="${esc(t("clm.signature"))}" data-testid="claim-signature" src="${esc(q.signatures[plate].data_url || q.signatures[plate].url || "")}">` : ""}</td></tr>`).join("")}
      </tbody></table>` : ""}
      ${(q.photos || []).length ? `<div class="photos" data-testid="claim-photos">${q.photos.map((p) => `<figure><img data-src="${esc(p.url)}" alt="${esc(tOr("photo." + p.kind, t("clm.photo")))}"><figcaption>${esc(tOr("photo." + p.kind, t("clm.photo")))} · <span class="plate">${esc(p.by)}</span></figcaption></figure>`).join("")}</div>`
        : `<p class="muted">${esc(t("clm.photos.none"))}</p>`}
    </section>`;
  }

  async function loadPhotos(pane) {
    for (const img of pane.querySelectorAll("img[data-src]")) {  // photos need the bearer token: fetched, shown as blobs
      const url = img.dataset.src;
      img.removeAttribute("data-src");
      try {
        const res = await fetch(url, { headers: { Authorization: `Bearer ${shell.token}` } });
        if (res.ok) img.src = URL.createObjectURL(await res.blob());
      } catch { /* the caption says what it was */ }
    }
  }

  function billsHtml(c) {
    const bills = (c.facts && c.facts.hospital_bills) || [];
    if (c.kind !== "injury" && !bills.length) return "";
    return `<section class="block" data-testid="claim-bills"><h4>${esc(t("clm.bills"))}</h4>
      ${bills.length ? `<table class="tbl"><thead><tr><th>${esc(t("clm.hospital"))}</th><th>${esc(t("hosp.bill_id"))}</th><th class="num">${esc(t("hosp.total"))}</th><th class="num">${esc(t("clm.bill.share"))}</th></tr></thead><tbody>
        ${bills.map((b) => `<tr><td>${esc(hospitalName(b.hospital_id))}</td><td class="mono">${esc(b.bill_id)}</td><td class="num">${esc(fmtFen(b.amount_fen))}</td><td class="num">${esc(fmtFen(b.insurer_fen))}</td></tr>`).join("")}
      </tbody></table>` : `<p class="muted">${esc(t("hosp.nobills"))}</p>`}</section>`;
  }

  function hospitalName(id) {
    const g = shell.geo && shell.geo.hospitals.find((x) => x.hospital_id === id);
    return g ? g.name : id || "—";
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
      ${(c.deadlines || []).length ? `<section class="block" data-testid="claim-deadlines"><h4>${esc(t("clm.deadlines"))}</h4><ul class="deadlines">${c.deadlines.map((d) => `<li>${deadlineText(d)} <span class="muted small">${esc(fmtTime(d.due, { seconds: false, forceDate: true }))}</span></li>`).join("")}</ul></section>` : ""}
      <div class="action-bar" data-testid="claim-steps">
        ${STEPS.map(([a, from]) => `<button class="btn ${a === "pay" ? "btn-go" : a === "decide" ? "btn-primary" : ""}" data-act="${a}" data-testid="claim-${a}" ${from.includes(c.status) ? "" : "disabled"}>${esc(t("clm.act." + a))}</button>`).join("")}
      </div>
      <div class="alert" role="alert" data-testid="action-error" ${S.error ? "" : "hidden"}>${esc(S.error)}</div>
      ${c.decision ? `<p class="notice ${c.decision.accepted ? "notice-green" : "notice-red"}" data-testid="claim-decision"><b>${esc(t("clm.decision.own"))}:</b> ${esc(c.decision.accepted ? t("clm.accepted") : t("clm.refused"))}${c.decision.reasons ? ` — ${esc(safeText(c.decision.reasons))}` : ""}</p>` : ""}
      ${(c.flags || []).length ? `<section class="block"><h4>${esc(t("clm.flags"))}</h4><ul class="flags">${c.flags.map((fl) => `<li>⚑ ${esc(en ? fl.en || fl.code : fl.zh || fl.code)}</li>`).join("")}</ul></section>` : ""}
      ${(c.overdue || []).length ? `<section class="block"><h4 class="late-text">${esc(t("clm.overdue"))}</h4><ul>${c.overdue.map((o) => `<li>${esc(tOr("clm.dl." + o.step, t("clm.dl.other")))} ${o.due ? esc(fmtTime(o.due, { forceDate: true })) : ""}</li>`).join("")}</ul></section>` : ""}
      ${quickHtml(c.quick)}
      ${billsHtml(c)}
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
    loadPhotos(pane);
  }

  function overLimit(c, fen) {
    const lim = c.ci_limit;
    if (!lim || fen === null || fen === undefined) return null;
    const cap = lim.for_kind_fen;
    return fen > cap ? cap : null;
  }

  async function act(action) {
    const c = S.detail;
    let body = {};
    if (action === "assess" || action === "pay") {
      const preset = action === "pay" ? c.assessed_fen : c.assessed_fen ?? c.owed_to_hospital_fen;
      const party = c.party || {};
      const payee = action === "pay" ? (c.facts && (c.facts.hospital_bills || []).length
        ? t("clm.payee.hospital", { name: [...new Set(c.facts.hospital_bills.map((b) => hospitalName(b.hospital_id)))].join("、") })
        : t("clm.payee.party", { name: safeText(party.name || "—"), plate: c.plate || "—" })) : "";
      const lim = c.ci_limit;
      const v = await askForm({ title: `${t("clm.act." + action)} · ${c.claim_id}`, submit: t("clm.act." + action),
        note: [payee ? `${t("clm.payee")}: ${payee}` : "", lim ? t("clm.limit.note", { amount: fmtFen(lim.for_kind_fen), liab: lim.liability ? tOr("liab." + lim.liability, "") : t("clm.liab.undetermined") }) : ""].filter(Boolean).join("\n"),
        fields: [{ name: "amount_fen", label: t("clm.amount"), type: "money", required: action === "assess", value: preset ? fenToYuanInput(preset) : "" }] });
      if (!v) return;
      const cap = overLimit(c, v.amount_fen);
      if (action === "pay" && cap !== null) {  // a second look before paying above the 交强险 limit
        const sure = await askForm({ title: t("clm.over.title"), submit: t("clm.over.ok"), danger: true,
          note: t("clm.over.note", { amount: fmtFen(v.amount_fen), cap: fmtFen(cap), liab: lim.liability ? tOr("liab." + lim.liability, "") : t("clm.liab.undetermined") }),
          fields: [{ name: "sure", label: t("clm.over.check"), type: "checkbox" }],
          validate: (o) => { if (!o.sure) throw new Error(t("clm.over.check")); } });
        if (!sure) return;
      }
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
      S.detail = { ...S.detail, ...out };
      toast(t("clm.ok", { step: t("clm.act." + action) }), "ok");
    } catch (e) {
      S.error = errorText(e);
      toast(S.error, "error");
    }
    renderDetail();
    S.sig = "";
    load();
    loadDetail();  // the deadlines, limits and quick-handling result as they now stand
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
  const searchAgain = debounce(() => { S.sig = ""; load(); }, 250);
  root.addEventListener("input", (ev) => {
    if (ev.target.id === "c-search") { S.q = ev.target.value; searchAgain(); }
  });

  S.timers.push(setInterval(() => { if (S.alive) load(); }, 5000));
  renderList(); renderDetail(); load();
  return {
    rerender() { renderList(); renderDetail(); },
    unmount() { S.alive = false; S.timers.forEach(clearInterval); root.innerHTML = ""; },
  };
}
