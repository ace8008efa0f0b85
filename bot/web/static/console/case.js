/* The open case: which one (#case=ID), opening and closing it, fetching it and showing its detail. */

import {
  clearActionErrors,
  clearClaimGrace,
  clearRefreshFailed,
  isBusy,
  renderActions,
  showCancelForm,
  showRefreshFailed,
  startClaimGrace,
} from "./actions.js";
import { api, ApiError, messageFor } from "./api.js";
import { renderCaseHeader, renderClient } from "./case-view.js";
import { draftOf, saveDraft } from "./composer.js";
import { el, setError, show } from "./dom.js";
import { renderNotes } from "./notes.js";
import { markOpen, mergeDetail, rowOf, unmarkOpen } from "./queue.js";
import { session } from "./session.js";
import { restartLive } from "./stream.js";
import { dropToast } from "./toasts.js";
import { clearTranscript, renderMessages, transcriptShown } from "./transcript.js";
import { clearVisit, renderVisit, showShipmentConfirm } from "./visit.js";

const CASE_DEBOUNCE_MS = 150;

export const current = {
  caseId: null, // the open case (from #case=ID)
  detail: null, // its CaseDetail
};
let caseTimer = 0;
let caseAbort = null;
let caseGeneration = 0;
let caseReads = 0; // case reads started so far (see abandonCaseRead)

/* ---------------------------------------------------------------- routing ---- */

export function hashCaseId() {
  const m = /^#case=([^&]+)/.exec(window.location.hash);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch (_) {
    return null;
  }
}

export function routeFromHash() {
  if (!session.me) return;
  const id = hashCaseId();
  if (id === current.caseId) return;
  if (id) openCase(id);
  else closeCase({ updateHash: false });
}

export function clearHash() {
  const url = `${window.location.pathname}${window.location.search}`;
  window.history.pushState(null, "", url);
}

/* ---------------------------------------------------------------- open, close ---- */

function openCase(id) {
  saveDraft(current.caseId);
  current.caseId = id;
  current.detail = null;
  clearTranscript({ announcements: true });
  el.notes.replaceChildren();
  el.replyText.value = draftOf(id);
  el.noteText.value = "";
  el.trackingInput.value = "";
  el.cancelReason.value = "";
  el.cannedSelect.value = "";
  showCancelForm(false);
  showShipmentConfirm(false);
  clearVisit();
  clearClaimGrace();
  clearActionErrors();
  [el.replyError, el.noteError, el.caseError].forEach((n) => setError(n, ""));
  show(el.casePlaceholder, false);
  show(el.caseView, false);
  show(el.caseLoading, true);
  document.body.classList.add("case-open");
  markOpen(id);
  fetchCase();
  restartLive();
  // One column: the queue row that had the focus is now hidden; move on to the case.
  if (narrow() && (el.queue.contains(document.activeElement) || document.activeElement === document.body)) {
    el.casePane.focus({ preventScroll: true });
  }
}

function narrow() {
  return window.matchMedia("(max-width: 999px)").matches;
}

export function closeCase({ updateHash }) {
  saveDraft(current.caseId);
  const was = current.caseId;
  current.caseId = null;
  current.detail = null;
  caseGeneration += 1;
  if (caseAbort) caseAbort.abort();
  clearClaimGrace();
  clearActionErrors();
  clearTranscript({ announcements: false });
  show(el.caseView, false);
  show(el.caseLoading, false);
  setError(el.caseError, "");
  show(el.casePlaceholder, true);
  document.body.classList.remove("case-open");
  unmarkOpen();
  if (updateHash && hashCaseId()) clearHash();
  if (was !== null && session.me) restartLive();
  if (was) {
    const row = rowOf(was);
    if (row && narrow()) row.focus({ preventScroll: false });
  }
}

/* ---------------------------------------------------------------- fetch, show ---- */

export function scheduleCase() {
  window.clearTimeout(caseTimer);
  caseTimer = window.setTimeout(() => {
    caseTimer = 0;
    fetchCase();
  }, CASE_DEBOUNCE_MS);
}

/** How many case reads have started: an action compares it before and after (runAction). */
export function caseReadsStarted() {
  return caseReads;
}

/**
 * An action on the case is on its way or has just been answered: a read of the case still in
 * flight (or waiting for its debounce) may have been made before the action's change and would
 * put the older state back on screen after the action's answer. It is dropped.
 */
export function abandonCaseRead() {
  const pending = caseTimer !== 0 || caseAbort !== null;
  window.clearTimeout(caseTimer);
  caseTimer = 0;
  if (caseAbort) {
    caseAbort.abort();
    caseAbort = null;
  }
  return pending; // true if a read was dropped
}

export async function fetchCase() {
  window.clearTimeout(caseTimer);
  caseTimer = 0;
  const id = current.caseId;
  const first = !current.detail; // the first render of a case scrolls to its latest message
  if (!id || !session.me) return;
  if (caseAbort) caseAbort.abort();
  const abort = new AbortController();
  caseAbort = abort;
  caseReads += 1;
  const generation = caseGeneration;
  try {
    const detail = await api("GET", `/cases/${encodeURIComponent(id)}`, { signal: abort.signal });
    if (abort !== caseAbort || generation !== caseGeneration || id !== current.caseId) return;
    caseAbort = null;
    applyDetail(detail, { scrollToEnd: first });
  } catch (error) {
    if (error && error.name === "AbortError") return;
    if (abort === caseAbort) caseAbort = null;
    if (id !== current.caseId || (error instanceof ApiError && error.status === 401)) return;
    show(el.caseLoading, false);
    if (error instanceof ApiError && error.status === 404) {
      show(el.caseView, false);
      setError(el.caseError, "Ce cas n'existe pas ou n'est plus accessible.");
    } else if (current.detail) {
      showRefreshFailed(messageFor(error, "Le dossier n'a pas pu être mis à jour."));
    } else {
      setError(el.caseError, messageFor(error, "Le dossier n'a pas pu être chargé."));
    }
  }
}

export function applyDetail(detail, { scrollToEnd, fromAction = false }) {
  if (!detail || detail.id !== current.caseId) return;
  const before = current.detail;
  if (
    !fromAction &&
    before &&
    before.status === "queued" &&
    detail.status !== "queued" &&
    !detail.mine &&
    detail.claimed_by &&
    !isBusy() &&
    el.claimError.hidden
  ) {
    startClaimGrace(detail.id);
  } else if (detail.status === "queued" || detail.mine) {
    clearClaimGrace();
  }
  clearRefreshFailed();
  current.detail = detail;
  show(el.caseLoading, false);
  setError(el.caseError, "");
  show(el.caseView, true);
  renderCaseHeader(detail);
  renderActions(detail);
  renderClient(detail);
  renderVisit(detail);
  // Answered here, or erased: the case's live notice has said what it had to.
  if (detail.anonymised || (fromAction && !detail.client_wrote_at)) dropToast(detail.id);
  if (detail.anonymised && transcriptShown()) {
    // The client's data was erased: what is on screen goes too.
    clearTranscript({ announcements: true });
  }
  renderMessages(Array.isArray(detail.messages) ? detail.messages : [], { live: !scrollToEnd, scrollToEnd });
  renderNotes(Array.isArray(detail.notes) ? detail.notes : []);
  mergeDetail(detail);
}

export function bindCase() {
  window.addEventListener("hashchange", routeFromHash);
  window.addEventListener("popstate", routeFromHash);
  el.caseBack.addEventListener("click", () => closeCase({ updateHash: true }));
  el.caseClose.addEventListener("click", () => closeCase({ updateHash: true }));
}
