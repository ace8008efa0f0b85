/* The case's actions: which the operator may take now, taking them, and what went wrong. */

import { api, ApiError, messageFor } from "./api.js";
import { abandonCaseRead, applyDetail, caseReadsStarted, current, fetchCase, scheduleCase } from "./case.js";
import { renderCaseHeader } from "./case-view.js";
import { renderReplyBox } from "./composer.js";
import { el, setError, show, showForm } from "./dom.js";
import { renderPrivacyActions } from "./privacy.js";
import { scheduleQueue } from "./queue.js";
import { isAdmin } from "./session.js";
import { fillOperators } from "./transfer.js";
import { renderVisitActions } from "./visit.js";
import { OPEN_STATUSES } from "./words.js";

const CLAIM_GRACE_MS = 1500; // see renderActions

let busy = false; // an action is in flight
let claimGrace = null; // {id, until, timer}: the case was just taken by someone else while shown as queued
let caseStale = false; // the action-error shows a failed refresh (cleared by the next good one)

export function isBusy() {
  return busy;
}

export function renderActions(d) {
  const open = OPEN_STATUSES.includes(d.status);
  const mine = Boolean(d.mine);
  const admin = isAdmin();
  const talking = d.conversation && d.conversation.owner === "operator";
  // A queued case may carry the name of the operator who held it last (reopened by the client).
  const heldByOther = open && d.status !== "queued" && !mine && Boolean(d.claimed_by);
  // Claim only a queued case. Right after someone else took the case, the button stays a moment
  // (claimGrace): a click already on its way gets the server's answer ("déjà pris en charge par …")
  // instead of landing on whatever takes the button's place.
  const grace = heldByOther && claimGraceActive(d.id);
  show(el.claim, d.status === "queued" || grace);
  const holder = heldByOther && !grace;
  show(el.caseHolder, holder);
  el.caseHolder.textContent = holder ? `Pris en charge par ${d.claimed_by}` : "";

  show(el.release, mine && d.status === "claimed");
  // An admin may put back or hand over anyone's case (an operator who left, or is away).
  show(el.adminRelease, admin && heldByOther && d.status === "claimed" && !grace);
  // A case with neither visit nor shipment (an advisor's answer) has nothing to send.
  const sendable = d.mode === "visit" || d.mode === "shipment";
  show(el.dispatch, mine && d.status === "claimed" && sendable);
  // A visit is not posted: the same action sends it to the opticians of the department.
  el.dispatch.textContent = d.mode === "visit" ? "Envoyer aux opticiens" : "Expédié";
  // Done from claimed too (an advisor case, a question answered); the main action once sent.
  show(el.done, mine && (d.status === "claimed" || d.status === "dispatched"));
  el.done.classList.toggle("primary", d.status === "dispatched" || !sendable);
  show(el.handback, mine && open && Boolean(talking));
  const canCancel = open && (mine || admin) && !grace;
  show(el.cancelOpen, canCancel);
  el.cancelOpen.textContent = mine || !d.claimed_by ? "Annuler" : "Annuler (admin)";
  if (!canCancel) showCancelForm(false);

  const adminTransfer = admin && heldByOther && !grace && (d.status === "claimed" || d.status === "dispatched");
  const canTransfer = (mine && open) || adminTransfer;
  show(el.transferForm, canTransfer);
  el.transferLabel.textContent = mine ? "Transférer à" : "Transférer à (admin)";
  el.transferSubmit.textContent = mine ? "Transférer" : "Transférer (admin)";
  if (canTransfer) fillOperators();
  // A Chronopost number only means something for a parcel.
  show(el.trackingForm, mine && open && d.mode === "shipment");

  renderReplyBox(d, { open, heldByOther });
  const buttons = [el.claim, el.release, el.adminRelease, el.dispatch, el.done, el.handback, el.cancelOpen];
  for (const b of [...buttons, el.transferSubmit, el.trackingSubmit, el.cancelConfirm]) b.disabled = busy;
  renderVisitActions(d);
  renderPrivacyActions(d);
}

export function claimGraceActive(id) {
  const g = claimGrace;
  return Boolean(g && g.id === id && performance.now() < g.until);
}

export function clearClaimGrace() {
  if (claimGrace) window.clearTimeout(claimGrace.timer);
  claimGrace = null;
}

/** The open case was queued on screen and a refresh shows it held by someone else. */
export function startClaimGrace(id) {
  clearClaimGrace();
  const timer = window.setTimeout(() => {
    claimGrace = null;
    if (current.detail && current.detail.id === id) {
      renderCaseHeader(current.detail);
      renderActions(current.detail);
    }
  }, CLAIM_GRACE_MS);
  claimGrace = { id, until: performance.now() + CLAIM_GRACE_MS, timer };
}

export async function runAction(action, body, { errorNode, fallback, button } = {}) {
  const id = current.caseId;
  if (!id || busy) return null;
  busy = true;
  const target = errorNode || el.actionError;
  // A new attempt: the previous one's message no longer applies.
  clearActionErrors();
  if (errorNode) setError(errorNode, "");
  if (button) button.disabled = true;
  if (current.detail) renderActions(current.detail);
  // A read of the case made before this action's change must not land after its answer.
  const dropped = abandonCaseRead();
  const readsBefore = caseReadsStarted();
  try {
    const detail = await api("POST", `/cases/${encodeURIComponent(id)}/${action}`, { body });
    busy = false;
    if (id === current.caseId) {
      // Reads started while the action was on its way may predate its change: the answer is
      // what the case is now. Any such read is dropped, and the case read again after it (a
      // client's message may have come meanwhile).
      // A read still waiting for its debounce is owed too: the change that asked for it (the
      // delivery of this very reply, failed or sent) may be newer than the answer.
      const readMeanwhile = caseReadsStarted() !== readsBefore;
      const owed = abandonCaseRead();
      clearActionErrors(); // a refresh may have failed meanwhile: this answer is newer
      if (detail) applyDetail(detail, { scrollToEnd: false, fromAction: true });
      if (readMeanwhile || owed) scheduleCase();
    }
    scheduleQueue();
    return detail;
  } catch (error) {
    busy = false;
    if (id === current.caseId) {
      if (error instanceof ApiError && error.status === 401) return null;
      setError(target, messageFor(error, fallback || "L'action a échoué."));
      // The case may have moved on (409, 403): show what it is now.
      if (error instanceof ApiError && (error.status === 409 || error.status === 403)) {
        fetchCase();
        scheduleQueue();
      } else if (dropped || caseReadsStarted() !== readsBefore) {
        scheduleCase(); // the read dropped for this action is still owed
      }
    }
    return null;
  } finally {
    busy = false;
    if (button) button.disabled = false;
    // Also when another case was opened meanwhile: its buttons were drawn disabled.
    if (current.detail) renderActions(current.detail);
  }
}

/** The messages about the case's actions (not those of the reply and note forms). */
export function clearActionErrors() {
  caseStale = false;
  for (const node of [el.claimError, el.actionError, el.visitError]) setError(node, "");
}

function bindAction(button, action, fallback) {
  button.addEventListener("click", () => runAction(action, undefined, { fallback, button }));
}

export function showCancelForm(visible) {
  showForm(el.cancelForm, el.cancelOpen, visible, el.cancelReason);
}

/** A field an action needs is empty: said where the actions' errors go, and the field focused. */
export function missingField(field, text) {
  clearActionErrors();
  setError(el.actionError, text);
  field.focus();
}

async function onCancel(event) {
  event.preventDefault();
  const reason = el.cancelReason.value.trim();
  if (!reason) {
    missingField(el.cancelReason, "Indiquez le motif de l'annulation.");
    return;
  }
  const done = await runAction("cancel", { reason }, { fallback: "Annulation impossible.", button: el.cancelConfirm });
  if (done) {
    el.cancelReason.value = "";
    showCancelForm(false);
  }
}

async function onTracking(event) {
  event.preventDefault();
  const number = el.trackingInput.value.trim();
  if (!number) {
    missingField(el.trackingInput, "Indiquez le numéro de suivi.");
    return;
  }
  const done = await runAction("tracking", { number }, { fallback: "Numéro de suivi non enregistré.", button: el.trackingSubmit });
  if (done) el.trackingInput.value = "";
}

/** The open case could not be refreshed: said where the actions' errors go, until a refresh works. */
export function showRefreshFailed(text) {
  setError(el.actionError, text);
  caseStale = true;
}

export function clearRefreshFailed() {
  if (caseStale) {
    // The refresh that failed has now worked: its message is out of date.
    caseStale = false;
    setError(el.actionError, "");
  }
}

export function bindActions() {
  el.claim.addEventListener("click", () =>
    runAction("claim", undefined, { errorNode: el.claimError, fallback: "Impossible de prendre ce cas en charge :", button: el.claim }),
  );
  bindAction(el.release, "release", "Impossible de remettre le cas dans la file :");
  bindAction(el.adminRelease, "release", "Impossible de remettre le cas dans la file :");
  bindAction(el.dispatch, "dispatch", "Impossible de marquer le cas comme expédié :");
  bindAction(el.done, "done", "Impossible de terminer le cas :");
  bindAction(el.handback, "handback", "Impossible de rendre la main au bot :");
  el.cancelOpen.addEventListener("click", () => showCancelForm(el.cancelForm.hidden));
  el.cancelAbort.addEventListener("click", () => {
    showCancelForm(false);
    setError(el.actionError, "");
    el.cancelOpen.focus();
  });
  el.cancelForm.addEventListener("submit", onCancel);
  el.trackingForm.addEventListener("submit", onTracking);
  // A "fill this in" message goes as soon as the field is being filled in.
  el.cancelReason.addEventListener("input", () => setError(el.actionError, ""));
  el.trackingInput.addEventListener("input", () => setError(el.actionError, ""));
}
