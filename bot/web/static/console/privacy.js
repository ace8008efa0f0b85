/* The client's data (admins): its export, its erasure (confirmed twice), and the access journal. */

import { isBusy, runAction } from "./actions.js";
import { API, api, ApiError, messageFor } from "./api.js";
import { current, hashCaseId } from "./case.js";
import { el, make, setError, show } from "./dom.js";
import { longTime } from "./format.js";
import { isAdmin, session } from "./session.js";
import { JOURNAL_ACTION, JOURNAL_DETAIL } from "./words.js";

let journalBefore = null; // the journal's next (older) page, null at its end
let journalAbort = null;

/** Admins: export the client's data, or erase it (once: an anonymised case has nothing left). */
export function renderPrivacyActions(d) {
  const allowed = isAdmin() && !d.anonymised;
  show(el.privacyActions, allowed);
  el.exportLink.href = allowed ? `${API}/cases/${encodeURIComponent(d.id)}/export` : "#";
  el.eraseOpen.disabled = isBusy();
  if (!allowed && el.eraseDialog.open) el.eraseDialog.close();
}

function openErase() {
  const d = current.detail;
  if (!d || !isAdmin()) return;
  el.eraseReference.textContent = d.reference || "";
  el.eraseExpected.textContent = d.reference || "";
  el.eraseInput.value = "";
  el.eraseConfirm.disabled = true;
  setError(el.eraseError, "");
  el.eraseDialog.dataset.caseId = d.id;
  el.eraseDialog.showModal();
  el.eraseInput.focus();
}

/** The second confirmation: the reference typed as shown (case and spaces aside). */
function eraseConfirmed() {
  const d = current.detail;
  const typed = el.eraseInput.value.replace(/\s+/g, "").toUpperCase();
  return Boolean(d && d.reference && d.id === el.eraseDialog.dataset.caseId && typed === d.reference.toUpperCase());
}

async function onErase(event) {
  event.preventDefault();
  if (!eraseConfirmed()) {
    setError(el.eraseError, "Tapez la référence du dossier pour confirmer.");
    el.eraseInput.focus();
    return;
  }
  const done = await runAction("erase", undefined, {
    errorNode: el.eraseError,
    fallback: "Effacement impossible :",
    button: el.eraseConfirm,
  });
  if (done) {
    el.eraseDialog.close();
    el.casePane.focus({ preventScroll: true });
  } else {
    el.eraseConfirm.disabled = !eraseConfirmed();
  }
}

function openJournal() {
  if (!isAdmin()) return;
  el.journalList.replaceChildren();
  journalBefore = null;
  show(el.journalEmpty, false);
  show(el.journalOlder, false);
  setError(el.journalError, "");
  if (!el.journalPanel.open) el.journalPanel.showModal();
  el.journalClose.focus();
  loadJournal(null);
}

async function loadJournal(before) {
  if (journalAbort) journalAbort.abort();
  const abort = new AbortController();
  journalAbort = abort;
  el.journalOlder.disabled = true;
  try {
    const query = before ? `?before=${encodeURIComponent(before)}` : "";
    const data = await api("GET", `/journal${query}`, { signal: abort.signal });
    if (abort !== journalAbort) return;
    journalAbort = null;
    const lines = Array.isArray(data.lines) ? data.lines : [];
    el.journalList.append(...lines.map(journalRow));
    journalBefore = Number.isInteger(data.before) ? data.before : null;
    show(el.journalOlder, journalBefore !== null);
    show(el.journalEmpty, el.journalList.childElementCount === 0);
    setError(el.journalError, "");
  } catch (error) {
    if (error && error.name === "AbortError") return;
    if (abort === journalAbort) journalAbort = null;
    if (error instanceof ApiError && error.status === 401) return;
    setError(el.journalError, messageFor(error, "Le journal n'a pas pu être chargé :"));
  } finally {
    el.journalOlder.disabled = false;
  }
}

function journalActor(actor) {
  const who = String(actor || "?");
  if (who === "client") return "le client";
  if (who === "retention") return "automatique";
  if (who.startsWith("cli:")) return `ligne de commande (${who.slice(4)})`;
  return who;
}

function journalRow(line) {
  const tr = make("tr", "journal-row");
  tr.dataset.testid = "journal-row";
  tr.dataset.action = String(line.action || "");
  tr.dataset.actor = String(line.actor || "");
  const when = make("td", "j-when");
  const time = make("time", "", longTime(line.at));
  if (line.at) time.dateTime = String(line.at);
  when.append(time);
  const who = make("td", "j-who", journalActor(line.actor));
  const what = make("td", "j-what", JOURNAL_ACTION[line.action] || String(line.action || ""));
  const which = make("td", "j-case");
  which.dataset.field = "case";
  if (typeof line.case_id === "string" && line.case) {
    const a = make("a", "", line.case);
    a.href = `#case=${encodeURIComponent(line.case_id)}`;
    a.addEventListener("click", () => el.journalPanel.close());
    which.append(a);
  } else if (line.anonymised) {
    which.append(make("span", "muted", "anonymisé"));
  } else if (line.client_of) {
    which.append(make("span", "", `client de ${line.client_of}`));
  } else if (line.case) {
    which.textContent = String(line.case);
  } else {
    which.append(make("span", "muted", "—"));
  }
  const detail = make("td", "j-detail", line.detail ? JOURNAL_DETAIL[line.detail] || String(line.detail) : "");
  tr.append(when, who, what, which, detail);
  return tr;
}

export function bindPrivacy() {
  el.eraseOpen.addEventListener("click", openErase);
  el.eraseClose.addEventListener("click", () => el.eraseDialog.close());
  el.eraseAbort.addEventListener("click", () => el.eraseDialog.close());
  el.eraseInput.addEventListener("input", () => {
    setError(el.eraseError, "");
    el.eraseConfirm.disabled = !eraseConfirmed();
  });
  el.eraseForm.addEventListener("submit", onErase);
  el.eraseDialog.addEventListener("close", () => {
    el.eraseInput.value = "";
    setError(el.eraseError, "");
    if (!el.privacyActions.hidden) el.eraseOpen.focus();
  });
  el.journalOpen.addEventListener("click", openJournal);
  el.journalClose.addEventListener("click", () => el.journalPanel.close());
  el.journalOlder.addEventListener("click", () => loadJournal(journalBefore));
  el.journalPanel.addEventListener("close", () => {
    if (journalAbort) journalAbort.abort();
    if (session.me && !hashCaseId()) el.journalOpen.focus();
  });
}
