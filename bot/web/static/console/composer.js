/* The reply box: what the operator may write, the WhatsApp window, the unsent drafts, sending. */

import { runAction } from "./actions.js";
import { current } from "./case.js";
import { el, setError, show } from "./dom.js";
import { dayTimeFormat } from "./format.js";

const drafts = new Map(); // case id -> unsent reply text

/** The reply being written for this case is kept while another case is open. */
export function saveDraft(caseId) {
  if (caseId) {
    const text = el.replyText.value;
    if (text) drafts.set(caseId, text);
    else drafts.delete(caseId);
  }
}

export function draftOf(caseId) {
  return drafts.get(caseId) || "";
}

/** Signed out: no draft stays in memory. */
export function forgetDrafts() {
  drafts.clear();
}

/** WhatsApp's 24-hour window: free text inside it; outside it the reply goes as the template. */
export function showWindow(w) {
  show(el.replyWindow, Boolean(w));
  if (!w) return;
  el.replyWindow.classList.toggle("closed", !w.open);
  el.replyWindow.textContent = w.open
    ? `WhatsApp : fenêtre de 24 h ouverte jusqu'à ${dayTimeFormat.format(new Date(w.closes_at))} — votre réponse part telle quelle.`
    : "WhatsApp : fenêtre de 24 h fermée — votre réponse partira dans le modèle de message approuvé ; " +
      "la conversation reprend quand le client répond.";
}

/** Only the holder of an open case replies; the line under the box says why not, or where it goes. */
export function renderReplyBox(d, { open, heldByOther }) {
  const mine = Boolean(d.mine);
  const talking = d.conversation && d.conversation.owner === "operator";
  const canReply = mine && open;
  show(el.replyForm, canReply);
  showWindow(d.window);
  if (canReply && !talking) {
    el.replyOff.textContent = "La conversation n'est plus avec vous : le client ne recevra ce message que si son canal le permet.";
  }
  show(el.replyOff, !canReply || !talking);
  if (!canReply) {
    if (!open) el.replyOff.textContent = "Ce cas est clos : plus de réponse possible.";
    else if (heldByOther) el.replyOff.textContent = `Seul ${d.claimed_by} peut répondre au client.`;
    else el.replyOff.textContent = "Prenez le cas en charge pour répondre au client.";
  } else if (talking) {
    show(el.replyOff, false);
  }
}

async function onReply(event) {
  if (event) event.preventDefault();
  const text = el.replyText.value.trim();
  if (!text) {
    setError(el.replyError, "Écrivez un message avant d'envoyer.");
    el.replyText.focus();
    return;
  }
  const id = current.caseId;
  el.replySend.disabled = true;
  const done = await runAction("reply", { text }, { errorNode: el.replyError, fallback: "Message non envoyé.", button: el.replySend });
  if (done && id === current.caseId) {
    el.replyText.value = "";
    drafts.delete(id);
    el.transcript.scrollTop = el.transcript.scrollHeight;
    el.replyText.focus();
  }
}

export function bindComposer() {
  el.replyForm.addEventListener("submit", onReply);
  el.replyText.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      onReply();
    }
  });
  el.replyText.addEventListener("input", () => setError(el.replyError, ""));
}
