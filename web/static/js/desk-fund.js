// The rescue-fund desk: review queue and cases; approve (yuan -> integer fen), reject with reasons, pay (maker-checker).
import { t, tOr } from "./i18n.js";
import { api, errorText, esc, safeText, fmtTime, fmtFen, fenToYuanInput, parseTime, toast, askForm, $ } from "./util.js";

const OPEN = new Set(["opened", "police_notified", "applied", "approved"]);

export function mountFund(root, shell) {
  const S = { tab: "queue", list: [], selected: null, detail: null, error: "", timers: [], alive: true, sig: "" };

  root.innerHTML = `
  <div class="desk desk-two" data-testid="desk-fund">
    <aside class="pane pane-list">
      <div class="pane-head"><h2 id="f-title"></h2><div class="seg" id="f-tabs"></div></div>
      <div id="case-list" class="inc-list" data-testid="case-list"></div>
    </aside>
    <section class="pane pane-main" id="case-detail"></section>
  </div>`;

  const reasonText = (r) => tOr("fund.reason." + r, r);
  const stepText = (s) => tOr("fund.step." + s, s);
  const statusPill = (s) => `<span class="status-pill fst-${esc(s)}" data-testid="case-status">${esc(tOr("fund.st." + s, s))}</span>`;

  function nextDeadline(c) {
    const d = Object.entries(c.deadlines || {}).sort((a, b) => a[1].localeCompare(b[1]))[0];
    return d ? { step: d[0], at: d[1] } : null;
  }

  async function load() {
    try {
      const path = S.tab === "queue" ? "/api/fund/queue?limit=500" : "/api/fund/cases?limit=500";
      const list = await api("GET", path);
      shell.setConn("polling", { at: Date.now() });
      const sig = JSON.stringify(list);
      if (sig === S.sig) return;
      S.sig = sig; S.list = list;
      if (!S.selected && list.length) S.selected = list[0].case_id;
      renderList();
      if (S.selected) loadDetail();
    } catch (e) {
      shell.setConn("retry", { seconds: 5 });
      if (e.status !== 0) toast(errorText(e), "error");
    }
  }

  async function loadDetail() {
    const id = S.selected;
    try {
      const d = await api("GET", `/api/fund/cases/${encodeURIComponent(id)}`);
      if (S.selected !== id) return;
      S.detail = d;
      renderDetail();
    } catch (e) { S.error = errorText(e); renderDetail(); }
  }

  function renderList() {
    $("#f-title", root).textContent = t("fund.title");
    $("#f-tabs", root).innerHTML = ["queue", "cases"].map((k) =>
      `<button class="seg-btn${S.tab === k ? " on" : ""}" data-ftab="${k}">${esc(t("fund." + k))}</button>`).join("");
    const box = $("#case-list", root);
    if (!S.list.length) { box.innerHTML = `<div class="empty"><div class="empty-icon">¥</div><p>${esc(t("fund.none"))}</p></div>`; return; }
    box.innerHTML = S.list.map((c) => {
      const dl = nextDeadline(c);
      const late = dl && parseTime(dl.at) < Date.now();
      return `<article class="inc-card${c.case_id === S.selected ? " selected" : ""}${(c.overdue || []).length || (c.calendar_flags || []).length ? " has-late" : ""}" data-case="${esc(c.case_id)}" data-testid="case-card" tabindex="0">
        <div class="inc-row">${statusPill(c.status)}<span class="inc-addr mono">${esc(c.case_id)}</span></div>
        <div class="inc-row chips">${(c.reasons || []).map((r) => `<span class="chip chip-red">${esc(reasonText(r))}</span>`).join("")}
          <span class="chip">${esc(tOr("fund.kind." + c.kind, c.kind))}</span></div>
        <div class="inc-row small"><span>${esc(t("fund.eligible"))} <b>${esc(fmtFen(c.eligible_fen))}</b></span>
          ${dl ? `<span class="${late ? "late-text" : "muted"}">${esc(stepText(dl.step))} ${esc(fmtTime(dl.at, { seconds: false }))}</span>` : ""}</div>
      </article>`;
    }).join("");
  }

  function renderDetail() {
    const pane = $("#case-detail", root);
    const c = S.detail;
    if (!S.selected || !c || c.case_id !== S.selected) {
      pane.innerHTML = `<div class="empty"><div class="empty-icon">¥</div><p>${esc(S.selected ? t("inc.loading") : t("fund.select"))}</p></div>`;
      return;
    }
    const fa = c.first_approval;
    const canDecide = ["opened", "police_notified", "applied"].includes(c.status);
    pane.innerHTML = `<div class="detail" data-testid="case-detail" data-case="${esc(c.case_id)}">
      <div class="detail-head">
        <div class="inc-row">${statusPill(c.status)}<span class="chip">${esc(tOr("fund.kind." + c.kind, c.kind))}</span>
          ${(c.reasons || []).map((r) => `<span class="chip chip-red">${esc(reasonText(r))}</span>`).join("")}</div>
        <h3 class="mono">${esc(c.case_id)}</h3>
        <div class="muted small">${esc(t("hosp.incident"))} <span class="mono">${esc(c.incident_id)}</span> · ${esc(c.accident_date || "")}</div>
      </div>
      <div class="money-row">
        <div class="money-cell"><div class="lbl">${esc(t("fund.eligible"))}</div><div class="amt" data-testid="eligible">${esc(fmtFen(c.eligible_fen))}</div></div>
        <div class="money-cell"><div class="lbl">${esc(t("fund.approved"))}</div><div class="amt">${esc(fmtFen(c.approved_fen))}</div></div>
        <div class="money-cell"><div class="lbl">${esc(t("fund.paid"))}</div><div class="amt">${esc(fmtFen(c.paid_fen))}</div></div>
      </div>
      ${fa && c.status !== "approved" && c.status !== "paid" ? `<p class="notice">${esc(t("fund.awaiting_second", { amount: fmtFen(fa.amount_fen), by: String(fa.by || "").split(":")[1] || fa.by }))}</p>` : ""}
      ${c.rejected_reason ? `<p class="notice notice-red"><b>${esc(t("fund.rejected"))}:</b> ${esc(safeText(c.rejected_reason))}</p>` : ""}
      <div class="action-bar">
        <button class="btn btn-primary" data-act="approve" data-testid="fund-approve" ${canDecide ? "" : "disabled"}>${esc(t("fund.approve"))}</button>
        <button class="btn btn-danger" data-act="reject" data-testid="fund-reject" ${canDecide || c.status === "approved" ? "" : "disabled"}>${esc(t("fund.reject"))}</button>
        <button class="btn btn-go" data-act="pay" data-testid="fund-pay" ${c.status === "approved" ? "" : "disabled"}>${esc(t("fund.pay"))}</button>
        <span class="muted small">${esc(t("fund.maker_checker"))}</span>
      </div>
      <div class="alert" role="alert" data-testid="action-error" ${S.error ? "" : "hidden"}>${esc(S.error)}</div>
      <dl class="facts facts-wide">
        ${Object.entries(c.deadlines || {}).map(([k, v]) => `<div><dt>${esc(t("fund.deadlines"))} · ${esc(stepText(k))}</dt><dd class="${parseTime(v) < Date.now() && OPEN.has(c.status) ? "late-text" : ""}">${esc(fmtTime(v, { seconds: false, forceDate: true }))}</dd></div>`).join("")}
        ${(c.calendar_flags || []).map((g) => `<div data-testid="calendar-flag"><dt class="late-text">${esc(t("fund.calendar_flag", { years: g.years.join(", ") }))}</dt><dd>${esc(stepText(g.step))} · ${esc(t("fund.calendar_flag.hint"))}</dd></div>`).join("")}
        ${(c.overdue || []).map((o) => `<div><dt class="late-text">${esc(t("fund.overdue"))}</dt><dd>${esc(stepText(o.step))} · ${esc(fmtTime(o.due, { seconds: false, forceDate: true }))}</dd></div>`).join("")}
        <div><dt>${esc(t("fund.approved_by"))}</dt><dd>${esc(c.approved_by ? String(c.approved_by).split(":")[1] || c.approved_by : "—")} ${c.approved_at ? esc(fmtTime(c.approved_at)) : ""}</dd></div>
        <div><dt>${esc(t("fund.paid_by"))}</dt><dd>${esc(c.paid_by ? String(c.paid_by).split(":")[1] || c.paid_by : "—")} ${c.paid_at ? esc(fmtTime(c.paid_at)) : ""}</dd></div>
      </dl>
      <section class="block"><h4>${esc(t("fund.bills"))}</h4>
        ${(c.bills || []).length ? `<table class="tbl"><thead><tr><th></th><th class="num">${esc(t("hosp.total"))}</th><th class="num">${esc(t("hosp.insurer"))}</th><th class="num">${esc(t("hosp.fund"))}</th></tr></thead><tbody>
        ${c.bills.map((b) => `<tr><td><div class="mono">${esc(b.bill_id)}</div><div class="muted small">${esc(b.hospital_id)} · ${esc(fmtTime(b.created_at))}</div></td><td class="num">${esc(fmtFen(b.amount_fen))}</td><td class="num">${esc(fmtFen(b.payers.insurer_fen))}</td><td class="num">${esc(fmtFen(b.payers.fund_fen))}</td></tr>`).join("")}
        </tbody></table>` : `<p class="muted">${esc(t("hosp.nobills"))}</p>`}
      </section>
      ${(c.ledger || []).length ? `<section class="block"><h4>${esc(t("fund.ledger"))}</h4><table class="tbl"><thead><tr><th>${esc(t("fund.account"))}</th><th class="num">${esc(t("fund.debit"))}</th><th class="num">${esc(t("fund.credit"))}</th><th></th></tr></thead><tbody>
        ${c.ledger.map((e) => `<tr><td class="mono">${esc(e.account)}</td><td class="num">${e.debit_fen ? esc(fmtFen(e.debit_fen)) : ""}</td><td class="num">${e.credit_fen ? esc(fmtFen(e.credit_fen)) : ""}</td><td class="muted small">${esc(fmtTime(e.at))} ${esc(e.memo || "")}</td></tr>`).join("")}
        </tbody></table></section>` : ""}
      ${c.recovery ? `<section class="block"><h4>${esc(t("fund.recovery"))}</h4><p>${esc(c.recovery.status)} · ${esc(fmtFen(c.recovery.amount_fen))} ${esc(c.recovery.responsible || "")}</p></section>` : ""}
    </div>`;
  }

  async function act(kind) {
    const c = S.detail;
    let body;
    if (kind === "approve") {
      const v = await askForm({ title: `${t("fund.approve")} · ${c.case_id}`, submit: t("fund.approve"),
        note: `${t("fund.eligible")} ${fmtFen(c.eligible_fen)}`,
        fields: [{ name: "amount_fen", label: t("fund.amount"), type: "money", required: true,
                   value: c.first_approval ? fenToYuanInput(c.first_approval.amount_fen) : c.eligible_fen ? fenToYuanInput(c.eligible_fen) : "" },
                 { name: "note", label: t("fund.note"), type: "textarea" }],
        validate: (o) => { if (!(o.amount_fen > 0)) throw new Error(t("err.amount")); } });
      if (!v) return;
      body = { amount_fen: v.amount_fen, note: v.note };
    } else if (kind === "reject") {
      const v = await askForm({ title: `${t("fund.reject")} · ${c.case_id}`, submit: t("fund.reject"), danger: true,
        fields: [{ name: "reason", label: t("fund.reject.reason"), type: "textarea", required: true }] });
      if (!v) return;
      body = { reason: v.reason };
    } else {
      const v = await askForm({ title: `${t("fund.pay")} · ${c.case_id}`, submit: `${t("fund.pay")} ${fmtFen(c.approved_fen)}`,
        note: t("fund.maker_checker"), fields: [{ name: "reference", label: t("fund.reference") }] });
      if (!v) return;
      body = v.reference ? { reference: v.reference } : {};
    }
    S.error = "";
    try {
      const out = await api("POST", `/api/fund/cases/${encodeURIComponent(c.case_id)}/${kind}`, body);
      toast(out && out.awaiting_second_approval ? t("fund.ok.second") : t("fund.ok." + kind), "ok");
    } catch (e) {
      S.error = errorText(e);
      toast(S.error, "error");
    }
    S.sig = "";
    await load();
    await loadDetail();
  }

  root.addEventListener("click", (ev) => {
    const el = ev.target.closest("[data-case],[data-act],[data-ftab]");
    if (!el || !root.contains(el)) return;
    if (el.dataset.act) return act(el.dataset.act);
    if (el.dataset.ftab) { S.tab = el.dataset.ftab; S.sig = ""; return load(); }
    if (el.dataset.case && el.classList.contains("inc-card")) { S.selected = el.dataset.case; S.error = ""; S.detail = null; renderList(); renderDetail(); loadDetail(); }
  });

  S.timers.push(setInterval(() => { if (S.alive) load(); }, 5000));
  renderList(); renderDetail(); load();
  return {
    rerender() { renderList(); renderDetail(); },
    unmount() { S.alive = false; S.timers.forEach(clearInterval); root.innerHTML = ""; },
  };
}
