// The parties' phone page (快处快赔): answer about your own vehicle, photos with previews, the liability that
// will result, a signature drawn with a finger (or an objection), and after signing the agreement, the claim
// numbers, the insurers' hotlines and how to object. No inline script or style: it runs under a strict CSP.
import "./quick-i18n.js";
import { t, setLang, lang } from "./i18n.js";

const $ = (sel, root = document) => root.querySelector(sel);
const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const KINDS = ["front_side", "rear_side", "impact_point"];
const qid = decodeURIComponent(location.pathname.replace(/\/+$/, "").split("/").pop() || "");

// ------------------------------------------------------------------ the link's secret, out of the address bar
// The SMS link carries it in the fragment (#t=…), which is never sent to a server nor in a Referer. Older links
// carry it in the query (?t=…). Either way it is read once, kept for this tab only, and removed from the address
// bar (and so from the history and from screenshots); every request sends it in a header.
function takeToken() {
  const key = `qk.t.${qid}`;
  const fromHash = new URLSearchParams(location.hash.replace(/^#/, "")).get("t");
  const fromQuery = new URLSearchParams(location.search).get("t");
  const got = fromHash || fromQuery;
  if (location.hash || location.search) history.replaceState(null, "", location.pathname);
  try {
    if (got) sessionStorage.setItem(key, got);
    return got || sessionStorage.getItem(key) || "";
  } catch { return got || ""; }
}
const token = takeToken();

async function call(method, path, body) {
  const init = { method, headers: { "X-Quick-Token": token, Accept: "application/json" }, referrerPolicy: "no-referrer" };
  if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const res = await fetch(`/api/quick/${encodeURIComponent(qid)}${path}`, init);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) { const e = new Error(data.error || `HTTP ${res.status}`); e.status = res.status; throw e; }
  return data;
}

// ------------------------------------------------------------------ state
const S = { view: null, objectText: "", pick: null, weather: "", impact: "", shots: {}, objecting: false, errors: {}, bad: false, busy: false };
const main = $("#qk");

function tx(o) { return o ? (lang() === "en" ? o.en || o.zh : o.zh || o.en) : ""; }
function deg(d) { return t(`qk.deg.${d}`); }
function fmtAt(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "—" : d.toLocaleString(lang() === "en" ? "en-GB" : "zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
}

// ------------------------------------------------------------------ the page's frame (built once)
main.innerHTML = `
  <section class="card" id="s-accident" data-testid="qk-accident"><p class="muted">${esc(t("qk.loading"))}</p></section>
  <section class="card" id="s-answer" data-testid="qk-answer" hidden></section>
  <section class="card" id="s-photos" data-testid="qk-photos" hidden></section>
  <section class="card" id="s-preview" data-testid="qk-preview" hidden></section>
  <section class="card" id="s-sign" data-testid="qk-sign" hidden></section>
  <section class="card" id="s-outcome" data-testid="qk-outcome" hidden></section>
  <section class="card" id="s-claims" data-testid="qk-claims" hidden></section>
  <section class="card" id="s-object-info" data-testid="qk-object-info" hidden></section>`;

// ------------------------------------------------------------------ the signature pad (a persistent canvas)
const pad = (() => {
  const wrap = document.createElement("div");
  wrap.className = "pad-wrap";
  wrap.innerHTML = `<canvas data-testid="qk-sign-pad" aria-label="signature"></canvas><div class="pad-hint"></div>`;
  const canvas = wrap.querySelector("canvas");
  const hint = wrap.querySelector(".pad-hint");
  const strokes = [];
  let current = null;
  function size() {
    const r = canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    if (!r.width) return;
    if (canvas.width !== Math.round(r.width * dpr)) { canvas.width = Math.round(r.width * dpr); canvas.height = Math.round(r.height * dpr); }
    draw(canvas, dpr);
  }
  function draw(c, scale) {
    const g = c.getContext("2d");
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.fillStyle = "#fff"; g.fillRect(0, 0, c.width, c.height);
    g.setTransform(scale, 0, 0, scale, 0, 0);
    g.lineWidth = 2.6; g.lineCap = "round"; g.lineJoin = "round"; g.strokeStyle = "#111";
    for (const s of strokes) {
      g.beginPath();
      s.forEach(([x, y], i) => (i ? g.lineTo(x, y) : g.moveTo(x, y)));
      if (s.length === 1) g.lineTo(s[0][0] + 0.1, s[0][1] + 0.1);
      g.stroke();
    }
  }
  const at = (ev) => { const r = canvas.getBoundingClientRect(); return [ev.clientX - r.left, ev.clientY - r.top]; };
  canvas.addEventListener("pointerdown", (ev) => {
    ev.preventDefault(); canvas.setPointerCapture(ev.pointerId);
    current = [at(ev)]; strokes.push(current); hint.hidden = true; size();
  });
  canvas.addEventListener("pointermove", (ev) => { if (!current) return; current.push(at(ev)); draw(canvas, window.devicePixelRatio || 1); });
  const end = () => { current = null; renderSignButtons(); };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  return {
    el: wrap,
    attach(slot) { slot.append(wrap); hint.textContent = t("qk.sign.hint"); hint.hidden = strokes.length > 0; requestAnimationFrame(size); },
    clear() { strokes.length = 0; hint.hidden = false; size(); },
    get empty() { return strokes.every((s) => s.length < 2); },
    png() {  // at CSS pixels: small enough to send, sharp enough to read
      const r = canvas.getBoundingClientRect();
      const out = document.createElement("canvas");
      out.width = Math.round(r.width); out.height = Math.round(r.height);
      draw(out, 1);
      return out.toDataURL("image/png").split(",")[1];
    },
  };
})();

// ------------------------------------------------------------------ images without blob: or data: URLs (CSP)
async function bitmapCanvas(source, maxW, cls) {
  const bmp = await createImageBitmap(source);
  const scale = Math.min(1, maxW / bmp.width);
  const c = document.createElement("canvas");
  c.width = Math.max(1, Math.round(bmp.width * scale)); c.height = Math.max(1, Math.round(bmp.height * scale));
  c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height);
  if (cls) c.className = cls;
  return { canvas: c, bitmap: bmp };
}

function jpegBase64(bmp) {  // phones take big photos: send at most ~150 KiB
  const scale = Math.min(1, 1024 / Math.max(bmp.width, bmp.height));
  const c = document.createElement("canvas");
  c.width = Math.round(bmp.width * scale); c.height = Math.round(bmp.height * scale);
  c.getContext("2d").drawImage(bmp, 0, 0, c.width, c.height);
  let q = 0.8, data = c.toDataURL("image/jpeg", q);
  while (data.length > 190000 && q > 0.3) { q -= 0.1; data = c.toDataURL("image/jpeg", q); }
  return data.split(",")[1];
}

const fileBlobs = {};
async function fileCanvas(sha, cls, testid) {  // a new canvas each time: two parties may sign alike
  if (!fileBlobs[sha]) {
    fileBlobs[sha] = (async () => {
      const res = await fetch(`/api/quick/${encodeURIComponent(qid)}/files/${sha}`, { headers: { "X-Quick-Token": token } });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      return res.blob();
    })();
  }
  const { canvas } = await bitmapCanvas(await fileBlobs[sha], 520, cls);
  if (testid) canvas.dataset.testid = testid;
  return canvas;
}

// ------------------------------------------------------------------ rendering
function renderAll() {
  document.title = `${t("qk.title")} · AccidentLink`;
  $("#lang").textContent = t("lang.switch");
  if (S.bad) {
    $("#s-accident").innerHTML = `<p class="notice notice-red" data-testid="qk-bad">${esc(t("qk.bad"))}</p>`;
    return;
  }
  const v = S.view;
  if (!v) return;
  renderAccident(v);
  const open = v.status === "open";
  const decided = v.status === "agreed" || v.status === "determined";
  $("#s-answer").hidden = !open;
  $("#s-photos").hidden = !open;
  $("#s-preview").hidden = !open;
  $("#s-sign").hidden = !open;
  $("#s-outcome").hidden = open;
  $("#s-claims").hidden = !decided;
  $("#s-object-info").hidden = false;
  if (open) { renderAnswer(v); renderPhotos(v); renderPreview(v); renderSign(v); } else { renderOutcome(v); }
  if (decided) renderClaims(v);
  renderObjectInfo(v);
}

function renderAccident(v) {
  const a = v.accident;
  const other = v.parties.filter((p) => p.plate !== v.me.plate);
  $("#s-accident").innerHTML = `<h2>${esc(t("qk.accident"))}</h2>
    <div class="row"><span>${esc(t("qk.time"))}</span><span>${esc(fmtAt(a.at))}</span></div>
    <div class="row"><span>${esc(t("qk.place"))}</span><span>${esc(a.address || `${a.lat}, ${a.lon}`)}</span></div>
    <div class="row"><span>${esc(t("qk.me"))}</span><span><span class="plate" data-testid="qk-my-plate">${esc(v.me.plate)}</span> ${esc(v.me.insurer || "")}</span></div>
    ${other.map((p) => `<div class="row"><span>${esc(t("qk.other"))}</span><span><span class="plate">${esc(p.plate)}</span> ${esc(p.insurer || "")}
      · <span class="muted small">${esc(p.answer ? t("qk.answered") : t("qk.not_answered"))} · ${esc(p.signed ? t("qk.signed") : t("qk.not_signed"))}</span></span></div>`).join("")}`;
}

function renderAnswer(v) {
  const mine = v.me.answer && v.me.answer.code;
  const locked = v.parties.some((p) => p.signed);
  const pick = S.pick || mine;
  $("#s-answer").innerHTML = `<h2><span class="step${mine ? " done" : ""}">1</span>${esc(t("qk.step1"))}</h2>
    <p class="lead">${esc(t("qk.step1.lead", { plate: v.me.plate }))}</p>
    <div class="choices" role="group" data-testid="qk-choices">${v.own_vehicle_answers.map((a) =>
      `<button type="button" class="choice" data-code="${esc(a.code)}" data-testid="qk-choice-${esc(a.code)}" aria-pressed="${a.code === pick}"${locked ? " disabled" : ""}>${esc(tx(a))}</button>`).join("")}</div>
    <label class="field"><span>${esc(t("qk.weather"))}</span><input id="qk-weather" data-testid="qk-weather" value="${esc(S.weather)}" autocomplete="off"${locked ? " disabled" : ""}></label>
    <label class="field"><span>${esc(t("qk.impact"))}</span><input id="qk-impact" data-testid="qk-impact" value="${esc(S.impact)}" autocomplete="off"${locked ? " disabled" : ""}></label>
    ${mine ? `<p class="done" data-testid="qk-my-answer">${esc(t("qk.answer.mine", { a: tx(v.me.answer) }))}</p>` : ""}
    ${locked ? `<p class="muted small">${esc(t("qk.answer.locked"))}</p>` :
      `<button type="button" class="btn btn-primary btn-block" id="qk-answer-submit" data-testid="qk-answer-submit"${pick && pick !== mine ? "" : " disabled"}>${esc(t("qk.answer.submit"))}</button>`}
    <p class="err" role="alert" data-testid="qk-answer-err">${esc(S.errors.answer || "")}</p>`;
}

function renderPhotos(v) {
  const box = $("#s-photos");
  const have = {};
  for (const p of v.photos) if (!have[p.kind] || p.by === v.me.plate) have[p.kind] = p;
  box.innerHTML = `<h2><span class="step${v.photo_check.ok ? " done" : ""}">2</span>${esc(t("qk.step2"))}</h2>
    <p class="lead">${esc(t("qk.step2.lead"))}</p>
    ${KINDS.map((k) => {
      const shot = S.shots[k];
      const up = have[k];
      const state = shot && shot.state === "uploading" ? `<span class="muted">${esc(t("qk.shot.uploading"))}</span>`
        : up ? `<span class="done" data-testid="qk-shot-done-${k}">${esc(up.by === v.me.plate ? t("qk.shot.uploaded") : t("qk.shot.by_other"))}</span>` : "";
      return `<div class="shot" data-kind="${k}" data-testid="qk-shot-${k}">
        <h3><span>${esc(t(`qk.shot.${k}`))}</span>${state}</h3>
        <p class="guide">${esc(t(`qk.guide.${k}`))}</p>
        <div class="slot"></div>
        ${shot && shot.state === "picked" ? `<div class="btn-row">
            <label class="btn shot-pick"><input type="file" accept="image/*" capture="environment" data-kind="${k}" data-testid="qk-file-${k}">${esc(t("qk.shot.retake"))}</label>
            <button type="button" class="btn btn-primary" data-upload="${k}" data-testid="qk-upload-${k}">${esc(t("qk.shot.upload"))}</button></div>`
          : `<label class="shot-pick"><input type="file" accept="image/*" capture="environment" data-kind="${k}" data-testid="qk-file-${k}">${esc(up ? t("qk.shot.retake") : t("qk.shot.pick"))}</label>`}
      </div>`;
    }).join("")}
    <p class="err" role="alert" data-testid="qk-photo-err">${esc(S.errors.photo || "")}</p>`;
  for (const k of KINDS) if (S.shots[k]) $(`.shot[data-kind="${k}"] .slot`, box).append(S.shots[k].canvas);
}

function sharesHtml(shares) {
  return `<div class="liab" data-testid="qk-shares">${Object.entries(shares || {}).map(([plate, d]) =>
    `<div class="liab-row" data-testid="qk-share-${esc(plate)}" data-degree="${esc(d)}"><span class="plate">${esc(plate)}</span><b class="deg-${esc(d)}">${esc(deg(d))}</b></div>`).join("")}</div>`;
}

function renderPreview(v) {
  const p = v.liability_preview;
  let body;
  if (!v.me.answer) body = `<p class="muted">${esc(t("qk.need_answer"))}</p>`;
  else if (p.state === "waiting") body = `<p class="notice" data-testid="qk-waiting">${esc(t("qk.waiting_other"))}</p>
    <button type="button" class="btn btn-block" data-act="refresh">${esc(t("qk.refresh"))}</button>`;
  else if (p.state === "settled") body = `<p class="lead">${esc(t("qk.preview.lead"))}</p>${sharesHtml(p.shares)}
    <p class="muted small">${esc(t("qk.reason"))}：${esc(tx(p.reason))}</p>`;
  else body = `<p class="notice notice-red">${esc(t("qk.preview.police"))}<br>${esc(tx(p.reason))}</p>`;
  $("#s-preview").innerHTML = `<h2><span class="step${p.state === "settled" ? " done" : ""}">3</span>${esc(t("qk.step3"))}</h2>${body}`;
}

function renderSign(v) {
  const box = $("#s-sign");
  const settled = v.liability_preview.state === "settled";
  const signed = v.me.signed;
  let body = "";
  if (signed) body = `<p class="notice notice-green" data-testid="qk-signed-wait">${esc(t("qk.signed_wait"))}</p>`;
  else if (settled) body = `<p class="lead">${esc(t("qk.sign.lead"))}</p><div class="slot"></div>
    <div class="btn-row"><button type="button" class="btn" data-act="clear" data-testid="qk-sign-clear">${esc(t("qk.sign.clear"))}</button></div>
    <button type="button" class="btn btn-primary btn-block" data-act="sign" data-testid="qk-sign-submit">${esc(t("qk.sign.submit"))}</button>
    <p class="muted small" id="qk-sign-why"></p>`;
  const objectable = v.me.answer && v.liability_preview.state !== "waiting";
  const objection = !objectable ? "" : S.objecting ? `<div data-testid="qk-object-form"><p class="lead">${esc(t("qk.object.lead"))}</p>
      <label class="field"><span>${esc(t("qk.object.reason"))}</span><textarea id="qk-object-text" rows="3" data-testid="qk-object-text">${esc(S.objectText)}</textarea></label>
      <div class="btn-row"><button type="button" class="btn" data-act="object-cancel">${esc(t("qk.object.cancel"))}</button>
      <button type="button" class="btn btn-warn" data-act="object-send" data-testid="qk-object-send">${esc(t("qk.object.submit"))}</button></div></div>`
    : `<button type="button" class="btn btn-warn btn-block" data-act="object" data-testid="qk-object">${esc(t("qk.object"))}</button>`;
  box.innerHTML = `<h2><span class="step${signed ? " done" : ""}">4</span>${esc(t("qk.step4"))}</h2>${body}${objection}
    <p class="err" role="alert" data-testid="qk-sign-err">${esc(S.errors.sign || "")}</p>`;
  const slot = $(".slot", box);
  if (slot) pad.attach(slot);
  renderSignButtons();
}

function renderSignButtons() {
  const btn = $('[data-act="sign"]');
  if (!btn || !S.view) return;
  const photosOk = S.view.photo_check.ok;
  btn.disabled = S.busy || pad.empty || !photosOk;
  const why = $("#qk-sign-why");
  if (why) why.textContent = !photosOk ? t("qk.sign.wait_photos") : pad.empty ? t("qk.sign.empty") : "";
}

function renderOutcome(v) {
  const box = $("#s-outcome");
  const o = v.outcome || {};
  if (v.status === "police_queue") {
    box.innerHTML = `<h2>${esc(t("qk.police"))}</h2><p class="notice" data-testid="qk-police">${esc(t("qk.police.lead"))}</p>
      ${v.me.answer ? `<p data-testid="qk-my-answer">${esc(t("qk.answer.mine", { a: tx(v.me.answer) }))}</p>` : ""}
      <p class="muted small">${esc(t("qk.reason"))}：${esc(tx(o.reason))}</p>`;
    return;
  }
  const ag = o.agreement || {};
  box.innerHTML = `<h2>${esc(t("qk.agreement"))}</h2>
    <p class="notice notice-green" data-testid="qk-agreement-kind"><b>${esc(t(`qk.kind.${o.kind}`))}</b></p>
    <div class="row"><span>${esc(t("qk.time"))}</span><span>${esc(fmtAt(ag.occurred_at))}</span></div>
    <div class="row"><span>${esc(t("qk.place"))}</span><span>${esc(ag.place || "—")}</span></div>
    <div class="row"><span>${esc(t("qk.weather.l"))}</span><span>${esc(ag.weather || "—")}</span></div>
    <div class="row"><span>${esc(t("qk.impact.l"))}</span><span>${esc(ag.point_of_impact || "—")}</span></div>
    ${(ag.parties || []).map((p) => `<div class="agree-party" data-testid="qk-agree-${esc(p.plate)}">
      <div class="row"><span><span class="plate">${esc(p.plate)}</span> ${esc(p.name || "")}</span><span>${esc(p.insurer || "")}</span></div>
      ${p.own_vehicle ? `<div class="row"><span>${esc(t("qk.answer.l"))}</span><span>${esc(tx(p.own_vehicle))}</span></div>` : ""}
      <div class="row"><span>${esc(t("qk.liability"))}</span><span><b class="deg-${esc(p.liability)}" data-testid="qk-agree-liability-${esc(p.plate)}">${esc(deg(p.liability))}</b></span></div>
      ${p.signature_sha256 ? `<div class="row"><span>${esc(t("qk.signature"))}</span><span class="sig-slot" data-sha="${esc(p.signature_sha256)}" data-plate="${esc(p.plate)}"></span></div>
        <div class="muted small mono">SHA-256 ${esc(p.signature_sha256)}</div>` : ""}
    </div>`).join("")}
    <p class="muted small">${esc(t("qk.reason"))}：${esc(tx(o.reason))}</p>`;
  for (const slot of box.querySelectorAll(".sig-slot")) {
    fileCanvas(slot.dataset.sha, "sig-img", `qk-sig-${slot.dataset.plate}`).then((c) => slot.append(c)).catch(() => {});
  }
}

function renderClaims(v) {
  const seen = new Set();
  $("#s-claims").innerHTML = `<h2>${esc(t("qk.claims"))}</h2>
    ${v.claims.map((c) => `<div class="row" data-testid="qk-claim-${esc(c.plate)}"><span><span class="plate">${esc(c.plate)}</span> ${esc(c.insurer_name || c.insurer)}</span><span class="mono">${esc(c.claim_id)}</span></div>`).join("")}
    <h2>${esc(t("qk.hotline"))}</h2>
    ${v.claims.filter((c) => c.hotline && !seen.has(c.insurer) && seen.add(c.insurer)).map((c) => `<div class="hotline" data-testid="qk-hotline-${esc(c.insurer)}">
      <span>${esc(c.insurer_name || c.insurer)}</span><a href="tel:${esc(c.hotline)}">${esc(t("qk.call", { n: c.hotline }))}</a></div>`).join("")}`;
}

function renderObjectInfo(v) {
  $("#s-object-info").innerHTML = `<h2>${esc(t("qk.how_object"))}</h2><p class="small" data-testid="qk-how-object">${esc(tx(v.after_signing))}</p>`;
}

// ------------------------------------------------------------------ actions
async function load() {
  try {
    const v = await call("GET", "");
    const changed = JSON.stringify(v) !== JSON.stringify(S.view);
    S.view = v; S.bad = false;
    if (changed) renderAll();
  } catch (e) {
    if (e.status === 404 || e.status === 422) { S.bad = true; renderAll(); }
  }
}

async function act(fn, errKey) {
  S.errors[errKey] = ""; S.busy = true;
  try { S.view = await fn(); } catch (e) { S.errors[errKey] = e.message; }
  S.busy = false;
  renderAll();
}

main.addEventListener("click", async (ev) => {
  const choice = ev.target.closest("[data-code]");
  if (choice && !choice.disabled) {
    S.pick = choice.dataset.code;
    S.weather = $("#qk-weather").value; S.impact = $("#qk-impact").value;
    return renderAnswer(S.view);
  }
  if (ev.target.closest("#qk-answer-submit")) {
    S.weather = $("#qk-weather").value; S.impact = $("#qk-impact").value;
    return act(() => call("POST", "/answer", { own_vehicle: S.pick, weather: S.weather, point_of_impact: S.impact }), "answer");
  }
  const up = ev.target.closest("[data-upload]");
  if (up) {
    const k = up.dataset.upload, shot = S.shots[k];
    shot.state = "uploading"; renderPhotos(S.view);
    S.errors.photo = "";
    try { await call("POST", "/photos", { kind: k, data_base64: shot.data }); shot.state = "uploaded"; } catch (e) { shot.state = "picked"; S.errors.photo = e.message; }
    S.view = null;
    return load().then(() => renderAll());
  }
  const a = ev.target.closest("[data-act]");
  if (!a) return;
  const what = a.dataset.act;
  if (what === "refresh") return load();
  if (what === "clear") { pad.clear(); return renderSignButtons(); }
  if (what === "object") { S.objecting = true; return renderSign(S.view); }
  if (what === "object-cancel") { S.objecting = false; return renderSign(S.view); }
  if (what === "object-send") {
    const reason = $("#qk-object-text").value.trim();
    if (!reason) { S.errors.sign = t("qk.object.empty"); return renderSign(S.view); }
    S.objecting = false;
    return act(() => call("POST", "/objection", { reason }), "sign");
  }
  if (what === "sign") {
    if (pad.empty) { S.errors.sign = t("qk.sign.empty"); return renderSign(S.view); }
    return act(() => call("POST", "/confirm", { signature_png: pad.png(), weather: S.weather, point_of_impact: S.impact }), "sign");
  }
});

main.addEventListener("input", (ev) => {  // what is typed survives the re-renders the other party's steps cause
  if (ev.target.id === "qk-weather") S.weather = ev.target.value;
  if (ev.target.id === "qk-impact") S.impact = ev.target.value;
  if (ev.target.id === "qk-object-text") S.objectText = ev.target.value;
});

main.addEventListener("change", async (ev) => {
  const input = ev.target.closest('input[type="file"][data-kind]');
  if (!input || !input.files || !input.files[0]) return;
  const k = input.dataset.kind;
  S.errors.photo = "";
  try {
    const { canvas, bitmap } = await bitmapCanvas(input.files[0], 720, "preview");
    canvas.dataset.testid = `qk-preview-${k}`;
    S.shots[k] = { canvas, data: jpegBase64(bitmap), state: "picked" };
  } catch (e) { S.errors.photo = String(e.message || e); }
  renderPhotos(S.view);
});

$("#lang").addEventListener("click", () => { setLang(lang() === "zh" ? "en" : "zh"); renderAll(); });

setLang(localStorage.getItem("al.lang") || "zh");
renderAll();
if (!token) { S.bad = true; renderAll(); } else { load(); }
// both parties act on their own phones: follow the other party's answer and signature while the case is open,
// and the officer's determination while it waits for the police
setInterval(() => {
  if (S.view && ["open", "police_queue"].includes(S.view.status) && !S.busy && document.visibilityState !== "hidden") load();
}, 3000);
