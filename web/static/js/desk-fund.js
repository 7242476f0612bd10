// The rescue-fund desk: review queue and cases; approve (yuan -> integer fen), reject with reasons, pay (maker-checker).
import { t, tOr, lang } from "./i18n.js";
import "./i18n-desks.js";
import { api, apiPage, errorText, esc, safeText, fmtTime, fmtFen, fenToYuanInput, parseTime, toast, askForm, debounce, $ } from "./util.js";

const OPEN = new Set(["opened", "police_notified", "applied", "approved"]);

export function mountFund(root, shell) {
  const S = { tab: "queue", list: [], total: null, selected: null, detail: null, error: "", timers: [], alive: true, sig: "",
              filter: { q: "", status: "", kind: "", overdue: false, sort: "deadline" } };
  const said = (r) => (lang() === "en" ? r.en : r.zh);

  root.innerHTML = `
  <div class="desk desk-two" data-testid="desk-fund">
    <aside class="pane pane-list">
      <div class="pane-head"><h2 id="f-title"></h2><div class="seg" id="f-tabs" data-testid="fund-tabs"></div></div>
      <form class="filters" id="f-filters" data-testid="fund-filters" autocomplete="off"></form>
      <div class="muted small list-count" id="f-count" data-testid="fund-count"></div>
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

  function queuePath() {
    const f = S.filter, q = new URLSearchParams({ limit: "200", sort: f.sort });
    if (f.q.trim()) q.set("q", f.q.trim());
    if (f.status) q.set("status", f.status);
    if (f.kind) q.set("kind", f.kind);
    if (f.overdue) q.set("overdue", "true");
    return `/api/fund/queue?${q}`;
  }

  async function load() {
    try {
      const { data: list, total } = S.tab === "queue" ? await apiPage(queuePath()) : { data: await api("GET", "/api/fund/cases?limit=500"), total: null };
      shell.setConn("polling", { at: Date.now() });
      const sig = JSON.stringify([list, total]);
      if (sig === S.sig) return;
      S.sig = sig; S.list = list; S.total = total;
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

  function renderFilters() {
    const form = $("#f-filters", root);
    form.hidden = S.tab !== "queue";
    if (form.hidden) return;
    const f = S.filter;
    const opt = (v, label, cur) => `<option value="${esc(v)}"${v === cur ? " selected" : ""}>${esc(label)}</option>`;
    const focused = document.activeElement && document.activeElement.name === "q" && form.contains(document.activeElement);
    if (focused) return;  // never re-render under the clerk's typing
    form.innerHTML = `
      <input type="search" name="q" value="${esc(f.q)}" placeholder="${esc(t("fund.search.ph"))}" aria-label="${esc(t("fund.search"))}" data-testid="fund-search">
      <select name="status" aria-label="${esc(t("fund.filter.status"))}" data-testid="fund-filter-status">${opt("", t("fund.filter.any_status"), f.status)}${["opened", "police_notified", "applied", "approved"].map((x) => opt(x, t("fund.st." + x), f.status)).join("")}</select>
      <select name="kind" aria-label="${esc(t("fund.filter.kind"))}" data-testid="fund-filter-kind">${opt("", t("fund.filter.any_kind"), f.kind)}${["rescue", "funeral"].map((x) => opt(x, t("fund.kind." + x), f.kind)).join("")}</select>
      <select name="sort" aria-label="${esc(t("fund.sort"))}" data-testid="fund-sort">${["deadline", "newest", "oldest", "amount"].map((x) => opt(x, t("fund.sort." + x), f.sort)).join("")}</select>
      <label class="check small"><input type="checkbox" name="overdue" data-testid="fund-filter-overdue"${f.overdue ? " checked" : ""}> ${esc(t("fund.filter.overdue"))}</label>`;
  }

  function countdown(c, step) {
    const n = (c.working_days_left || {})[step];
    if (n === undefined || n === null || !OPEN.has(c.status)) return "";
    return n < 0 ? t("fund.wd.late", { n: -n }) : n === 0 ? t("fund.wd.today") : t("fund.wd.left", { n });
  }

  function renderList() {
    $("#f-title", root).textContent = t("fund.title");
    $("#f-tabs", root).innerHTML = ["queue", "cases"].map((k) =>
      `<button class="seg-btn${S.tab === k ? " on" : ""}" data-ftab="${k}" data-testid="fund-tab-${k}">${esc(t("fund." + k))}</button>`).join("");
    renderFilters();
    $("#f-count", root).textContent = S.tab === "queue" && S.total !== null ? t("fund.count", { shown: S.list.length, total: S.total }) : "";
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
          ${dl ? `<span class="${late ? "late-text" : "muted"}" data-testid="case-countdown">${esc(stepText(dl.step))} · ${esc(countdown(c, dl.step) || fmtTime(dl.at, { seconds: false }))}</span>` : ""}</div>
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
    const acts = c.actions || {};
    const button = (act, cls) => {
      const a = acts[act] || { allowed: false };
      return `<div class="act-cell"><button class="btn ${cls}" data-act="${act}" data-testid="fund-${act}" ${a.allowed ? "" : "disabled"}
        ${a.allowed ? "" : `aria-describedby="why-${act}"`}>${esc(t("fund." + act))}</button>
        ${a.allowed || !a.zh ? "" : `<small class="why-not" id="why-${act}" data-testid="why-${act}">${esc(said(a))}</small>`}</div>`;
    };
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
        ${button("approve", "btn-primary")}${button("reject", "btn-danger")}${button("pay", "btn-go")}
        <span class="muted small">${esc(t("fund.maker_checker"))}</span>
      </div>
      <div class="alert" role="alert" data-testid="action-error" ${S.error ? "" : "hidden"}>${esc(S.error)}</div>
      <dl class="facts facts-wide">
        ${Object.entries(c.deadlines || {}).map(([k, v]) => `<div><dt>${esc(t("fund.deadlines"))} · ${esc(stepText(k))}</dt><dd class="${parseTime(v) < Date.now() && OPEN.has(c.status) ? "late-text" : ""}" data-testid="deadline-${esc(k)}">${esc(fmtTime(v, { seconds: false, forceDate: true }))} <b>${esc(countdown(c, k))}</b></dd></div>`).join("")}
        ${(c.calendar_flags || []).map((g) => `<div data-testid="calendar-flag"><dt class="late-text">${esc(t("fund.calendar_flag", { years: g.years.join(", ") }))}</dt><dd>${esc(stepText(g.step))} · ${esc(t("fund.calendar_flag.hint"))}</dd></div>`).join("")}
        ${(c.overdue || []).map((o) => `<div><dt class="late-text">${esc(t("fund.overdue"))}</dt><dd>${esc(stepText(o.step))} · ${esc(fmtTime(o.due, { seconds: false, forceDate: true }))}</dd></div>`).join("")}
        <div><dt>${esc(t("fund.approved_by"))}</dt><dd>${esc(c.approved_by ? String(c.approved_by).split(":")[1] || c.approved_by : "—")} ${c.approved_at ? esc(fmtTime(c.approved_at)) : ""}</dd></div>
        <div><dt>${esc(t("fund.paid_by"))}</dt><dd>${esc(c.paid_by ? String(c.paid_by).split(":")[1] || c.paid_by : "—")} ${c.paid_at ? esc(fmtTime(c.paid_at)) : ""}</dd></div>
      </dl>
      <section class="block" data-testid="fund-working"><h4>${esc(t("fund.working"))}</h4>
        ${(c.bills || []).length ? `<table class="tbl"><thead><tr><th></th><th class="num">${esc(t("hosp.total"))}</th><th class="num">${esc(t("fund.ci_limit"))}</th><th class="num">${esc(t("hosp.insurer"))}</th><th class="num">${esc(t("hosp.fund"))}</th><th>${esc(t("hosp.why"))}</th></tr></thead><tbody>
        ${c.bills.map((b) => `<tr><td><div class="mono">${esc(b.bill_id)}</div><div class="muted small">${esc(b.hospital_id)} · ${esc(fmtTime(b.created_at))}</div></td><td class="num">${esc(fmtFen(b.amount_fen))}</td>
          <td class="num">${b.payers.limit_fen ? esc(fmtFen(b.payers.limit_fen)) : "—"}</td><td class="num">${esc(fmtFen(b.payers.insurer_fen))}${b.payers.insurer ? ` <span class="muted">${esc(b.payers.insurer)}</span>` : ""}</td><td class="num">${esc(fmtFen(b.payers.fund_fen))}</td>
          <td class="small"><ul class="reason-list">${(b.reasons_explained || []).map((r) => `<li>${esc(said(r))}</li>`).join("")}</ul></td></tr>`).join("")}
          <tr class="sum"><td>${esc(t("fund.working.sum"))}</td><td class="num">${esc(fmtFen(c.bills.reduce((a, b) => a + (b.amount_fen || 0), 0)))}</td><td></td>
            <td class="num">${esc(fmtFen(c.bills.reduce((a, b) => a + (b.payers.insurer_fen || 0), 0)))}</td><td class="num" data-testid="working-fund">${esc(fmtFen(c.bills.reduce((a, b) => a + (b.payers.fund_fen || 0), 0)))}</td><td class="small">= ${esc(t("fund.eligible"))}</td></tr>
        </tbody></table>` : `<p class="muted">${esc(t("hosp.nobills"))}</p>`}
      </section>
      ${(c.ledger || []).length ? `<section class="block"><h4>${esc(t("fund.ledger"))}</h4><table class="tbl"><thead><tr><th>${esc(t("fund.account"))}</th><th class="num">${esc(t("fund.debit"))}</th><th class="num">${esc(t("fund.credit"))}</th><th></th></tr></thead><tbody>
        ${c.ledger.map((e) => `<tr><td data-testid="ledger-account">${esc(e.account_label ? said(e.account_label) : t("fund.account.other"))}</td><td class="num">${e.debit_fen ? esc(fmtFen(e.debit_fen)) : ""}</td><td class="num">${e.credit_fen ? esc(fmtFen(e.credit_fen)) : ""}</td><td class="muted small">${esc(fmtTime(e.at))}</td></tr>`).join("")}
        </tbody></table></section>` : ""}
      ${c.recovery ? `<section class="block"><h4>${esc(t("fund.recovery"))}</h4><p data-testid="recovery">${esc(tOr("fund.rec." + c.recovery.status, t("fund.rec.other")))} · ${esc(fmtFen(c.recovery.amount_fen))} · ${esc(t("fund.rec.from"))} ${esc(safeText((c.recovery.responsible && c.recovery.responsible.party) || t("fund.rec.unknown")))}</p></section>` : ""}
    </div>`;
  }

  function hospitalName(id) {
    const g = shell.geo && shell.geo.hospitals.find((x) => x.hospital_id === id);
    return g ? g.name : id || "—";
  }

  async function act(kind) {
    const c = S.detail;
    if (c.actions && c.actions[kind] && !c.actions[kind].allowed) return;  // shown as unavailable, with why
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
      const p = c.payee || {};
      const payee = p.kind === "relative" ? t("fund.payee.relative", { name: p.name || "—" })
        : t("fund.payee.hospital", { name: hospitalName(p.hospital_id), id: p.hospital_id || "—" });
      const v = await askForm({ title: `${t("fund.pay")} · ${c.case_id}`, submit: `${t("fund.pay")} ${fmtFen(c.approved_fen)}`,
        note: [`${t("fund.payee")}: ${payee}`, `${t("fund.payee.account")}: ${p.account || t("fund.payee.account_on_file")}`,
               `${t("fund.payee.from")}: ${p.from ? said(p.from) : "—"}`, `${t("fund.amount.pay")}: ${fmtFen(c.approved_fen)}`, t("fund.maker_checker")].join("\n"),
        fields: [{ name: "reference", label: t("fund.reference") }] });
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

  const reload = debounce(() => { S.sig = ""; load(); }, 250);
  root.addEventListener("input", (ev) => {
    const form = $("#f-filters", root);
    if (!form || !form.contains(ev.target)) return;
    S.filter = { q: form.elements.q.value, status: form.elements.status.value, kind: form.elements.kind.value,
                 overdue: form.elements.overdue.checked, sort: form.elements.sort.value };
    reload();
  });
  root.addEventListener("submit", (ev) => { if (ev.target.id === "f-filters") ev.preventDefault(); });

  S.timers.push(setInterval(() => { if (S.alive) load(); }, 5000));
  renderList(); renderDetail(); load();
  return {
    rerender() { renderList(); renderDetail(); },
    unmount() { S.alive = false; S.timers.forEach(clearInterval); root.innerHTML = ""; },
  };
}
