/* A home visit: the optician, the offers made, and the two ways out when nobody takes it. */

import { isBusy, runAction } from "./actions.js";
import { el, make, show, showForm } from "./dom.js";
import { dayLabel, phoneLink } from "./format.js";
import { isAdmin } from "./session.js";
import { APPOINTMENT, OFFER, OPEN_STATUSES } from "./words.js";

function isVisitCase(d) {
  // A visit, or a former visit whose offers are worth keeping in sight (switched to shipment).
  return d.mode === "visit" || Boolean(d.optician) || (Array.isArray(d.offers) && d.offers.length > 0);
}

export function renderVisit(d) {
  const visible = isVisitCase(d);
  show(el.visitBlock, visible);
  if (!visible) {
    showShipmentConfirm(false);
    return;
  }
  el.visitTitle.textContent = d.mode === "visit" ? "Visite à domicile" : "Visite à domicile (passée en envoi)";

  el.visitOptician.replaceChildren();
  const o = d.optician;
  if (o && typeof o === "object" && o.name) {
    el.visitOptician.append(make("strong", "visit-optician-name", o.name));
    if (o.phone) el.visitOptician.append(make("span", "sep", " · "), phoneLink(o.phone));
  } else {
    el.visitOptician.append(make("span", "muted", "pas encore d'opticien"));
  }

  renderAppointment(d.appointment);

  const offers = (Array.isArray(d.offers) ? d.offers : []).map((offer, i) => ({ offer, i }));
  offers.sort((a, b) => (Number(a.offer.round) || 0) - (Number(b.offer.round) || 0) || a.i - b.i);
  const items = offers.map(({ offer }) => {
    const status = Object.prototype.hasOwnProperty.call(OFFER, offer.status) ? offer.status : "other";
    const li = make("li", `offer o-${status}`);
    li.dataset.testid = "offer";
    li.dataset.status = String(offer.status || "");
    li.append(
      make("span", "offer-name", offer.optician || "?"),
      make("span", `badge offer-status o-${status}`, OFFER[offer.status] || String(offer.status || "")),
      make("span", "offer-round", `tour ${Number(offer.round) || "?"}`),
    );
    return li;
  });
  if (items.length === 0) {
    const none =
      d.status === "dispatched"
        ? "Aucune offre envoyée : aucun opticien actif, disponible, lié à Telegram et avec un kit valide dans la zone."
        : d.mode === "visit"
          ? "Pas encore envoyée aux opticiens."
          : "Aucune offre.";
    items.push(make("li", "muted offers-empty", none));
  }
  el.offers.replaceChildren(...items);
  renderVisitActions(d);
}

/** The visit booked to the hour: its one-hour window (Paris time) and where it stands. */
function renderAppointment(a) {
  const node = el.visitAppointment;
  node.replaceChildren();
  if (!a || typeof a !== "object") {
    node.append(make("span", "muted", "pas encore de rendez-vous"));
    return;
  }
  const status = Object.prototype.hasOwnProperty.call(APPOINTMENT, a.status) ? a.status : "other";
  node.dataset.status = String(a.status || "");
  const hour = Number.isInteger(a.hour) ? a.hour : null;
  if (a.day && hour !== null) {
    node.append(make("strong", "appointment-when", `${dayLabel(a.day)}, ${hour}h–${hour + 1}h`), make("span", "sep", " · "));
  }
  node.append(make("span", `badge appointment-status a-${status}`, APPOINTMENT[a.status] || String(a.status || "")));
  if (a.reminded_at) node.append(make("span", "sep", " · "), make("span", "muted", "rappel envoyé"));
}

/** The no-taker alert and its two ways out; called with every render of the actions (busy state). */
export function renderVisitActions(d) {
  const noTaker = Boolean(d.no_taker) && OPEN_STATUSES.includes(d.status) && d.mode === "visit";
  show(el.noTakerAlert, noTaker);
  if (!noTaker) {
    showShipmentConfirm(false);
    return;
  }
  const dispatched = d.status === "dispatched";
  const text = dispatched
    ? "Aucun opticien n'a accepté cette visite à temps. Vous pouvez élargir l'offre aux départements voisins " +
      "(une nouvelle série d'offres part aussitôt), ou, si le client est d'accord, passer la demande en envoi par la poste."
    : "L'opticien n'a pas pu faire la visite. Vous pouvez la renvoyer aux opticiens (« Envoyer aux opticiens », " +
      "une fois le cas pris en charge), ou, si le client est d'accord, passer la demande en envoi par la poste.";
  if (el.noTakerText.textContent !== text) el.noTakerText.textContent = text;
  // The holder, an admin, or anyone when nobody holds the case (automatic dispatch); the server
  // only accepts it on a claimed or dispatched case (a queued one must be claimed first).
  const holder = Boolean(d.mine) || isAdmin() || !d.claimed_by;
  const allowed = holder && (d.status === "claimed" || dispatched);
  show(el.widen, allowed && dispatched);
  show(el.toShipment, allowed);
  if (!allowed) showShipmentConfirm(false);
  let hint = "";
  if (!holder) hint = `Seul ${d.claimed_by} (ou un administrateur) peut décider de la suite.`;
  else if (!allowed) hint = "Prenez d'abord le cas en charge pour décider de la suite.";
  el.noTakerHint.textContent = hint;
  show(el.noTakerHint, Boolean(hint));
  for (const b of [el.widen, el.toShipment, el.toShipmentConfirm]) b.disabled = isBusy();
}

export function showShipmentConfirm(visible) {
  showForm(el.toShipmentForm, el.toShipment, visible, el.toShipmentConfirm);
}

async function onToShipment(event) {
  event.preventDefault();
  const done = await runAction("to_shipment", undefined, {
    errorNode: el.visitError,
    fallback: "Impossible de passer en envoi :",
    button: el.toShipmentConfirm,
  });
  if (done) showShipmentConfirm(false);
}

/** Another case is opened: nothing of this one's visit stays on screen. */
export function clearVisit() {
  el.offers.replaceChildren();
  el.visitOptician.replaceChildren();
  el.visitAppointment.replaceChildren();
  show(el.visitBlock, false);
}

export function bindVisit() {
  el.widen.addEventListener("click", () =>
    runAction("widen", undefined, { errorNode: el.visitError, fallback: "Impossible d'élargir l'offre :", button: el.widen }),
  );
  el.toShipment.addEventListener("click", () => showShipmentConfirm(el.toShipmentForm.hidden));
  el.toShipmentAbort.addEventListener("click", () => {
    showShipmentConfirm(false);
    el.toShipment.focus();
  });
  el.toShipmentForm.addEventListener("submit", onToShipment);
}
