/* Signing in and out: the login form, its countdown, and the switch between the two screens. */

import { api, ApiError, messageFor } from "./api.js";
import { loadCanned } from "./canned.js";
import { clearHash, closeCase, hashCaseId, routeFromHash } from "./case.js";
import { forgetDrafts } from "./composer.js";
import { el, setError, show } from "./dom.js";
import { restoreFilters } from "./filters.js";
import { minutesSeconds } from "./format.js";
import { fetchQueue, refreshTimes, resetQueue } from "./queue.js";
import { isAdmin, servesClients, session } from "./session.js";
import { startLive, stopLive } from "./stream.js";
import { loadOperators } from "./transfer.js";

const TICK_MS = 30000; // waiting times are recomputed client-side this often

let tick = 0;
let loginTimer = 0;

export function showLogin(notice) {
  stopLive();
  window.clearInterval(tick);
  session.me = null;
  session.csrf = null;
  // Forget the open case but keep #case=ID: signing in again reopens it.
  closeCase({ updateHash: false });
  resetQueue();
  show(el.booting, false);
  show(el.consoleScreen, false);
  show(el.loginScreen, true);
  if (el.cannedAdmin.open) el.cannedAdmin.close();
  if (el.opticiansPanel.open) el.opticiansPanel.close();
  if (el.journalPanel.open) el.journalPanel.close();
  if (el.eraseDialog.open) el.eraseDialog.close();
  el.toasts.replaceChildren();
  el.loginNotice.textContent = notice || "";
  el.loginPassword.value = "";
  el.loginName.focus();
}

export function sessionLost() {
  if (!session.me) return;
  showLogin("Votre session a expiré : reconnectez-vous.");
}

function startLoginCountdown(seconds) {
  window.clearInterval(loginTimer);
  // Against the clock, not by counting ticks: a background tab's timers are slowed down.
  const until = Date.now() + Math.max(1, Math.ceil(seconds)) * 1000;
  const render = () => {
    const left = (until - Date.now()) / 1000;
    if (left <= 0) {
      window.clearInterval(loginTimer);
      el.loginSubmit.disabled = false;
      setError(el.loginError, "");
      return;
    }
    setError(el.loginError, `Trop de tentatives, réessayez dans ${minutesSeconds(left)}`);
    el.loginSubmit.disabled = true;
  };
  render();
  loginTimer = window.setInterval(render, 1000);
}

async function onLogin(event) {
  event.preventDefault();
  const name = el.loginName.value.trim();
  const password = el.loginPassword.value;
  if (!name || !password) {
    setError(el.loginError, "Indiquez votre nom et votre mot de passe.");
    (name ? el.loginPassword : el.loginName).focus();
    return;
  }
  el.loginSubmit.disabled = true;
  setError(el.loginError, "");
  try {
    const data = await api("POST", "/login", { body: { name, password } });
    el.loginPassword.value = "";
    el.loginNotice.textContent = "";
    el.loginSubmit.disabled = false;
    enterConsole(data);
  } catch (error) {
    el.loginPassword.value = "";
    el.loginSubmit.disabled = false;
    if (error instanceof ApiError && error.status === 401) {
      setError(el.loginError, "Nom ou mot de passe incorrect");
    } else if (error instanceof ApiError && error.status === 429) {
      const wait = Number.parseInt(error.retryAfter || "", 10);
      startLoginCountdown(Number.isFinite(wait) ? wait : 60);
    } else {
      setError(el.loginError, messageFor(error, "Connexion impossible."));
    }
    el.loginPassword.focus();
  }
}

async function onLogout() {
  el.logout.disabled = true;
  try {
    await api("POST", "/logout");
  } catch (_) {
    /* signed out locally anyway */
  }
  el.logout.disabled = false;
  showLogin("Vous êtes déconnecté(e).");
  forgetDrafts(); // after showLogin, which saves the open draft
  if (hashCaseId()) clearHash();
}

/** Signed in (or still signed in at boot): the console screen, its data and its live stream. */
export function enterConsole(data) {
  session.me = data.operator;
  session.csrf = data.csrf;
  show(el.booting, false);
  show(el.loginScreen, false);
  show(el.consoleScreen, true);
  setError(el.loginError, "");
  el.meName.textContent = session.me.name;
  el.meName.title = `Connecté(e) en tant que ${session.me.name}`;
  show(el.meRole, isAdmin());
  show(el.cannedAdminOpen, isAdmin());
  show(el.journalOpen, isAdmin());
  restoreFilters();
  window.clearInterval(tick);
  tick = window.setInterval(refreshTimes, TICK_MS);
  if (servesClients()) {
    // Network staff see only the members' desk (members.js): the client routes refuse them.
    loadCanned();
    loadOperators();
    fetchQueue();
    routeFromHash();
  }
  startLive();
}

export function bindLogin() {
  el.loginForm.addEventListener("submit", onLogin);
  el.logout.addEventListener("click", onLogout);
}
