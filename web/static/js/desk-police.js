// The police online-determination desk (程序规定 20): quick-handling cases the parties could not settle
// (contradicting answers, an objection, a dispute), with both parties' answers, objections and photos; the
// officer decides each party's liability, and the claims of both insurers proceed on it.
import "./quick-i18n.js";
import "./police-i18n.js";
import { t, lang } from "./i18n.js";
import { api, errorText, esc, safeText, fmtTime, toast, session, $ } from "./util.js";

const DEGREES = ["full", "primary", "equal", "secondary", "none"];

export function mountPolice(root, shell) {
  const S = { list: [], selected: null, done: null, sig: "", timers: [], alive: true, error: "", images: {} };
  root.innerHTML = `
  <div class="desk desk-two" data-testid="desk-police">
    <aside class="pane pane-list">
      <div class="pane-head"><h2 id="p-title"></h2></div>
      <div id="quick-list" class="inc-list" data-testid="police-list"></div>
    </aside>
    <section class="pane pane-main" id="quick-detail"></section>
  </div>`;
  const tx = (o) => (o ? (lang() === "en" ? o.en || o.zh : o.zh || o.en) : "");
  const deg = (d) => t(`qk.deg.${d}`);

  async function load() {
    try {
      const list = await api("GET", "/api/quick?limit=500");
      shell.setConn("polling", { at: Date.now() });
      const sig = JSON.stringify(list);
      if (sig === S.sig) return;
      const before = JSON.stringify(S.list.find((x) => x.quick_id === S.selected) || null);
      S.sig = sig; S.list = list;
      if (!S.selected && list.length && !S.done) S.selected = list[0].quick_id;
      renderList();
      // the officer's half-filled form survives a refresh of the list unless the case itself changed
      if (JSON.stringify(S.list.find((x) => x.quick_id === S.selected) || null) !== before) renderDetail();
    } catch (e) {
      shell.setConn("retry", { seconds: 5 });
      if (e.status !== 0) toast(errorText(e), "error");
    }
  }

  function renderList() {
    $("#p-title", root).textContent = t("pol.title");
    const box = $("#quick-list", root);
    if (!S.list.length) { box.innerHTML = `<div class="empty"><div class="empty-icon">⚖</div><p>${esc(t("pol.none"))}</p></div>`; return; }
    box.innerHTML = S.list.map((q) => `<article class="inc-card${q.quick_id === S.selected ? " selected" : ""}" data-quick="${esc(q.quick_id)}" data-testid="police-card" tabindex="0">
      <div class="inc-row"><span class="status-pill">${esc(t("pol.waiting"))}</span><span class="inc-addr">${q.parties.map((p) => `<span class="plate">${esc(p.plate)}</span>`).join(" ")}</span></div>
      <div class="inc-row small"><span class="mono">${esc(q.quick_id)}</span><span class="muted">${esc(fmtTime(q.updated_at, { seconds: false }))}</span></div>
      <div class="inc-row small">${esc(safeText(tx(q.outcome && q.outcome.reason)))}</div></article>`).join("");
  }

  function partyBlock(p) {
    return `<div class="block" data-testid="police-party-${esc(p.plate)}"><h4><span class="plate">${esc(p.plate)}</span> ${esc(p.insurer || "")} ${esc(safeText(p.name || ""))}
        <span class="chip">${esc(p.signed ? t("pol.signed") : t("pol.unsigned"))}</span></h4>
      <dl class="facts">
        <div><dt>${esc(t("pol.answer"))}</dt><dd data-testid="police-answer-${esc(p.plate)}">${esc(p.answer ? tx(p.answer) : t("pol.no_answer"))}</dd></div>
        ${(p.situations || []).length ? `<div><dt>${esc(t("pol.ticked"))}</dt><dd>${esc(p.situations.join(", "))}</dd></div>` : ""}
        ${p.objection ? `<div><dt>${esc(t("pol.objection"))}</dt><dd class="late-text" data-testid="police-objection-${esc(p.plate)}">${esc(safeText(p.objection.reason))}</dd></div>` : ""}
      </dl></div>`;
  }

  function renderDetail() {
    const pane = $("#quick-detail", root);
    if (S.done) {
      pane.innerHTML = `<div class="detail" data-testid="police-done"><p class="notice notice-green"><b>${esc(t("pol.done"))}</b></p>
        <p class="mono">${esc(S.done.quick_id)}</p>
        <ul>${Object.entries(S.done.outcome.shares || {}).map(([pl, d]) => `<li><span class="plate">${esc(pl)}</span> ${esc(deg(d))}</li>`).join("")}</ul></div>`;
      return;
    }
    const q = S.list.find((x) => x.quick_id === S.selected);
    if (!q) { pane.innerHTML = `<div class="empty"><div class="empty-icon">⚖</div><p>${esc(t("pol.select"))}</p></div>`; return; }
    const files = [...(q.photo_files || []).map((f) => ({ ...f, label: t(`pol.kind.${f.kind}`) })),
      ...q.parties.filter((p) => p.signature_sha256).map((p) => ({ sha256: p.signature_sha256, by: p.plate, label: t("pol.kind.signature") }))];
    pane.innerHTML = `<div class="detail" data-testid="police-detail" data-quick="${esc(q.quick_id)}">
      <div class="detail-head"><h3>${q.parties.map((p) => `<span class="plate">${esc(p.plate)}</span>`).join(" ")} <span class="mono muted">${esc(q.quick_id)}</span></h3>
        <div class="muted small">${esc(t("hosp.incident"))} <span class="mono">${esc(q.incident_id)}</span> · ${esc(t("pol.updated"))} ${esc(fmtTime(q.updated_at))}</div></div>
      <p class="notice" data-testid="police-why"><b>${esc(t("pol.why"))}:</b> ${esc(safeText(tx(q.outcome && q.outcome.reason)))}</p>
      <section class="block"><h4>${esc(t("pol.parties"))}</h4><div class="grid-2">${q.parties.map(partyBlock).join("")}</div></section>
      <section class="block"><h4>${esc(t("pol.photos"))}</h4>
        ${files.length ? `<div class="police-photos">${files.map((f) => `<figure class="police-photo" data-sha="${esc(f.sha256)}" data-testid="police-photo">
          <div class="slot"></div><figcaption class="small">${esc(f.label)} · ${esc(t("pol.by"))} ${esc(f.by)}</figcaption></figure>`).join("")}</div>`
          : `<p class="muted">${esc(t("pol.no_photos"))}</p>`}</section>
      <section class="block"><h4>${esc(t("pol.decide"))}</h4><p class="muted small">${esc(t("pol.decide.lead"))}</p>
        <form id="decide-form" data-testid="police-decide-form">
          ${q.parties.map((p) => `<label class="field"><span><span class="plate">${esc(p.plate)}</span></span>
            <select name="deg:${esc(p.plate)}" data-testid="police-degree-${esc(p.plate)}">${DEGREES.map((d) => `<option value="${d}">${esc(deg(d))}</option>`).join("")}</select></label>`).join("")}
          <label class="field"><span>${esc(t("pol.reason"))}</span><textarea name="reason" rows="3" data-testid="police-reason" placeholder="${esc(t("pol.reason.ph"))}"></textarea></label>
          <p class="form-error" role="alert" data-testid="police-error">${esc(S.error)}</p>
          <button type="submit" class="btn btn-primary" data-testid="police-submit">${esc(t("pol.submit"))}</button>
        </form></section></div>`;
    for (const fig of pane.querySelectorAll(".police-photo")) showImage(q.quick_id, fig.dataset.sha, $(".slot", fig));
  }

  async function showImage(quickId, sha, slot) {
    const key = `${quickId}/${sha}`;
    if (!S.images[key]) {
      S.images[key] = (async () => {
        const res = await fetch(`/api/quick/${encodeURIComponent(quickId)}/evidence/${sha}`, { headers: { Authorization: `Bearer ${session.token}` } });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        return createImageBitmap(await res.blob());
      })();
    }
    try {
      const bmp = await S.images[key];
      const c = document.createElement("canvas");
      const scale = Math.min(1, 360 / bmp.width);
      c.width = Math.max(1, Math.round(bmp.width * scale)); c.height = Math.max(1, Math.round(bmp.height * scale));
      c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height);
      c.className = "police-img";
      slot.replaceChildren(c);
    } catch { slot.textContent = "—"; }
  }

  root.addEventListener("click", (ev) => {
    const card = ev.target.closest(".inc-card[data-quick]");
    if (card) { S.selected = card.dataset.quick; S.done = null; S.error = ""; renderList(); renderDetail(); }
  });
  root.addEventListener("submit", async (ev) => {
    if (ev.target.id !== "decide-form") return;
    ev.preventDefault();
    const f = ev.target, q = S.list.find((x) => x.quick_id === S.selected);
    const reason = f.elements.reason.value.trim();
    if (!reason) { S.error = t("pol.err.reason"); return renderDetail(); }
    const shares = Object.fromEntries(q.parties.map((p) => [p.plate, f.elements[`deg:${p.plate}`].value]));
    f.querySelector("button[type=submit]").disabled = true;
    try {
      S.done = await api("POST", `/api/quick/${encodeURIComponent(q.quick_id)}/determine`, { shares, reason });
      S.error = ""; S.selected = null;
      toast(t("pol.done"), "ok");
    } catch (e) { S.error = errorText(e); toast(S.error, "error"); }
    S.sig = ""; renderDetail(); load();
  });

  S.timers.push(setInterval(() => { if (S.alive) load(); }, 5000));
  renderList(); renderDetail(); load();
  return {
    rerender() { renderList(); renderDetail(); },
    unmount() { S.alive = false; S.timers.forEach(clearInterval); root.innerHTML = ""; },
  };
}
