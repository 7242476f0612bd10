// Shared helpers: money (integer fen), China time, DOM, the API client, toasts and a modal form.
import { t, lang } from "./i18n.js";

// ------------------------------------------------------------------ money (integer fen only)

/** "25000" | "25,000.5" | "25000.50" -> 2500050 (integer fen). Throws on anything else.
 *  Works on the digit string, never through a float, so 0.1 + 0.2 cannot creep in. */
export function yuanToFen(input) {
  const s = String(input ?? "").trim().replace(/[,，\s]/g, "").replace(/^[¥￥]/, "");
  const m = /^(\d{1,10})(?:\.(\d{0,2}))?$/.exec(s);
  if (!m) throw new Error(t("err.amount"));
  const whole = m[1].replace(/^0+(?=\d)/, "");
  const frac = (m[2] || "").padEnd(2, "0");
  const fen = Number(whole) * 100 + Number(frac);   // whole < 1e10 so this is an exact integer
  if (!Number.isSafeInteger(fen)) throw new Error(t("err.amount"));
  return fen;
}

/** integer fen -> "¥25,000.50" */
export function fmtFen(fen) {
  if (fen === null || fen === undefined || fen === "") return "—";
  const n = Number(fen);
  if (!Number.isInteger(n)) return String(fen);
  const neg = n < 0, a = Math.abs(n);
  const whole = Math.floor(a / 100), cents = a % 100;
  const grouped = String(whole).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${neg ? "-" : ""}¥${grouped}.${String(cents).padStart(2, "0")}`;
}

/** integer fen -> "25000.50" for an input box (no grouping) */
export function fenToYuanInput(fen) {
  if (fen === null || fen === undefined) return "";
  const a = Math.abs(Number(fen));
  return `${Number(fen) < 0 ? "-" : ""}${Math.floor(a / 100)}.${String(a % 100).padStart(2, "0")}`;
}

// ------------------------------------------------------------------ time (China Standard Time, UTC+8, no DST)

const CST_MS = 8 * 3600 * 1000;
const pad = (n) => String(n).padStart(2, "0");

export function parseTime(iso) {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

function cstParts(ms) {
  const d = new Date(ms + CST_MS);
  return { y: d.getUTCFullYear(), mo: d.getUTCMonth() + 1, d: d.getUTCDate(), h: d.getUTCHours(),
           mi: d.getUTCMinutes(), s: d.getUTCSeconds() };
}

/** "2026-11-22 08:15:03" in China time (today: just the time) */
export function fmtTime(iso, { seconds = true, forceDate = false } = {}) {
  const ms = typeof iso === "number" ? iso : parseTime(iso);
  if (ms === null) return "—";
  const p = cstParts(ms), today = cstParts(Date.now());
  const time = `${pad(p.h)}:${pad(p.mi)}${seconds ? ":" + pad(p.s) : ""}`;
  if (!forceDate && p.y === today.y && p.mo === today.mo && p.d === today.d) return time;
  return `${p.y}-${pad(p.mo)}-${pad(p.d)} ${time}`;
}

export function cstHour(ms) { return cstParts(ms).h; }

/** value for <input type=datetime-local>, China time */
export function cstLocalInput(ms = Date.now()) {
  const p = cstParts(ms);
  return `${p.y}-${pad(p.mo)}-${pad(p.d)}T${pad(p.h)}:${pad(p.mi)}`;
}

/** "2026-11-22T08:15" typed as China time -> "2026-11-22T08:15:00+08:00" */
export function localInputToIso(v) {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2})?$/.exec(v || "");
  if (!m) throw new Error(t("err.time"));
  return `${m[1]}T${m[2]}${m[3] || ":00"}+08:00`;
}

/** 754 -> "12:34", 4000 -> "1:06:40" */
export function fmtDuration(sec) {
  if (sec === null || sec === undefined || Number.isNaN(sec)) return "—";
  const neg = sec < 0; sec = Math.abs(Math.floor(sec));
  const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
  const body = h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
  return (neg ? "-" : "") + body;
}

/** age in words: "3分钟" / "3 min" */
export function fmtAge(sec) {
  if (sec < 60) return t("age.s", { n: Math.max(0, Math.floor(sec)) });
  if (sec < 3600) return t("age.m", { n: Math.floor(sec / 60) });
  if (sec < 86400) return t("age.h", { h: Math.floor(sec / 3600), m: Math.floor((sec % 3600) / 60) });
  return t("age.d", { n: Math.floor(sec / 86400) });
}

export function fmtKm(m) {
  return m === null || m === undefined ? "—" : `${(m / 1000).toFixed(1)} km`;
}

// ------------------------------------------------------------------ DOM

export function esc(v) {
  return String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

/** Personal data arrives masked from the API; as a second line of defence never show a full mobile number. */
export function safeText(v) {
  return String(v ?? "").replace(/(\+?86)?(1[3-9]\d)(\d{4})(\d{4})/g, (_, cc, a, _b, c) => `${cc || ""}${a}****${c}`);
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

export function h(html) {
  const tpl = document.createElement("template");
  tpl.innerHTML = html.trim();
  return tpl.content.firstElementChild;
}

export function debounce(fn, ms) {
  let timer = null;
  return (...a) => { clearTimeout(timer); timer = setTimeout(() => fn(...a), ms); };
}

// ------------------------------------------------------------------ API client

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

export const session = {
  get token() { return localStorage.getItem("al.token") || ""; },
  set token(v) { v ? localStorage.setItem("al.token", v) : localStorage.removeItem("al.token"); },
  get role() { return localStorage.getItem("al.role") || ""; },
  set role(v) { v ? localStorage.setItem("al.role", v) : localStorage.removeItem("al.role"); },
  get hospitalId() { return localStorage.getItem("al.hospital") || ""; },
  set hospitalId(v) { v ? localStorage.setItem("al.hospital", v) : localStorage.removeItem("al.hospital"); },
};

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** JSON request with the bearer token. Mutations carry an Idempotency-Key so a retried click acts once. */
export async function api(method, path, body, { token = session.token, signal, onHeaders } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, signal };
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    headers["Idempotency-Key"] = newKey();
    init.body = JSON.stringify(body ?? {});
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, { error: t("err.network") });
  }
  let data = null;
  const text = await res.text();
  if (text) { try { data = JSON.parse(text); } catch { data = { error: text.slice(0, 300) }; } }
  if (!res.ok) {
    if (res.status === 401 && typeof api.onUnauthorized === "function") api.onUnauthorized();
    throw new ApiError(res.status, data);
  }
  if (onHeaders) onHeaders(res.headers);
  return data;
}
api.onUnauthorized = null;

/** Every item of a list route: a page holds at most 200, the next one is at X-Next-Cursor (up to maxPages). */
export async function apiAll(path, { maxPages = 25 } = {}) {
  const out = [];
  let cursor = null;
  for (let i = 0; i < maxPages; i++) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api("GET", cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path, undefined,
      { onHeaders: (h) => { cursor = h.get("X-Next-Cursor"); } });
    out.push(...page);
    if (!cursor) break;
  }
  return out;
}

/** A readable line for an API error, with the amount the rules allow when the server gives it. */
export function errorText(e) {
  if (!(e instanceof ApiError)) return String(e && e.message ? e.message : e);
  let msg = e.body.error || e.message;
  if (e.body.allowed_fen !== undefined && e.body.allowed_fen !== null) msg += ` — ${t("err.allowed", { amount: fmtFen(e.body.allowed_fen) })}`;
  const label = { 0: "", 401: t("err.401"), 403: t("err.403"), 404: t("err.404"), 409: t("err.409"), 422: t("err.422"), 429: t("err.429") }[e.status];
  return label === undefined ? `HTTP ${e.status}: ${msg}` : label ? `${label}: ${msg}` : msg;
}

// ------------------------------------------------------------------ toasts

export function toast(message, kind = "info") {
  let box = $("#toasts");
  if (!box) { box = h('<div id="toasts" aria-live="polite"></div>'); document.body.append(box); }
  const el = h(`<div class="toast toast-${kind}" role="status">${esc(message)}</div>`);
  box.append(el);
  setTimeout(() => el.classList.add("out"), kind === "error" ? 7000 : 3500);
  setTimeout(() => el.remove(), kind === "error" ? 7600 : 4100);
}

// ------------------------------------------------------------------ modal form

/** Ask for a few fields in a <dialog>; resolves to {name: value} or null when cancelled.
 *  fields: [{name, label, type: "text"|"textarea"|"select"|"money"|"checkbox", value, options:[[v, label]], required}] */
export function askForm({ title, fields, submit, danger = false, note = "", validate }) {
  return new Promise((resolve) => {
    const dlg = h(`<dialog class="modal" data-testid="modal">
      <form method="dialog" class="modal-body">
        <h3>${esc(title)}</h3>
        ${note ? `<p class="muted">${esc(note)}</p>` : ""}
        ${fields.map((f) => fieldHtml(f)).join("")}
        <p class="form-error" role="alert"></p>
        <div class="modal-actions">
          <button type="button" class="btn" value="cancel" data-act="cancel">${esc(t("btn.cancel"))}</button>
          <button type="submit" class="btn ${danger ? "btn-danger" : "btn-primary"}" data-act="ok" data-testid="modal-ok">${esc(submit || t("btn.ok"))}</button>
        </div>
      </form></dialog>`);
    document.body.append(dlg);
    const form = dlg.querySelector("form");
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    dlg.querySelector('[data-act="cancel"]').addEventListener("click", () => done(null));
    dlg.addEventListener("cancel", (ev) => { ev.preventDefault(); done(null); });
    for (const f of fields.filter((f) => f.type === "money")) {
      const inp = form.elements[f.name], hint = form.querySelector(`[data-hint="${f.name}"]`);
      const upd = () => { try { hint.textContent = inp.value.trim() ? `= ${fmtFen(yuanToFen(inp.value))}（${yuanToFen(inp.value)} ${t("unit.fen")}）` : ""; } catch { hint.textContent = t("err.amount"); } };
      inp.addEventListener("input", upd); upd();
    }
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const out = {};
      try {
        for (const f of fields) {
          const el = form.elements[f.name];
          if (f.type === "checkbox") { out[f.name] = el.checked; continue; }
          const v = el.value.trim();
          if (f.required && !v) throw new Error(t("err.required", { field: f.label }));
          out[f.name] = f.type === "money" ? (v ? yuanToFen(v) : null) : v;
        }
        if (validate) validate(out);
      } catch (e) {
        form.querySelector(".form-error").textContent = e.message;
        return;
      }
      done(out);
    });
    dlg.showModal();
    const first = form.querySelector("input,textarea,select");
    if (first) first.focus();
  });
}

function fieldHtml(f) {
  const id = `f-${f.name}`;
  const req = f.required ? " required" : "";
  if (f.type === "textarea")
    return `<label class="field" for="${id}"><span>${esc(f.label)}</span><textarea id="${id}" name="${f.name}" rows="3"${req}>${esc(f.value || "")}</textarea></label>`;
  if (f.type === "select")
    return `<label class="field" for="${id}"><span>${esc(f.label)}</span><select id="${id}" name="${f.name}">${f.options
      .map(([v, l]) => `<option value="${esc(v)}"${v === f.value ? " selected" : ""}>${esc(l)}</option>`).join("")}</select></label>`;
  if (f.type === "checkbox")
    return `<label class="field field-check"><input type="checkbox" name="${f.name}"${f.value ? " checked" : ""}> <span>${esc(f.label)}</span></label>`;
  if (f.type === "money")
    return `<label class="field" for="${id}"><span>${esc(f.label)}</span><div class="money-input"><span>¥</span><input id="${id}" name="${f.name}" inputmode="decimal" autocomplete="off" value="${esc(f.value || "")}" data-testid="modal-${f.name}"${req}></div><small class="hint" data-hint="${f.name}"></small></label>`;
  return `<label class="field" for="${id}"><span>${esc(f.label)}</span><input id="${id}" name="${f.name}" value="${esc(f.value || "")}" autocomplete="off" data-testid="modal-${f.name}"${req}></label>`;
}

export function isEn() { return lang() === "en"; }

/** GET a list and how many items match in all (the server's X-Total-Count; null when it gives none). */
export async function apiPage(path) {
  const headers = { Accept: "application/json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  let res;
  try { res = await fetch(path, { headers }); } catch { throw new ApiError(0, { error: t("err.network") }); }
  const text = await res.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch { data = { error: text.slice(0, 300) }; } }
  if (!res.ok) {
    if (res.status === 401 && typeof api.onUnauthorized === "function") api.onUnauthorized();
    throw new ApiError(res.status, data);
  }
  const total = res.headers.get("X-Total-Count");
  return { data, total: total === null ? null : Number(total) };
}
