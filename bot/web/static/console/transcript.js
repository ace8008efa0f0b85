/* The transcript of the open case: its messages in order, their delivery, the live ones. */

import { current, scheduleCase } from "./case.js";
import { el, make } from "./dom.js";
import { longTime, shortTime } from "./format.js";
import { AUTHOR } from "./words.js";

const shown = new Map(); // message id -> element of the open transcript

/** Another case, or none: the transcript is emptied (and the screen reader's announcements). */
export function clearTranscript({ announcements }) {
  shown.clear();
  el.transcript.replaceChildren();
  if (announcements) el.announce.replaceChildren();
}

/** Some message of the open case is on screen. */
export function transcriptShown() {
  return shown.size > 0;
}

function nearBottom(node) {
  return node.scrollHeight - node.scrollTop - node.clientHeight < 60;
}

/** What the operator can do about a platform's refusal, in French; the raw error stays after it. */
const FAILURE_HINTS = [
  [/^whatsapp 132\d{3}\b/,
    "Meta refuse le modèle de message (nom, langue ou approbation à vérifier par l'administrateur)"],
  [/^whatsapp 131026\b/,
    "ce client ne peut pas recevoir de message WhatsApp (application ancienne ou numéro non inscrit)"],
  [/^telegram 403 blocked/, "le client a bloqué le bot Telegram"],
];

function failureText(error) {
  if (!error) return "Échec de l'envoi";
  const hint = FAILURE_HINTS.find(([pattern]) => pattern.test(error));
  return hint ? `Échec : ${hint[1]} — ${error}` : `Échec : ${error}`;
}

function deliveryOf(m) {
  if (m.direction !== "out") return null;
  if (m.failed_at) return { cls: "failed", text: failureText(m.error) };
  const how = m.via === "template" ? " (modèle WhatsApp, hors fenêtre de 24 h)" : "";
  if (m.read_at) return { cls: "sent", text: `Lu${how}` };
  if (m.delivered_at) return { cls: "sent", text: `Distribué${how}` };
  if (m.sent_at) return { cls: "sent", text: `Envoyé${how}` };
  return { cls: "pending", text: "En attente d'envoi" };
}

function authorLabel(m) {
  if (m.author === "operator") return m.operator ? `${m.operator} (conseiller)` : AUTHOR.operator;
  return AUTHOR[m.author] || String(m.author || "");
}

function messageNode(m) {
  const row = make("div", `msg-row ${m.direction === "in" ? "in" : "out"} by-${m.author}`);
  row.dataset.testid = "message";
  row.dataset.id = String(m.id);
  row.dataset.direction = String(m.direction || "");
  row.dataset.author = String(m.author || "");
  if (m.operator) row.dataset.operator = String(m.operator);
  const bubble = make("div", "bubble");
  const meta = make("div", "meta");
  meta.append(make("span", "author", authorLabel(m)));
  const time = make("time", "time", shortTime(m.created_at));
  if (m.created_at) time.dateTime = String(m.created_at);
  time.title = longTime(m.created_at);
  meta.append(time);
  const text = make("div", "text");
  if (m.text === null || m.text === undefined || m.text === "") {
    text.append(make("span", "muted", "(message sans texte)"));
  } else {
    text.textContent = String(m.text);
  }
  bubble.append(meta, text);
  const status = make("div", "delivery");
  status.dataset.role = "delivery";
  bubble.append(status);
  row.append(bubble);
  updateDelivery(row, m);
  return row;
}

function updateDelivery(row, m) {
  const status = row.querySelector('[data-role="delivery"]');
  const d = deliveryOf(m);
  if (!d) {
    status.hidden = true;
    return;
  }
  status.hidden = false;
  status.className = `delivery ${d.cls}`;
  status.textContent = d.text;
  row.dataset.delivery = d.cls;
}

/** Inserts a message at its place (ids grow with time); updates it if already shown. */
function addMessage(m, { live }) {
  const id = Number(m.id);
  if (!Number.isFinite(id)) return false;
  const existing = shown.get(id);
  if (existing) {
    updateDelivery(existing, m);
    return false;
  }
  const node = messageNode(m);
  let before = null;
  for (const [otherId, other] of shown) {
    if (otherId > id && (!before || Number(before.dataset.id) > otherId)) before = other;
  }
  el.transcript.insertBefore(node, before);
  shown.set(id, node);
  if (live && m.direction === "in") {
    const line = make("p", "", `Nouveau message du client : ${m.text || ""}`);
    el.announce.append(line);
    while (el.announce.childElementCount > 3) el.announce.firstElementChild.remove();
    node.classList.add("fresh");
  }
  return true;
}

export function renderMessages(messages, { live, scrollToEnd }) {
  const stick = scrollToEnd || nearBottom(el.transcript);
  if (messages.length === 0 && shown.size === 0) {
    el.transcript.replaceChildren(make("p", "muted empty-transcript", "Aucun message."));
  } else {
    const placeholder = el.transcript.querySelector(".empty-transcript");
    if (placeholder && messages.length) placeholder.remove();
  }
  for (const m of messages) addMessage(m, { live });
  if (stick) el.transcript.scrollTop = el.transcript.scrollHeight;
}

export function onLiveMessage(m) {
  if (!m || !current.caseId) return;
  if (!current.detail) {
    // The case is still loading: its fetch will bring this message.
    return;
  }
  const stick = nearBottom(el.transcript);
  const placeholder = el.transcript.querySelector(".empty-transcript");
  if (placeholder) placeholder.remove();
  addMessage(m, { live: true });
  if (stick) el.transcript.scrollTop = el.transcript.scrollHeight;
  // The client wrote: a WhatsApp window opens again (or moves on), as the case's fetch says.
  if (m.direction === "in" && current.detail.window) scheduleCase();
}
