/* Video follow-ups (issue 16): the "Visios" dialog for network staff and admins — publish slots
 * on a day (several hours at once), the slots from today on with their status, member and Jitsi
 * link ("bientôt": taken and starting within the reminder's delay — the staff's reminder), and
 * cancel one before it starts (its member is told); the open dialog refreshes its list every 30 s.
 * members.js shows the topbar button; slot-reminders.js reminds the slot's staff.
 * API: GET/POST /api/console/slots, POST /api/console/slots/{id}/cancel (docs/CONSOLE.md).
 * Text only via textContent.
 */

import { api, messageFor } from "./api.js";

const STATUSES = { open: "Libre", taken: "Réservé", cancelled: "Annulé" };
const PARIS = "Europe/Paris";

const REFRESH_MS = 30000; // the open dialog's list is read again this often

let shown = null; // the last GET /slots
let loading = null;
let refreshing = 0;

function $(id) {
  return document.getElementById(id);
}

function make(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}

function when(iso) {
  return new Date(iso).toLocaleString("fr-FR", {
    timeZone: PARIS,
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
  });
}

/** Tomorrow in Paris, as a date field wants it (YYYY-MM-DD). */
function tomorrow() {
  const day = new Date(Date.now() + 24 * 3600 * 1000);
  return day.toLocaleDateString("en-CA", { timeZone: PARIS });
}

function link(url) {
  if (!/^https?:\/\//.test(url)) return make("span", {}, url);
  const a = make("a", { href: url, target: "_blank", rel: "noopener noreferrer", class: "slots-link" }, url);
  return a;
}

function row(slot) {
  const tr = make("tr", { "data-slot": slot.id, "data-status": slot.status, "data-testid": `slot-${slot.id}` });
  tr.append(make("td", {}, when(slot.starts_at)));
  tr.append(make("td", {}, `${slot.minutes} min`));
  tr.append(make("td", {}, slot.staff));
  const status = make("td", { class: "slots-status" }, STATUSES[slot.status] || slot.status);
  if (slot.soon) status.append(" ", make("span", { class: "slots-soon", "data-testid": "slot-soon" }, "bientôt"));
  tr.append(status);
  const member = make("td", {}, slot.member || "—");
  if (slot.reference) member.append(make("span", { class: "slots-ref" }, ` (${slot.reference})`));
  tr.append(member);
  const where = make("td");
  if (slot.status !== "cancelled") where.append(link(slot.link));
  tr.append(where);
  const actions = make("td");
  if (slot.status !== "cancelled" && new Date(slot.starts_at) > new Date()) {
    const cancel = make("button", { type: "button", class: "btn ghost", "data-testid": `slot-cancel-${slot.id}` }, "Annuler");
    let armed = false;
    cancel.addEventListener("click", async () => {
      if (!armed) {
        armed = true;
        cancel.dataset.armed = "";
        cancel.textContent = slot.status === "taken" ? "Confirmer (le membre sera prévenu)" : "Confirmer l'annulation";
        return;
      }
      cancel.disabled = true;
      await send("POST", `/slots/${encodeURIComponent(slot.id)}/cancel`, undefined, "Créneau annulé.");
    });
    actions.append(cancel);
  }
  tr.append(actions);
  return tr;
}

function table() {
  const wrap = make("div", { class: "table-wrap" });
  const t = make("table", { class: "slots-table", "data-testid": "slots-table" });
  const head = make("tr");
  for (const title of ["Quand (Paris)", "Durée", "Avec", "Statut", "Membre", "Lien", ""]) {
    head.append(make("th", { scope: "col" }, title));
  }
  const thead = make("thead");
  thead.append(head);
  const body = make("tbody");
  for (const slot of shown.slots) body.append(row(slot));
  t.append(thead, body);
  wrap.append(t);
  return wrap;
}

function field(label, input) {
  const box = make("label", { class: "field" });
  box.append(make("span", { class: "field-label" }, label), input);
  return box;
}

function form() {
  const f = make("form", { class: "slots-form", "data-testid": "slots-form" });
  const day = make("input", { id: "slots-date", "data-testid": "slots-date", type: "date", required: "" });
  day.value = tomorrow();
  const times = make("input", {
    id: "slots-times",
    "data-testid": "slots-times",
    type: "text",
    maxlength: "400",
    placeholder: "14:00 14:30 15:00",
    autocomplete: "off",
    required: "",
  });
  const minutes = make("input", { id: "slots-minutes", "data-testid": "slots-minutes", type: "number", min: "10", max: "180" });
  minutes.value = String(shown ? shown.minutes : 30);
  const staff = make("input", { id: "slots-staff", "data-testid": "slots-staff", type: "text", maxlength: "64", placeholder: "vous" });
  const submit = make("button", { type: "submit", class: "btn primary", "data-testid": "slots-submit" }, "Publier");
  f.append(
    field("Jour", day),
    field("Heures (Paris), séparées par des espaces", times),
    field("Durée (min)", minutes),
    field("Avec (membre de l'équipe)", staff),
    submit,
  );
  f.addEventListener("submit", async (event) => {
    event.preventDefault();
    const hours = times.value.split(/[\s,;]+/).filter(Boolean);
    const body = { date: day.value, times: hours, minutes: Number(minutes.value) || null };
    if (staff.value.trim()) body.staff = staff.value.trim();
    submit.disabled = true;
    const ok = await send("POST", "/slots", body, `${hours.length} créneau(x) publié(s).`);
    if (!ok) submit.disabled = false;
  });
  return f;
}

async function send(method, path, body, done) {
  let message = done;
  let kind = "hint";
  let ok = true;
  try {
    await api(method, path, body === undefined ? {} : { body });
  } catch (error) {
    message = messageFor(error, "Impossible :");
    kind = "form-error block";
    ok = false;
  }
  await load();
  render(message, kind);
  return ok;
}

async function load() {
  const mine = {};
  loading = mine;
  try {
    const data = await api("GET", "/slots");
    if (loading !== mine) return false;
    shown = data;
    return true;
  } catch (error) {
    if (loading === mine) render(messageFor(error, "Les créneaux n'ont pas pu être chargés :"), "form-error block");
    return false;
  }
}

function render(message = "", kind = "hint") {
  const body = $("slots-body");
  body.replaceChildren();
  if (!shown) {
    body.append(make("p", { class: "muted" }, "Chargement…"));
  } else {
    body.append(form());
    const status = make("p", { id: "slots-status", class: kind, role: "status", "data-testid": "slots-status" }, message);
    body.append(status);
    const refresh = make("button", { type: "button", class: "btn ghost", "data-testid": "slots-refresh" }, "Actualiser");
    refresh.addEventListener("click", async () => {
      if (await load()) render();
    });
    body.append(make("h3", { class: "sub-title" }, "Créneaux à venir"), refresh);
    const list = make("div", { id: "slots-list" });
    list.append(listing());
    body.append(list);
    return;
  }
  if (message) body.append(make("p", { class: kind, role: "status" }, message));
}

function listing() {
  if (shown.slots.length) return table();
  return make("p", { class: "empty", "data-testid": "slots-empty" }, "Aucun créneau publié à partir d'aujourd'hui.");
}

/** The dialog refreshes its list by itself while open (statuses, members, "bientôt"): the list
 * only — the form being typed is left alone, and so is a list with a cancel awaiting its second
 * click. */
async function tick() {
  const panel = $("slots-panel");
  if (!panel.open || document.visibilityState !== "visible") return;
  const mine = {};
  loading = mine;
  try {
    const data = await api("GET", "/slots");
    if (loading !== mine || !panel.open) return;
    shown = data;
  } catch (_) {
    return; // the next tick (or "Actualiser") tries again; what is typed stays
  }
  const list = $("slots-list");
  if (!list || list.querySelector("[data-armed]")) return;
  list.replaceChildren(listing());
}

export function bindSlots() {
  const panel = $("slots-panel");
  $("slots-open").addEventListener("click", async () => {
    if (!panel.open) panel.showModal();
    render();
    window.clearInterval(refreshing);
    refreshing = window.setInterval(tick, REFRESH_MS);
    if (await load()) render();
  });
  $("slots-close").addEventListener("click", () => panel.close());
  panel.addEventListener("close", () => {
    window.clearInterval(refreshing);
    refreshing = 0;
  });
}
