/* The opticians' registry: the list (everyone), the form to add or change one and the kits to
   renew (admins). */

import { api, ApiError, messageFor } from "./api.js";
import { badge, el, make, setError, show } from "./dom.js";
import { dayLabel, phoneLink } from "./format.js";
import { clearLink, linkOptician } from "./optician-link.js";
import { isAdmin, session } from "./session.js";

let opticians = []; // Optician[] as last fetched
let opticiansAbort = null;
let opticianEditing = null; // id of the optician in the form, null when adding
let kitsAbort = null;
const KITS_WITHIN = 14; // days ahead, as the reminders (bot/dispatch/kits.py)
// The section's own elements (dom.js lists the page's shared ones).
const kitsEl = {
  section: document.getElementById("kits-section"),
  list: document.getElementById("kits-list"),
  count: document.getElementById("kits-count"),
  empty: document.getElementById("kits-empty"),
  error: document.getElementById("kits-error"),
};
// The optician's WhatsApp number (issue 16: their messages from it reach the members' desk). Its
// field is made here, after the phone's, so the page's markup needs no change.
let whatsappInput = null;

function whatsappField() {
  if (whatsappInput) return whatsappInput;
  const label = make("label", "field");
  label.append(make("span", "field-label", "WhatsApp (numéro relié à l'espace membres, facultatif)"));
  whatsappInput = document.createElement("input");
  whatsappInput.id = "optician-whatsapp";
  whatsappInput.type = "tel";
  whatsappInput.maxLength = 40;
  whatsappInput.autocomplete = "off";
  whatsappInput.placeholder = "ex. +33 6 12 34 56 78";
  whatsappInput.dataset.testid = "optician-whatsapp";
  label.append(whatsappInput);
  el.opticianPhone.closest("label").after(label);
  return whatsappInput;
}

/** "33612345678" → "+33 6 12 34 56 78" (a French number), else "+" and the digits. */
function whatsappLabel(digits) {
  const d = String(digits || "");
  if (/^33\d{9}$/.test(d)) return `+33 ${d[2]} ${d.slice(3).replace(/(\d{2})(?=\d)/g, "$1 ")}`;
  return `+${d}`;
}

const REMINDED = { "14_days": "rappel J-14 envoyé", "3_days": "rappel J-3 envoyé", expired: "avis d'expiration envoyé" };

function openOpticians() {
  const admin = isAdmin();
  show(el.opticiansReadonly, !admin);
  show(el.opticianForm, admin);
  show(el.opticiansActionsHead, admin);
  resetOpticianForm();
  setError(el.opticianSaved, "");
  clearLink();
  loadOpticians();
  show(kitsEl.section, admin);
  if (admin) loadKits();
  if (!el.opticiansPanel.open) el.opticiansPanel.showModal();
  (admin ? el.opticianName : el.opticiansClose).focus();
}

async function loadOpticians() {
  if (opticiansAbort) opticiansAbort.abort();
  const abort = new AbortController();
  opticiansAbort = abort;
  try {
    const data = await api("GET", "/opticians", { signal: abort.signal });
    if (abort !== opticiansAbort) return;
    opticiansAbort = null;
    opticians = Array.isArray(data.opticians) ? data.opticians : [];
    setError(el.opticiansLoadError, "");
    renderOpticians();
  } catch (error) {
    if (error && error.name === "AbortError") return;
    if (abort === opticiansAbort) opticiansAbort = null;
    if (error instanceof ApiError && error.status === 401) return;
    setError(el.opticiansLoadError, messageFor(error, "Le registre n'a pas pu être chargé :"));
  }
}

async function loadKits() {
  if (kitsAbort) kitsAbort.abort();
  const abort = new AbortController();
  kitsAbort = abort;
  try {
    const data = await api("GET", `/opticians/kits?within=${KITS_WITHIN}`, { signal: abort.signal });
    if (abort !== kitsAbort) return;
    kitsAbort = null;
    setError(kitsEl.error, "");
    renderKits(Array.isArray(data.kits) ? data.kits : []);
  } catch (error) {
    if (error && error.name === "AbortError") return;
    if (abort === kitsAbort) kitsAbort = null;
    if (error instanceof ApiError && error.status === 401) return;
    setError(kitsEl.error, messageFor(error, "Les kits à renouveler n'ont pas pu être chargés :"));
  }
}

/** 5 → "dans 5 jours", 1 → "demain", 0 → "aujourd'hui", -3 → "expiré depuis 3 jours". */
function daysLeftLabel(days) {
  if (days > 1) return `dans ${days} jours`;
  if (days === 1) return "demain";
  if (days === 0) return "aujourd'hui";
  return days === -1 ? "expiré depuis hier" : `expiré depuis ${-days} jours`;
}

function kitItem(k) {
  const li = make("li", "kit-item");
  li.dataset.testid = "kit-item";
  li.classList.toggle("expired", Boolean(k.expired));
  li.append(make("strong", "kit-name", k.name || "—"), " ");
  const codes = Array.isArray(k.departments) ? k.departments.map(String) : [];
  for (const code of codes) li.append(make("span", "dept", code), " ");
  li.append(make("span", "kit-date", dayLabel(k.kit_expires_on) || k.kit_expires_on || "—"), " ");
  const days = Number(k.days_left);
  const left = badge(daysLeftLabel(days), k.expired ? "kit-expired" : "kit-soon");
  left.dataset.testid = "kit-days-left";
  li.append(left);
  if (!k.linked) li.append(" ", badge("non lié", "unlinked"));
  if (!k.active) li.append(" ", badge("inactif", "unlinked"));
  if (k.reminded && REMINDED[k.reminded]) li.append(" ", make("span", "muted", REMINDED[k.reminded]));
  return li;
}

function renderKits(kits) {
  kitsEl.list.replaceChildren(...kits.map(kitItem));
  show(kitsEl.empty, kits.length === 0);
  kitsEl.count.textContent = kits.length ? `(${kits.length})` : "";
}

function yesNo(value, yes, no) {
  return make("span", `yn ${value ? "yes" : "no"}`, value ? yes : no);
}

function opticianRow(o) {
  const admin = isAdmin();
  const tr = make("tr", "optician-row");
  tr.dataset.testid = "optician-row";
  tr.dataset.opticianId = String(o.id || "");
  tr.classList.toggle("inactive", !o.active);
  tr.classList.toggle("kit-bad", !o.kit_valid);
  tr.classList.toggle("editing", opticianEditing !== null && opticianEditing === o.id);

  const name = make("th", "o-name", o.name || "—");
  name.scope = "row";
  name.dataset.field = "name";

  const phone = make("td", "o-phone");
  phone.dataset.field = "phone";
  phone.append(o.phone ? phoneLink(o.phone) : make("span", "muted", "—"));

  const departments = make("td", "o-departments");
  departments.dataset.field = "departments";
  const codes = Array.isArray(o.departments) ? o.departments.map(String) : [];
  if (codes.length) for (const code of codes) departments.append(make("span", "dept", code));
  else departments.append(make("span", "muted", "—"));

  const kit = make("td", "o-kit");
  kit.dataset.field = "kit";
  kit.append(make("span", "kit-date", dayLabel(o.kit_expires_on) || "date inconnue"));
  if (!o.kit_valid) {
    const expired = badge("kit expiré", "kit-expired");
    expired.dataset.testid = "kit-expired";
    kit.append(expired);
  }

  const active = make("td", "o-active");
  active.dataset.field = "active";
  active.append(yesNo(o.active, "Oui", "Non"));
  const available = make("td", "o-available");
  available.dataset.field = "available";
  available.append(yesNo(o.available, "Oui", "Non"));
  const linked = make("td", "o-linked");
  linked.dataset.field = "linked";
  const linkedBadge = badge(o.linked ? "lié" : "non lié", o.linked ? "linked" : "unlinked");
  linkedBadge.dataset.testid = "optician-linked";
  linked.append(linkedBadge);
  if (o.whatsapp) {
    const wa = make("span", "o-whatsapp muted", `WhatsApp ${whatsappLabel(o.whatsapp)}`);
    wa.dataset.testid = "optician-whatsapp-number";
    linked.append(" ", wa);
  }

  tr.append(name, phone, departments, kit, active, available, linked);
  if (admin) {
    const actions = make("td", "o-actions");
    const edit = make("button", "btn small", "Modifier");
    edit.type = "button";
    edit.dataset.testid = "optician-edit";
    edit.setAttribute("aria-label", `Modifier ${o.name || "l'opticien"}`);
    edit.addEventListener("click", () => editOptician(o));
    const link = make("button", "btn small", "Lier Telegram");
    link.type = "button";
    link.dataset.testid = "optician-link";
    link.setAttribute("aria-label", `Lier le Telegram de ${o.name || "l'opticien"}`);
    link.addEventListener("click", () => linkOptician(o, link));
    actions.append(edit, link);
    tr.append(actions);
  }
  return tr;
}

function renderOpticians() {
  el.opticiansList.replaceChildren(...opticians.map(opticianRow));
  show(el.opticiansEmpty, opticians.length === 0);
  const expired = opticians.filter((o) => !o.kit_valid).length;
  let count = `(${opticians.length})`;
  if (expired) count = `(${opticians.length} · ${expired} kit${expired > 1 ? "s" : ""} expiré${expired > 1 ? "s" : ""})`;
  el.opticiansCount.textContent = count;
}

/** "75, 92 2a;13" → ["75", "92", "2A", "13"] (order kept, duplicates dropped). */
function parseDepartments(text) {
  const codes = String(text || "")
    .split(/[\s,;]+/)
    .map((c) => c.trim().toUpperCase())
    .filter(Boolean);
  return [...new Set(codes)];
}

function resetOpticianForm() {
  opticianEditing = null;
  el.opticianForm.reset();
  el.opticianActive.checked = true;
  el.opticianAvailable.checked = true;
  whatsappField().value = "";
  el.opticianFormTitle.textContent = "Ajouter un opticien";
  el.opticianSave.textContent = "Ajouter l'opticien";
  show(el.opticianCancelEdit, false);
  setError(el.opticianError, "");
  for (const row of el.opticiansList.querySelectorAll(".optician-row.editing")) row.classList.remove("editing");
}

function editOptician(o) {
  resetOpticianForm();
  setError(el.opticianSaved, "");
  opticianEditing = o.id;
  el.opticianName.value = o.name || "";
  el.opticianPhone.value = o.phone || "";
  el.opticianDepartments.value = (Array.isArray(o.departments) ? o.departments : []).join(", ");
  el.opticianKit.value = typeof o.kit_expires_on === "string" ? o.kit_expires_on : "";
  whatsappField().value = o.whatsapp ? whatsappLabel(o.whatsapp) : "";
  el.opticianActive.checked = Boolean(o.active);
  el.opticianAvailable.checked = Boolean(o.available);
  el.opticianFormTitle.textContent = `Modifier ${o.name || "l'opticien"}`;
  el.opticianSave.textContent = "Enregistrer les modifications";
  show(el.opticianCancelEdit, true);
  for (const row of el.opticiansList.querySelectorAll(".optician-row")) {
    row.classList.toggle("editing", row.dataset.opticianId === o.id);
  }
  el.opticianForm.scrollIntoView({ block: "nearest" });
  el.opticianName.focus();
}

async function onOpticianSave(event) {
  event.preventDefault();
  setError(el.opticianSaved, "");
  const name = el.opticianName.value.trim();
  const phone = el.opticianPhone.value.trim();
  const departments = parseDepartments(el.opticianDepartments.value);
  const whatsapp = whatsappField().value.trim();
  // The server checks these too, but its own answers to them are not in French.
  const checks = [
    [!name, "Indiquez le nom de l'opticien.", el.opticianName],
    [!phone, "Indiquez le téléphone de l'opticien.", el.opticianPhone],
    [departments.length === 0, "Indiquez au moins un département (ex. 75, 92, 2A).", el.opticianDepartments],
    [departments.length > 30, "30 départements au plus.", el.opticianDepartments],
    [el.opticianKit.validity.badInput, "Date du kit incomplète ou invalide.", el.opticianKit],
    [whatsapp !== "" && !/^[\d\s().+/-]{6,40}$/.test(whatsapp), "Numéro WhatsApp invalide (ex. +33 6 12 34 56 78).", whatsappField()],
  ];
  const failed = checks.find(([bad]) => bad);
  if (failed) {
    setError(el.opticianError, failed[1]);
    failed[2].focus();
    return;
  }
  const body = {
    name,
    phone,
    departments,
    kit_expires_on: el.opticianKit.value || null,
    active: el.opticianActive.checked,
    available: el.opticianAvailable.checked,
    whatsapp: whatsapp || null,
  };
  const editing = opticianEditing;
  el.opticianSave.disabled = true;
  setError(el.opticianError, "");
  try {
    const saved = editing
      ? await api("PUT", `/opticians/${encodeURIComponent(editing)}`, { body })
      : await api("POST", "/opticians", { body });
    resetOpticianForm();
    const who = (saved && saved.name) || name;
    setError(el.opticianSaved, editing ? `${who} : modifications enregistrées.` : `${who} ajouté(e) au registre.`);
    await loadOpticians();
    loadKits(); // a kit date may have changed
    el.opticianName.focus();
  } catch (error) {
    setError(el.opticianError, messageFor(error, "Opticien non enregistré :"));
  } finally {
    el.opticianSave.disabled = false;
  }
}

export function bindOpticians() {
  el.opticiansOpen.addEventListener("click", openOpticians);
  el.opticiansClose.addEventListener("click", () => el.opticiansPanel.close());
  el.opticianForm.addEventListener("submit", onOpticianSave);
  el.opticianCancelEdit.addEventListener("click", () => {
    resetOpticianForm();
    el.opticianName.focus();
  });
  el.opticiansPanel.addEventListener("close", () => {
    if (opticiansAbort) opticiansAbort.abort();
    if (kitsAbort) kitsAbort.abort();
    clearLink(); // the one-time code does not stay on screen
    resetOpticianForm();
    setError(el.opticianSaved, "");
    if (session.me) el.opticiansOpen.focus();
  });
}
