// The hospital desk: the green-channel queue, confirmation, rescue-cost bills in integer fen with the payer split.
import { t, tOr, lang } from "./i18n.js";
import "./i18n-desks.js";
import {
  api, errorText, esc, safeText, fmtTime, fmtFen, fmtAge, yuanToFen, parseTime, cstLocalInput, localInputToIso, toast, $, $$,
} from "./util.js";

export function mountHospital(root, shell) {
  const hid = shell.hospitalId;
  const S = { list: [], selected: null, lastBill: null, formKey: null, timers: [], alive: true, sig: "" };

  root.innerHTML = `
  <div class="desk desk-two" data-testid="desk-hospital">
    <aside class="pane pane-list">
      <div class="pane-head"><div><h2 id="h-title"></h2><div class="muted small" id="h-name"></div></div>
        <button class="btn btn-sm" data-act="refresh" id="h-refresh"></button></div>
      <div class="summary" id="h-summary"></div>
      <div id="adm-list" class="inc-list" data-testid="admission-list"></div>
    </aside>
    <section class="pane pane-main" id="adm-detail"></section>
  </div>`;

  function hospitalName() {
    const g = shell.geo && shell.geo.hospitals.find((x) => x.hospital_id === hid);
    return g ? g.name : "";
  }

  async function load() {
    try {
      const list = await api("GET", `/api/hospitals/${encodeURIComponent(hid)}/admissions?limit=200`);
      const sig = JSON.stringify(list);
      shell.setConn("polling", { at: Date.now() });
      if (sig === S.sig) return;
      S.sig = sig;
      S.list = list;
      if (!S.selected && list.length) S.selected = (list.find((a) => a.status !== "confirmed") || list[0]).admission_id;
      render();
    } catch (e) {
      shell.setConn("retry", { seconds: 5 });
      if (e.status !== 0) toast(errorText(e), "error");
    }
  }

  function statusPill(a) {
    return `<span class="status-pill adm-${esc(a.status)}" data-testid="admission-status">${esc(t("hosp.status." + a.status))}</span>`;
  }

  function render() {
    $("#h-title", root).textContent = t("hosp.title");
    $("#h-name", root).textContent = `${hospitalName()} · ${t("hosp.id")} ${hid}`;
    $("#h-refresh", root).textContent = t("btn.refresh");
    const waiting = S.list.filter((a) => a.status === "notified").length;
    $("#h-summary", root).innerHTML = `<div class="kpi kpi-injury"><div class="kpi-value">${waiting}</div><div class="kpi-label">${esc(t("hosp.status.notified"))}</div></div>
      <div class="kpi"><div class="kpi-value">${S.list.filter((a) => a.status === "confirmed").length}</div><div class="kpi-label">${esc(t("hosp.status.confirmed"))}</div></div>
      <div class="kpi"><div class="kpi-value" data-testid="withdrawn-count">${S.list.filter((a) => a.status === "withdrawn").length}</div><div class="kpi-label">${esc(t("hosp.status.withdrawn"))}</div></div>`;
    const box = $("#adm-list", root);
    if (!S.list.length) {
      box.innerHTML = `<div class="empty"><div class="empty-icon">✚</div><p>${esc(t("hosp.none"))}</p></div>`;
    } else {
      const now = Date.now();
      box.innerHTML = S.list.map((a) => {
        const inc = a.incident || {};
        const eta = parseTime(a.eta_at);
        return `<article class="inc-card sevb-${esc(inc.severity || "injury")}${a.admission_id === S.selected ? " selected" : ""}${a.status === "withdrawn" ? " withdrawn" : ""}" data-adm="${esc(a.admission_id)}" data-testid="admission-card" tabindex="0">
          <div class="inc-row">${statusPill(a)}<span class="inc-addr">${esc(safeText(inc.address || a.incident_id))}</span></div>
          <div class="inc-row small"><span class="mono">${esc(a.admission_id)}</span><span data-testid="card-patients">${esc(t("hosp.patients", { n: a.patients }))}</span></div>
          ${a.status === "withdrawn" ? `<div class="inc-row small late-text" data-testid="card-withdrawn">${esc(t("hosp.withdrawn." + (a.withdrawn_reason || "incident_closed")))}</div>`
            : a.ambulance ? `<div class="inc-row small" data-testid="card-ambulance">${esc(t("hosp.ambulance"))} · ${esc(ambulanceText(a.ambulance))}</div>` : ""}
          <div class="inc-row small muted">${a.status === "confirmed" ? `${esc(t("hosp.confirmed"))} ${esc(fmtTime(a.confirmed_at))}`
            : eta ? `${esc(t("hosp.eta"))} ${esc(fmtTime(a.eta_at, { seconds: false }))}` : `${esc(t("hosp.notified"))} ${esc(fmtTime(a.notified_at))}`}
            <span class="age" data-since="${parseTime(a.notified_at)}">${esc(fmtAge((now - parseTime(a.notified_at)) / 1000))}</span></div>
        </article>`;
      }).join("");
    }
    renderDetail();
  }

  function renderDetail() {
    const pane = $("#adm-detail", root);
    const a = S.list.find((x) => x.admission_id === S.selected);
    if (!a) { pane.innerHTML = `<div class="empty"><div class="empty-icon">✚</div><p>${esc(t("hosp.select"))}</p></div>`; S.formKey = null; return; }
    const inc = a.incident || {};
    const key = `${a.admission_id}:${a.status}`;
    const keepForm = S.formKey === key && $("#bill-form", pane);
    const formHtml = keepForm ? null : billFormHtml(a);
    const injuries = injuryChips(a.injuries);
    const info = `
      <div class="detail-head" data-testid="admission-detail" data-adm="${esc(a.admission_id)}">
        <div class="inc-row">${statusPill(a)}<span class="sev sev-${esc(inc.severity || "injury")}">${esc(t("sev." + (inc.severity || "injury")))}</span>
          ${inc.hit_and_run ? `<span class="chip chip-red">${esc(t("inc.hit_and_run"))}</span>` : ""}<span class="mono muted">${esc(a.admission_id)}</span></div>
        <h3>${esc(safeText(inc.address || a.incident_id))}</h3>
      </div>
      <dl class="facts facts-wide">
        <div><dt>${esc(t("hosp.incident"))}</dt><dd class="mono">${esc(a.incident_id)}</dd></div>
        <div><dt>${esc(t("hosp.patients.label"))}</dt><dd class="big" data-testid="patients">${esc(a.patients)}</dd></div>
        <div><dt>${esc(t("hosp.ambulance"))}</dt><dd data-testid="ambulance-status">${a.ambulance ? `<span class="mono">${esc(a.ambulance.unit_id)}</span> · ${esc(ambulanceText(a.ambulance))} <span class="muted small">${esc(fmtTime(a.ambulance.at))}</span>` : esc(t("hosp.ambulance.none"))}</dd></div>
        <div><dt>${esc(t("hosp.eta"))}</dt><dd>${esc(fmtTime(a.eta_at))}</dd></div>
        <div><dt>${esc(t("hosp.notified"))}</dt><dd>${esc(fmtTime(a.notified_at))}</dd></div>
        <div><dt>${esc(t("hosp.confirmed"))}</dt><dd>${esc(fmtTime(a.confirmed_at))}</dd></div>
        <div><dt>${esc(t("hosp.casualties"))}</dt><dd>${esc(t("inc.injured", { n: inc.injured ?? "—" }))} · ${esc(t("inc.fatalities", { n: inc.fatalities ?? "—" }))}</dd></div>
        ${injuries ? `<div class="span2"><dt>${esc(t("hosp.injuries"))}</dt><dd class="chips-dd">${injuries}</dd></div>` : ""}
      </dl>
      ${a.status === "withdrawn" ? `<p class="notice notice-red" data-testid="withdrawn-notice"><b>${esc(t("hosp.status.withdrawn"))}</b> · ${esc(t("hosp.withdrawn." + (a.withdrawn_reason || "incident_closed")))} ${esc(fmtTime(a.withdrawn_at))}</p>` : ""}
      ${a.status === "notified" ? `<div class="cta"><button class="btn btn-go btn-lg" data-act="confirm" data-testid="confirm-admission">✚ ${esc(t("hosp.confirm"))}</button></div>` : ""}`;
    const bills = `
      <section class="block" id="last-split">${S.lastBill && S.lastBill.admission_id === a.admission_id ? splitHtml(S.lastBill, true) : ""}</section>
      ${payerStatusHtml(a)}
      <section class="block"><h4>${esc(t("hosp.bills"))}</h4>
        ${(a.bills || []).length ? `<table class="tbl"><thead><tr><th>${esc(t("hosp.bill_id"))}</th><th class="num">${esc(t("hosp.total"))}</th><th class="num">${esc(t("hosp.insurer"))}</th><th class="num">${esc(t("hosp.fund"))}</th><th class="num">${esc(t("hosp.uncovered"))}</th><th>${esc(t("hosp.why"))}</th></tr></thead><tbody>
          ${a.bills.map((b) => `<tr><td><div class="mono">${esc(b.bill_id)}</div><div class="muted small">${esc(fmtTime(b.created_at))}</div></td>
            <td class="num">${esc(fmtFen(b.amount_fen))}</td><td class="num">${esc(fmtFen(b.payers.insurer_fen))}${b.payers.insurer ? ` <span class="muted">${esc(b.payers.insurer)}</span>` : ""}</td>
            <td class="num">${esc(fmtFen(b.payers.fund_fen))}</td><td class="num">${esc(fmtFen(b.payers.uncovered_fen))}</td>
            <td class="small" data-testid="bill-why">${reasonsList(b)}</td></tr>`).join("")}</tbody></table>`
          : `<p class="muted">${esc(t("hosp.nobills"))}</p>`}
      </section>`;
    if (keepForm) {
      $("#adm-info", pane).innerHTML = info;
      $("#adm-bills", pane).innerHTML = bills;
    } else {
      pane.innerHTML = `<div class="detail"><div id="adm-info">${info}</div><div id="adm-form">${formHtml}</div><div id="adm-bills">${bills}</div></div>`;
      S.formKey = key;
      wireForm();
    }
    applyFlex(pane);
  }

  function injuryChips(inj) {
    if (!inj || typeof inj !== "object") return "";
    const out = [];
    for (const [k, v] of Object.entries(inj)) {
      if (v === false || v === null || v === 0 || (Array.isArray(v) && !v.length)) continue;
      if (k === "injured" || k === "fatalities") continue;  // shown with the casualties
      if (k === "hazards" && Array.isArray(v)) { for (const hz of v) out.push(`<span class="chip chip-red">${esc(tOr("inc." + hz, hz))}</span>`); continue; }
      if (k === "trapped" && v === true) { out.push(`<span class="chip chip-red">${esc(t("inc.trapped"))}</span>`); continue; }
      const label = tOr("inj." + k, k);
      out.push(`<span class="chip chip-warn">${esc(label)}${v === true ? "" : `: ${esc(safeText(Array.isArray(v) ? v.join(", ") : typeof v === "object" ? JSON.stringify(v) : v))}`}</span>`);
    }
    return [...new Set(out)].join(" ");
  }

  function billFormHtml(a) {
    const confirmed = a.status === "confirmed";
    if (a.status === "withdrawn") return "";
    const started = a.confirmed_at ? parseTime(a.confirmed_at) : Date.now();
    return `<section class="block">
      <h4>${esc(t("hosp.bill"))}</h4>
      ${confirmed ? "" : `<p class="notice">${esc(t("hosp.confirm_first"))}</p>`}
      <form id="bill-form" class="form-grid" novalidate>
        <label class="field"><span>${esc(t("hosp.amount"))}</span>
          <div class="money-input"><span>¥</span><input name="amount" inputmode="decimal" autocomplete="off" placeholder="${esc(t("hosp.amount.ph"))}" data-testid="bill-amount" ${confirmed ? "" : "disabled"}></div>
          <small class="hint" id="amount-hint"></small></label>
        <label class="field"><span>${esc(t("hosp.started"))}</span>
          <input type="datetime-local" name="started" value="${cstLocalInput(started)}" ${confirmed ? "" : "disabled"}></label>
        <label class="field"><span>${esc(t("hosp.plate"))}</span>
          <input name="plate" autocomplete="off" placeholder="${esc(t("hosp.plate.ph"))}" ${confirmed ? "" : "disabled"}></label>
        <label class="field field-check"><input type="checkbox" name="extended" ${confirmed ? "" : "disabled"}> <span>${esc(t("hosp.extended"))}</span></label>
        <p class="form-error" role="alert" id="bill-error"></p>
        <div><button class="btn btn-primary" type="submit" data-testid="bill-submit" ${confirmed ? "" : "disabled"}>${esc(t("hosp.submit"))}</button></div>
      </form></section>`;
  }

  function splitHtml(b, fresh) {
    const p = b.payers || {};
    const reasons = Array.isArray(p.reasons) ? p.reasons : [];
    return `<div class="split-card${fresh ? " fresh" : ""}" data-testid="bill-split">
      <div class="split-head"><h4>${esc(t("hosp.split"))}</h4><span class="mono muted">${esc(b.bill_id)}</span></div>
      <div class="split-grid">
        <div class="split-cell total"><div class="lbl">${esc(t("hosp.total"))}</div><div class="amt" data-testid="split-total">${esc(fmtFen(b.amount_fen))}</div></div>
        <div class="split-cell ins"><div class="lbl">${esc(t("hosp.insurer"))}${p.insurer ? ` · ${esc(p.insurer)}` : ""}</div><div class="amt" data-testid="split-insurer">${esc(fmtFen(p.insurer_fen))}</div></div>
        <div class="split-cell fund"><div class="lbl">${esc(t("hosp.fund"))}</div><div class="amt" data-testid="split-fund">${esc(fmtFen(p.fund_fen))}</div></div>
        <div class="split-cell unc"><div class="lbl">${esc(t("hosp.uncovered"))}</div><div class="amt">${esc(fmtFen(p.uncovered_fen))}</div></div>
      </div>
      ${b.amount_fen ? `<div class="split-bar"><i class="ins" data-flex="${Number(p.insurer_fen) || 0}"></i><i class="fund" data-flex="${Number(p.fund_fen) || 0}"></i><i class="unc" data-flex="${Number(p.uncovered_fen) || 0}"></i></div>` : ""}
      ${b.insurer_pays_nothing ? `<p class="notice" data-testid="insurer-pays-nothing"><b>${esc(t("hosp.insurer_nothing"))}</b> ${esc(said(b.insurer_pays_nothing))}</p>` : ""}
      ${reasons.length ? `<div class="reasons"><h5>${esc(t("hosp.reasons"))}</h5>${reasonsList(b)}</div>` : ""}
    </div>`;
  }

  // how the insurer and the fund are paying this admission's bills, from their own events
  function payerStatusHtml(a) {
    if (!(a.bills || []).length) return "";
    const owes = { insurer: a.bills.some((b) => b.payers.insurer_fen > 0), fund: a.bills.some((b) => b.payers.fund_fen > 0) };
    const rows = ["insurer", "fund"].filter((k) => owes[k]).map((k) => {
      const st = (a.payments || {})[k];
      const label = k === "insurer" ? `${t("hosp.insurer")}${st && st.insurer ? ` · ${st.insurer}` : ""}` : t("hosp.fund");
      return `<div data-testid="payment-${k}"><dt>${esc(label)}</dt><dd>${esc(st ? tOr("hosp.pay." + st.status, t("hosp.pay.other")) : t("hosp.pay.waiting"))}
        ${st && st.amount_fen !== null && st.amount_fen !== undefined ? ` · ${esc(fmtFen(st.amount_fen))}` : ""}${st ? ` <span class="muted small">${esc(fmtTime(st.at))}</span>` : ""}</dd></div>`;
    }).join("");
    return rows ? `<section class="block"><h4>${esc(t("hosp.payments"))}</h4><dl class="facts facts-wide">${rows}</dl></section>` : "";
  }

  function said(r) { return lang() === "en" ? r.en : r.zh; }

  // the split's reasons in words, from the server's one table of texts (hospitals/bill_reasons.py), never codes
  function reasonsList(b) {
    const list = Array.isArray(b.reasons_explained) ? b.reasons_explained : [];
    if (!list.length) return "";
    return `<ul class="reason-list" data-testid="bill-reasons">${list.map((r) => `<li>${esc(said(r))}</li>`).join("")}</ul>`;
  }

  function ambulanceText(amb) {
    return tOr("ust." + amb.status, t("hosp.ambulance.other"));
  }

  function applyFlex(scope) {
    for (const el of $$("[data-flex]", scope)) el.style.flex = el.dataset.flex;  // CSSOM, not a style attribute
  }

  function wireForm() {
    const form = $("#bill-form", root);
    if (!form) return;
    const amount = form.elements.amount, hint = $("#amount-hint", root), err = $("#bill-error", root);
    amount.addEventListener("input", () => {
      err.textContent = "";
      if (!amount.value.trim()) { hint.textContent = ""; return; }
      try { const f = yuanToFen(amount.value); hint.textContent = `= ${fmtFen(f)}（${f} ${t("unit.fen")}）`; hint.classList.remove("bad"); }
      catch (e) { hint.textContent = e.message; hint.classList.add("bad"); }
    });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      err.textContent = "";
      const a = S.list.find((x) => x.admission_id === S.selected);
      let body;
      try {
        const fen = yuanToFen(amount.value);
        if (fen <= 0) throw new Error(t("err.amount"));
        body = { amount_fen: fen, rescue_started_at: localInputToIso(form.elements.started.value), items: [] };
        const plate = form.elements.plate.value.trim();
        if (plate) body.vehicle_plate = plate;
        if (form.elements.extended.checked) body.window_extended = true;
      } catch (e) { err.textContent = e.message; return; }
      const btn = form.querySelector("button[type=submit]");
      btn.disabled = true;
      try {
        const out = await api("POST", `/api/hospitals/${encodeURIComponent(hid)}/admissions/${encodeURIComponent(a.admission_id)}/bills`, body);
        S.lastBill = out;
        toast(t("hosp.bill.ok"), "ok");
        form.reset();
        form.elements.started.value = body.rescue_started_at.slice(0, 16);
        hint.textContent = "";
        $("#last-split", root).innerHTML = splitHtml(out, true);
        applyFlex(root);
        S.sig = "";
        load();
      } catch (e) {
        err.textContent = errorText(e);
      } finally { btn.disabled = false; }
    });
  }

  async function confirm(btn) {
    btn.disabled = true;
    try {
      const out = await api("POST", `/api/hospitals/${encodeURIComponent(hid)}/admissions/${encodeURIComponent(S.selected)}/confirm`, {});
      toast(t("hosp.confirm.ok"), "ok");
      const i = S.list.findIndex((x) => x.admission_id === out.admission_id);
      if (i >= 0) S.list[i] = { ...S.list[i], ...out };
      S.sig = "";
      render();
      load();
    } catch (e) { toast(errorText(e), "error"); btn.disabled = false; }
  }

  root.addEventListener("click", (ev) => {
    const el = ev.target.closest("[data-adm],[data-act]");
    if (!el || !root.contains(el)) return;
    if (el.dataset.act === "confirm") return confirm(el);
    if (el.dataset.act === "refresh") { S.sig = ""; return load(); }
    if (el.classList.contains("inc-card") && el.dataset.adm) { S.selected = el.dataset.adm; render(); }
  });
  root.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && ev.target.dataset && ev.target.dataset.adm && ev.target.classList.contains("inc-card")) { S.selected = ev.target.dataset.adm; render(); }
  });

  S.timers.push(setInterval(() => { if (S.alive) load(); }, 4000));
  S.timers.push(setInterval(() => {
    for (const el of $$("[data-since]", root)) el.textContent = fmtAge((Date.now() - Number(el.dataset.since)) / 1000);
  }, 1000));
  render();
  load();

  return {
    rerender() { S.formKey = null; render(); },
    unmount() { S.alive = false; S.timers.forEach(clearInterval); root.innerHTML = ""; },
  };
}
