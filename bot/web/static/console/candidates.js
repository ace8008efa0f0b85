/* The candidates dialog (issue 15): opticians who asked to join (GET /candidates: one page of
   names, departments and statuses, and how many more), filtered by status and department; an
   admin opens a candidate's details (GET /candidates/{id}, journaled: phone, e-mail, registration
   number, note) and moves them along new → contacted → accepted → registered (the optician's entry
   and a Telegram link) or declined, and keeps a note. */

import { api, ApiError, messageFor } from "./api.js";
import { make, setError, show } from "./dom.js";
import { isAdmin } from "./session.js";

const STATUS = {
  new: "Nouvelle",
  contacted: "Contactée",
  accepted: "Acceptée",
  registered: "Inscrite",
  declined: "Refusée",
};
// The buttons each status offers (bot/recruitment.py MOVES).
const ACTIONS = {
  new: [["contacted", "Marquer contactée"], ["accepted", "Accepter"], ["declined", "Refuser"]],
  contacted: [["accepted", "Accepter"], ["declined", "Refuser"]],
  accepted: [["registered", "Inscrire (créer l'opticien)"], ["declined", "Refuser"]],
  registered: [],
  declined: [],
};

function $(id) {
  return document.getElementById(id);
}

let selected = null; // the CandidateView shown in the detail

function day(iso) {
  return new Date(iso).toLocaleDateString("fr-FR", { timeZone: "Europe/Paris" });
}

async function load() {
  const query = new URLSearchParams();
  const status = $("candidates-status").value;
  const department = $("candidates-department").value.trim();
  if (status) query.set("status", status);
  if (department) query.set("department", department);
  setError($("candidates-error"), "");
  try {
    const search = query.toString();
    const data = await api("GET", `/candidates${search ? `?${search}` : ""}`);
    render(data);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    setError($("candidates-error"), messageFor(error, "Les candidatures n'ont pas pu être chargées :"));
  }
}

function render(data) {
  const candidates = data.candidates;
  const body = $("candidates-rows");
  body.replaceChildren();
  for (const candidate of candidates) {
    const tr = make("tr");
    tr.dataset.id = candidate.id;
    const open = make("button", "btn ghost", "Voir");
    open.type = "button";
    open.setAttribute("aria-label", `Voir la candidature de ${candidate.name}`);
    open.addEventListener("click", () => openCandidate(candidate));
    tr.append(
      make("td", "", day(candidate.created_at)),
      make("td", "", candidate.name),
      make("td", "", candidate.departments.join(", ")),
      make("td", "", candidate.has_kit ? "oui" : "non"),
      make("td", `candidate-status status-${candidate.status}`, STATUS[candidate.status] || candidate.status),
    );
    const cell = make("td");
    cell.append(open);
    tr.append(cell);
    body.append(tr);
  }
  const total = data.total;
  $("candidates-count").textContent =
    `${total} candidature${total > 1 ? "s" : ""}` +
    (data.more ? ` — ${candidates.length} affichées, ${data.more} de plus (affinez les filtres)` : "");
  show($("candidates-empty"), candidates.length === 0);
}

async function openCandidate(candidate) {
  setError($("candidate-error"), "");
  if (!isAdmin()) {
    showDetail(candidate);
    return;
  }
  try {
    showDetail(await api("GET", `/candidates/${encodeURIComponent(candidate.id)}`));
  } catch (error) {
    setError($("candidates-error"), messageFor(error, "La candidature n'a pas pu être ouverte :"));
  }
}

function field(list, term, value) {
  list.append(make("dt", "", term));
  const dd = make("dd");
  if (value instanceof Node) dd.append(value);
  else dd.textContent = value;
  list.append(dd);
}

function link(href, text) {
  const a = make("a", "", text);
  a.href = href;
  return a;
}

function showDetail(candidate, focus = true) {
  const changed = !selected || selected.id !== candidate.id;
  selected = candidate;
  const section = $("candidate-detail");
  show(section, true);
  $("candidate-name").textContent = `${candidate.name} — ${STATUS[candidate.status]}`;
  const list = $("candidate-fields");
  list.replaceChildren();
  // Operators see the list's summary only (no contact details: bot/console/network_api.py).
  if (candidate.phone) field(list, "Téléphone", link(`tel:${candidate.phone}`, candidate.phone));
  if (candidate.email) field(list, "E-mail", link(`mailto:${candidate.email}`, candidate.email));
  field(list, "Départements", candidate.departments.join(", "));
  if (candidate.registration) field(list, candidate.registration_kind, candidate.registration);
  field(list, "Kit de protection", candidate.has_kit ? "oui" : "non");
  field(list, "Reçue le", day(candidate.created_at));
  if (candidate.status_by) field(list, "Dernier changement", `${candidate.status_by}, le ${day(candidate.updated_at)}`);
  const admin = isAdmin();
  const actions = $("candidate-actions");
  actions.replaceChildren();
  for (const [target, text] of admin ? ACTIONS[candidate.status] || [] : []) {
    const button = make("button", target === "declined" ? "btn ghost" : "btn", text);
    button.type = "button";
    button.dataset.action = target;
    button.addEventListener("click", () => act(candidate, target));
    actions.append(button);
  }
  show($("candidate-readonly"), !admin);
  show($("candidate-note-form"), admin);
  const note = $("candidate-note");
  if (changed) {
    note.value = candidate.note || "";
    show($("candidate-link"), false);
  }
  note.disabled = !admin;
  setError($("candidate-error"), "");
  if (focus) $("candidate-name").scrollIntoView({ block: "nearest" });
}

function showLink(answer) {
  const url = $("candidate-link-url");
  url.textContent = answer.link || "(bot Telegram non joignable : donnez la commande)";
  if (answer.link) url.href = answer.link;
  else url.removeAttribute("href");
  $("candidate-link-command").textContent = answer.command;
  const qr = $("candidate-link-qr");
  if (answer.qr) qr.src = answer.qr;
  show(qr, Boolean(answer.qr));
  show($("candidate-link"), true);
}

async function act(candidate, target) {
  setError($("candidate-error"), "");
  try {
    if (target === "registered") {
      const answer = await api("POST", `/candidates/${encodeURIComponent(candidate.id)}/register`);
      selected = answer.candidate;
      showDetail(answer.candidate, false);
      showLink(answer);
    } else {
      const answer = await api("POST", `/candidates/${encodeURIComponent(candidate.id)}/status`, {
        body: { status: target },
      });
      showDetail(answer, false);
    }
    await load();
  } catch (error) {
    setError($("candidate-error"), messageFor(error, "Le changement n'a pas abouti :"));
  }
}

async function saveNote(event) {
  event.preventDefault();
  if (!selected) return;
  try {
    const answer = await api("POST", `/candidates/${encodeURIComponent(selected.id)}/note`, {
      body: { text: $("candidate-note").value },
    });
    showDetail(answer, false);
  } catch (error) {
    setError($("candidate-error"), messageFor(error, "La note n'a pas été enregistrée :"));
  }
}

export function bindCandidates() {
  const panel = $("candidates-panel");
  $("candidates-open").addEventListener("click", () => {
    if (!panel.open) panel.showModal();
    selected = null;
    show($("candidate-detail"), false);
    load();
  });
  $("candidates-close").addEventListener("click", () => panel.close());
  $("candidates-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  $("candidate-note-form").addEventListener("submit", saveNote);
}
