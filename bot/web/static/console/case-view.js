/* What the case page shows of the case: its header, the client's side, the facts, the insurance, the
 * prescription. */

import { claimGraceActive } from "./actions.js";
import { current } from "./case.js";
import { showWindow } from "./composer.js";
import { el, make, show } from "./dom.js";
import {
  channelPill,
  duration,
  longTime,
  needLabel,
  phoneLink,
  sameOriginUrl,
  shortTime,
  slotLabel,
  statusLabel,
  urgentLabel,
  webUrl,
} from "./format.js";
import { isOverdue, summaryOf, waitingNow } from "./queue.js";
import { isMe } from "./session.js";
import { MODE, OPEN_STATUSES, OWNER, PRIORITY, PURPOSE } from "./words.js";

export function renderCaseHeader(d) {
  el.caseReference.textContent = d.reference || "—";
  el.caseStatus.textContent = statusLabel(d);
  el.caseStatus.className = `badge status s-${d.status}`;
  show(el.caseKind, d.kind === "advisor");
  show(el.casePriority, Boolean(d.mobilised));
  el.casePriority.textContent = d.mobilised
    ? `Prioritaire${d.priority && PRIORITY[d.priority] ? ` — ${PRIORITY[d.priority]}` : ""}`
    : "";
  const summary = summaryOf(d.id);
  show(el.caseOverdue, isOverdue(summary || d));
  show(el.caseUnreachable, d.reachable === false);
  show(el.caseNoTaker, Boolean(d.no_taker));
  el.caseSub.textContent = caseSubtitle(d, summary);
  renderClientSide(d);
}

/** The client's side of the case: they wrote (until an operator answers), they reopened it, erased. */
function renderClientSide(d) {
  const wrote = Boolean(d.client_wrote_at);
  show(el.caseClientWrote, wrote);
  el.caseClientWrote.textContent = wrote
    ? `Le client a écrit ${shortTime(d.client_wrote_at)} — pas encore de réponse d'un conseiller`
    : "";
  const open = OPEN_STATUSES.includes(d.status);
  const parts = [];
  if (d.reopened_at && open) parts.push(`Rouvert par le client le ${longTime(d.reopened_at)}`);
  if (d.status === "queued" && d.claimed_by) {
    const mine = isMe(d.claimed_by);
    parts.push(`dernier conseiller : ${mine ? `moi (${d.claimed_by})` : d.claimed_by}`);
  }
  show(el.caseReopened, parts.length > 0);
  el.caseReopened.textContent = parts.join(" · ");
  show(el.caseAnonymised, Boolean(d.anonymised));
}

/** Queued: how long the client has waited; open: the case's age and who holds it; closed: when. */
function caseSubtitle(d, summary) {
  const age = summary ? waitingNow(summary) : Number(d.waiting_s) || 0; // waiting_s counts from creation
  const byMe = isMe(d.claimed_by);
  if (d.status === "queued") return `Créé ${shortTime(d.created_at)} · attend depuis ${duration(age)}`;
  if (d.status === "done" || d.status === "cancelled") {
    const verb = d.status === "done" ? "Terminé" : "Annulé";
    const parts = [d.done_at ? `${verb} le ${longTime(d.done_at)}` : verb];
    parts.push(`créé le ${longTime(d.created_at)}`);
    if (d.claimed_by) parts.push(byMe ? "suivi par moi" : `suivi par ${d.claimed_by}`);
    return parts.join(" · ");
  }
  const parts = [age < 60 ? "Créé à l'instant" : `Créé il y a ${duration(age)} (${shortTime(d.created_at)})`];
  // Someone else's name is on the line below the title (#case-holder), except while it is hidden.
  if (byMe) parts.push("pris en charge par moi");
  else if (d.claimed_by && claimGraceActive(d.id)) parts.push(`pris en charge par ${d.claimed_by}`);
  else if (d.status === "dispatched") parts.push("envoyé automatiquement, sans conseiller");
  return parts.join(" · ");
}

function fact(node, value, fallback) {
  node.replaceChildren();
  if (value === null || value === undefined || value === "") {
    node.append(make("span", "muted", fallback || "—"));
  } else {
    node.textContent = String(value);
  }
}

export function renderClient(d) {
  fact(el.cName, d.contact_name);
  el.cPhone.replaceChildren();
  if (d.contact_phone) {
    el.cPhone.append(phoneLink(d.contact_phone));
  } else {
    el.cPhone.append(make("span", "muted", "—"));
  }
  const address = [d.address, d.address && d.postal_code && !String(d.address).includes(d.postal_code) ? d.postal_code : null]
    .filter(Boolean)
    .join(", ");
  fact(el.cAddress, address || (d.postal_code ? d.postal_code : ""));
  if (d.department) el.cAddress.append(make("span", "muted", ` (dép. ${d.department})`));
  fact(el.cSlot, slotLabel(d.slot));
  const need = [needLabel(d), urgentLabel(d.urgent)].filter(Boolean).join(" · ");
  fact(el.cNeed, need);
  fact(el.cMode, d.mode ? MODE[d.mode] || d.mode : "");
  el.cChannel.replaceChildren(channelPill(d.channel));
  if (d.reachable === false) el.cChannel.append(make("span", "badge unreachable", "Injoignable"));

  el.cConsent.replaceChildren();
  if (d.consent && typeof d.consent === "object") {
    const c = d.consent;
    const purpose = PURPOSE[c.purpose] || c.purpose || "";
    const text = `Accord pour ${purpose || "—"} (texte ${c.wording_version || "?"}), donné le ${longTime(c.given_at) || "?"}`;
    el.cConsent.append(make("span", "consent", text));
  } else {
    el.cConsent.append(make("span", "muted", "pas de consentement"));
  }

  const conv = d.conversation || {};
  let convText = OWNER[conv.owner] || String(conv.owner || "—");
  if (conv.owner === "operator") {
    convText = conv.operator && isMe(conv.operator) ? "avec moi" : `avec ${conv.operator || "un conseiller"}`;
  }
  fact(el.cConversation, convText);

  const hasTracking = Boolean(d.tracking_number);
  show(el.cTrackingRow, hasTracking);
  el.cTracking.replaceChildren();
  if (hasTracking) {
    const href = webUrl(d.tracking_url);
    if (href) {
      const a = make("a", "", d.tracking_number);
      a.href = href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      el.cTracking.append(a);
    } else {
      el.cTracking.textContent = d.tracking_number;
    }
  }
  const cancelled = Boolean(d.cancel_reason);
  show(el.cCancelRow, cancelled);
  el.cCancel.textContent = cancelled ? d.cancel_reason : "";

  const dates = [`créé ${longTime(d.created_at)}`];
  if (d.first_response_at) dates.push(`première réponse ${longTime(d.first_response_at)}`);
  if (d.done_at) dates.push(`terminé ${longTime(d.done_at)}`);
  el.cDates.textContent = dates.join(" · ");

  renderInsurance(d);
  renderPrescription(d);
}

/** "MGEN (mutuelle, liste) — carte", "Mutuelle des Motards (nom saisi) — carte", "aucune",
 * "non précisée"; "—" when the question was not asked (older cases). The card opens in a new tab
 * through its own route (staff only, journaled). */
function renderInsurance(d) {
  const box = el.cInsurance;
  box.replaceChildren();
  const i = d.insurance;
  if (!i || typeof i !== "object") {
    box.append(make("span", "muted", "—"));
    return;
  }
  if (i.status === "none") {
    box.textContent = "aucune";
    return;
  }
  if (i.status !== "insured") {
    box.append(make("span", "muted", "non précisée"));
    return;
  }
  if (i.insurer) {
    const about = i.listed ? `${i.kind || "liste"}, liste` : "nom saisi par le client";
    box.append(document.createTextNode(`${i.insurer} (${about})`));
  } else {
    box.append(make("span", "muted", "nom non donné"));
  }
  const url = i.card ? sameOriginUrl(i.card.url) : null;
  if (url) {
    box.append(document.createTextNode(" — "));
    const a = make("a", "insurance-card-link", i.card.kind === "pdf" ? "carte (PDF)" : "carte");
    a.href = url;
    a.target = "_blank";
    a.rel = "noopener";
    a.title = "Ouvrir la carte de mutuelle";
    box.append(a);
  }
}

function renderPrescription(d) {
  const box = el.cPrescription;
  const p = d.prescription;
  const url = p ? sameOriginUrl(p.url) : null;
  // Do not reload the same image on every refetch.
  if (box.dataset.url === (url || "") && box.dataset.kind === ((p && p.kind) || "")) return;
  box.dataset.url = url || "";
  box.dataset.kind = (p && p.kind) || "";
  box.replaceChildren();
  if (!p || !url) {
    box.append(make("p", "muted", "Pas d'ordonnance"));
    return;
  }
  if (p.kind === "image") {
    const link = make("a", "prescription-link");
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener";
    link.title = "Ouvrir l'ordonnance en grand";
    const img = document.createElement("img");
    img.className = "prescription-img";
    img.alt = "Ordonnance envoyée par le client";
    img.loading = "lazy";
    img.decoding = "async";
    img.src = url;
    img.addEventListener("error", () => {
      link.replaceChildren(make("span", "form-error", "L'image de l'ordonnance n'a pas pu être chargée. Cliquez pour l'ouvrir."));
    });
    link.append(img);
    box.append(link);
  } else {
    const a = make("a", "btn pdf-link", "Ouvrir l'ordonnance (PDF)");
    a.href = url;
    a.target = "_blank";
    a.rel = "noopener";
    box.append(a);
  }
}

/** The clock moved on (every 30 s): the header's times, and the WhatsApp window that closes with time. */
export function refreshCaseTimes() {
  if (current.detail) renderCaseHeader(current.detail);
  // The WhatsApp window closes with time, not with an event: the banner follows the clock.
  const w = current.detail && current.detail.window;
  if (w && w.open && w.closes_at && new Date(w.closes_at) <= new Date()) {
    w.open = false;
    showWindow(w);
  }
}
