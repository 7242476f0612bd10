// The shell: sign-in with a bearer token, role detection, language, clock, connection indicator, desks.
import { t, setLang, lang, onLangChange } from "./i18n.js";
import { api, ApiError, errorText, esc, fmtTime, session, $ } from "./util.js";
import { loadGeo } from "./map.js";
import { mountDispatcher } from "./desk-dispatch.js";
import { mountHospital } from "./desk-hospital.js";
import { mountFund } from "./desk-fund.js";
import { mountInsurer } from "./desk-insurer.js";
import { mountPolice } from "./desk-police.js";

const DESKS = { dispatcher: mountDispatcher, hospital: mountHospital, fund_admin: mountFund, insurer: mountInsurer, police: mountPolice };
const view = $("#view");
let desk = null;
let conn = { state: "offline", info: null };

const shell = {
  get token() { return session.token; },
  get hospitalId() { return session.hospitalId; },
  geo: null,
  setConn(state, info) { conn = { state, info }; renderConn(); },
};

// ------------------------------------------------------------------ header
function renderConn() {
  const el = $("#conn");
  if (!el) return;
  const { state, info } = conn;
  el.dataset.state = state;
  el.className = `conn conn-${state}`;
  let label = t("conn." + state);
  if (state === "retry") label = t("conn.retry", { s: (info && info.seconds) || 1 });
  if (state === "polling" && info && info.at) label = `${t("conn.polling")} · ${fmtTime(info.at)}`;
  $("#conn-label").textContent = label;
}

function renderHeader() {
  const signedIn = !!(desk && session.role);
  $("#desk-name").textContent = signedIn ? t("role." + session.role) + (session.role === "hospital" && session.hospitalId ? ` · ${session.hospitalId}` : "") : "";
  $("#desk-name").hidden = !signedIn;
  $("#conn").hidden = !signedIn;
  $("#logout-btn").hidden = !signedIn;
  $("#lang-btn").textContent = t("lang.switch");
  $("#lang-btn").title = t("lang.switch.title");
  $("#logout-btn").textContent = t("top.logout");
  renderConn();
}

function tickClock() {
  $("#clock").innerHTML = `<span class="muted">${esc(t("top.clock"))}</span> <b>${esc(fmtTime(Date.now(), { forceDate: false }))}</b>`;
}

// ------------------------------------------------------------------ sign-in
function renderLogin(message = "") {
  if (desk) { desk.unmount(); desk = null; }
  document.body.dataset.view = "login";
  view.innerHTML = `
  <div class="login-wrap">
    <form class="login-card" id="login-form" data-testid="login" autocomplete="off">
      <div class="login-brand"><svg viewBox="0 0 32 32" width="40" height="40" aria-hidden="true"><rect width="32" height="32" rx="8" fill="#0f2a4a"/><path d="M9 22 16 8l7 14" stroke="#f59e0b" stroke-width="3" fill="none" stroke-linejoin="round"/><circle cx="16" cy="19" r="2.2" fill="#fff"/></svg>
        <div><div class="login-name">AccidentLink</div><div class="muted">${esc(t("app.subtitle"))}</div></div></div>
      <h1>${esc(t("login.title"))}</h1>
      <p class="muted">${esc(t("login.lead"))}</p>
      <label class="field"><span>${esc(t("login.token"))}</span>
        <input type="password" name="token" id="token-input" placeholder="${esc(t("login.token.ph"))}" required spellcheck="false" data-testid="token-input"></label>
      <label class="field"><span>${esc(t("login.desk"))}</span>
        <select name="desk" data-testid="desk-select">
          ${["auto", "dispatcher", "hospital", "fund_admin", "insurer", "police"].map((r) => `<option value="${r}">${esc(t("role." + r))}</option>`).join("")}
        </select></label>
      <label class="field" id="hosp-field"><span>${esc(t("login.hospital"))}</span>
        <input name="hospital" list="hosp-list" placeholder="${esc(t("login.hospital.ph"))}" value="${esc(session.hospitalId)}" spellcheck="false" data-testid="hospital-input">
        <datalist id="hosp-list"></datalist></label>
      <p class="form-error" role="alert" id="login-error">${esc(message)}</p>
      <button class="btn btn-primary btn-lg btn-block" type="submit" data-testid="login-submit">${esc(t("login.submit"))}</button>
      <p class="muted small">${esc(t("login.note"))}</p>
    </form>
  </div>`;
  renderHeader();
  loadGeo().then((geo) => {
    shell.geo = geo;
    const dl = $("#hosp-list");
    if (dl) dl.innerHTML = geo.hospitals.map((x) => `<option value="${esc(x.hospital_id)}">${esc(x.name)}</option>`).join("");
  }).catch(() => {});
  const form = $("#login-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const token = form.elements.token.value.trim();
    const err = $("#login-error");
    const btn = form.querySelector("button[type=submit]");
    if (!token) return;
    err.textContent = t("login.checking");
    btn.disabled = true;
    try {
      const found = await detectRole(token, form.elements.desk.value, form.elements.hospital.value.trim());
      if (!found) { err.textContent = t("login.no_desk"); return; }
      session.token = token;
      session.role = found.role;
      session.hospitalId = found.hospitalId || "";
      openDesk();
    } catch (e) {
      err.textContent = e instanceof ApiError && e.status === 401 ? t("login.bad_token") : errorText(e);
    } finally { btn.disabled = false; }
  });
  $("#token-input").focus();
}

async function detectRole(token, choice, hospitalId) {
  const probe = async (path) => {
    try { await api("GET", path, undefined, { token }); return true; } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 0)) throw e;
      return false;
    }
  };
  const order = choice && choice !== "auto" ? [choice] : ["dispatcher", "fund_admin", "insurer", "police", "hospital"];
  for (const role of order) {
    if (role === "dispatcher" && await probe("/api/incidents?limit=1")) return { role };
    if (role === "fund_admin" && await probe("/api/fund/queue?limit=1")) return { role };
    if (role === "insurer" && await probe("/api/claims?limit=1")) return { role };
    if (role === "police" && await probe("/api/quick?limit=1")) return { role };
    if (role === "hospital") {
      let ids = hospitalId ? [hospitalId] : [];
      if (!ids.length) {
        try { shell.geo = shell.geo || await loadGeo(); ids = shell.geo.hospitals.map((x) => x.hospital_id); } catch { ids = []; }
      }
      for (const id of ids) {
        if (await probe(`/api/hospitals/${encodeURIComponent(id)}/admissions?limit=1`)) return { role, hospitalId: id };
      }
    }
  }
  return null;
}

function openDesk() {
  const mount = DESKS[session.role];
  if (!mount || !session.token) return renderLogin();
  if (desk) desk.unmount();
  document.body.dataset.view = session.role;
  view.innerHTML = "";
  conn = { state: "connecting", info: null };
  loadGeo().then((g) => { shell.geo = g; }).catch(() => {});
  desk = mount(view, shell);
  renderHeader();
}

function logout(message = "") {
  session.token = "";
  session.role = "";
  if (desk) { desk.unmount(); desk = null; }
  renderLogin(message);
}

// ------------------------------------------------------------------ start
api.onUnauthorized = () => { if (desk) logout(t("login.bad_token")); };
setLang(localStorage.getItem("al.lang") || "zh");
onLangChange(() => {
  renderHeader();
  tickClock();
  if (desk) return desk.rerender();
  const form = $("#login-form");
  const keep = form ? { token: form.elements.token.value, desk: form.elements.desk.value, hospital: form.elements.hospital.value } : null;
  renderLogin("");
  if (keep) {
    const f = $("#login-form");
    f.elements.token.value = keep.token; f.elements.desk.value = keep.desk; f.elements.hospital.value = keep.hospital;
  }
});
$("#lang-btn").addEventListener("click", () => setLang(lang() === "zh" ? "en" : "zh"));
$("#logout-btn").addEventListener("click", () => logout());
tickClock();
setInterval(tickClock, 1000);
if (session.token && session.role) openDesk(); else renderLogin();
