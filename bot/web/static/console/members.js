/* The members' desk (issue 16): the "Réseau" view — the live queue of members' requests and the
 * open request (member card, what was asked, document, thread, reply, notes, claim / release /
 * take-over, status and outcome). Network staff land on it and never see the client cases; admins
 * switch between "Dossiers clients" and "Réseau"; operators never see the switch.
 * API: /api/console/members/requests… (docs/CONSOLE.md). Text only via textContent.
 */

import { api, messageFor } from "./api.js";
import { isAdmin, session } from "./session.js";

const KINDS = {
  state_aid: "Aides de l'État / fonds de solidarité",
  short_time: "Chômage partiel",
  guaranteed_loan: "Prêt garanti",
  commission_advance: "Avance sur commissions",
  royalty_deferral: "Report de redevances",
  video: "Visio de suivi",
  other: "Autre",
};
const STATUSES = { new: "Nouvelle", in_progress: "En cours", answered: "Répondue", closed: "Close" };
const OUTCOMES = { granted: "Accordée", refused: "Refusée", redirected: "Réorientée" };
const LINES = { in: "Membre", out: "Réponse", note: "Note interne", event: "Étape" };
// Client-side topbar buttons network staff never use (their routes refuse them).
const CLIENT_BUTTONS = ["opticians-open", "levels-open", "waitlist-open", "reports-open", "map-open", "candidates-open"];

const state = { view: "clients", openId: null, detail: null, loading: null, started: false };

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
  if (!iso) return "—";
  return new Date(iso).toLocaleString("fr-FR", { dateStyle: "short", timeStyle: "short" });
}

function age(iso) {
  const minutes = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 60000));
  if (minutes < 60) return `${minutes} min`;
  if (minutes < 48 * 60) return `${Math.round(minutes / 60)} h`;
  return `${Math.round(minutes / 1440)} j`;
}

function euros(cents) {
  return `${(cents / 100).toLocaleString("fr-FR")} €`;
}

function isNetwork() {
  return Boolean(session.me && (session.me.role === "network" || session.me.role === "admin"));
}

// --- the view switch -------------------------------------------------------------------------------

function setView(view) {
  state.view = view;
  const network = view === "network";
  const columns = document.querySelector("#console-screen > .columns");
  if (columns) columns.hidden = network;
  $("network-view").hidden = !network;
  $("view-clients").setAttribute("aria-pressed", String(!network));
  $("view-network").setAttribute("aria-pressed", String(network));
  if (network) refreshQueue();
}

function entered() {
  if (!session.me || state.started) return;
  state.started = true;
  const role = session.me.role;
  $("view-switch").hidden = role !== "admin";
  for (const id of ["slots-open", "announcements-open"]) {
    const button = $(id);
    if (button) button.hidden = !isNetwork();
  }
  if (role === "network") {
    for (const id of CLIENT_BUTTONS) {
      const button = $(id);
      if (button) button.hidden = true;
    }
    setView("network");
  } else if (role === "admin") {
    setView("clients");
  } else {
    $("network-view").hidden = true;
  }
}

// --- the queue ---------------------------------------------------------------------------------------

function filters() {
  const params = new URLSearchParams();
  const status = $("members-filter-status").value;
  if (status === "open") {
    /* the default: new, in progress, answered */
  } else params.append("status", status);
  const kind = $("members-filter-kind").value;
  if (kind) params.set("kind", kind);
  const department = $("members-filter-department").value.trim();
  if (/^(\d{2,3}|2[AaBb])$/.test(department)) params.set("department", department);
  if ($("members-filter-mine").checked) params.set("mine", "true");
  const query = params.toString();
  return query ? `?${query}` : "";
}

async function refreshQueue() {
  if (!isNetwork() || state.view !== "network") return;
  const list = $("members-queue");
  try {
    const data = await api("GET", `/members/requests${filters()}`);
    renderQueue(data.requests || []);
    $("members-queue-error").textContent = "";
  } catch (error) {
    $("members-queue-error").textContent = messageFor(error);
    list.replaceChildren();
  }
  if (state.openId) openRequest(state.openId, { quiet: true });
}

function renderQueue(requests) {
  const list = $("members-queue");
  $("members-count").textContent = `${requests.length} demande${requests.length > 1 ? "s" : ""}`;
  list.replaceChildren(
    ...requests.map((r) => {
      const row = make("tr", { "data-testid": "members-row", "data-id": r.id, tabindex: "0" });
      if (r.id === state.openId) row.classList.add("selected");
      row.dataset.status = r.status;
      row.append(
        make("td", { class: "members-ref" }, r.reference),
        make("td", {}, r.member),
        make("td", {}, KINDS[r.kind] || r.kind),
        make("td", { title: when(r.created_at) }, age(r.created_at)),
        make("td", { class: "members-status" }, STATUSES[r.status] || r.status),
        make("td", {}, r.claimed_by || "—"),
      );
      row.addEventListener("click", () => openRequest(r.id));
      row.addEventListener("keydown", (event) => {
        if (event.key === "Enter") openRequest(r.id);
      });
      return row;
    }),
  );
  $("members-empty").hidden = requests.length > 0;
}

// --- the open request ------------------------------------------------------------------------------

async function openRequest(id, { quiet = false } = {}) {
  state.openId = id;
  for (const row of $("members-queue").querySelectorAll("tr")) row.classList.toggle("selected", row.dataset.id === id);
  try {
    const detail = await api("GET", `/members/requests/${encodeURIComponent(id)}`);
    if (state.openId !== id) return;
    state.detail = detail;
    renderDetail(detail);
  } catch (error) {
    if (!quiet) $("members-detail-error").textContent = messageFor(error);
  }
}

function field(label, value) {
  const row = make("div", { class: "members-field" });
  row.append(make("dt", {}, label), make("dd", {}, value === null || value === undefined || value === "" ? "—" : String(value)));
  return row;
}

function renderDetail(d) {
  $("members-placeholder").hidden = true;
  $("members-detail").hidden = false;
  $("members-detail-error").textContent = "";
  $("members-reference").textContent = d.reference;
  $("members-status").textContent = STATUSES[d.status] + (d.outcome ? ` · ${OUTCOMES[d.outcome] || d.outcome}` : "");
  $("members-status").dataset.status = d.status;
  $("members-holder").textContent = d.claimed_by ? `Tenue par ${d.claimed_by}` : "Non prise en charge";

  const card = d.member_card;
  $("members-card").replaceChildren(
    field("Membre", card.name),
    field("Téléphone", card.phone),
    field("Départements", card.departments.join(", ")),
    field("Kit valable jusqu'au", card.kit_expires_on ? new Date(card.kit_expires_on).toLocaleDateString("fr-FR") : null),
    field("Canal", card.channel === "whatsapp" ? "WhatsApp" : "Telegram"),
  );
  const asked = [field("Demande", KINDS[d.kind] || d.kind), field("Reçue le", when(d.created_at))];
  if (d.amount_cents !== null) asked.push(field("Montant souhaité", euros(d.amount_cents)));
  if (d.months !== null) asked.push(field("Mois souhaités", d.months));
  if (d.outcome_amount_cents !== null) asked.push(field("Montant accordé", euros(d.outcome_amount_cents)));
  if (d.outcome_months !== null) asked.push(field("Mois accordés", d.outcome_months));
  $("members-asked").replaceChildren(...asked);
  $("members-details").textContent = d.details;
  const doc = $("members-document");
  doc.hidden = !d.has_document;
  doc.href = `/api/console/members/requests/${encodeURIComponent(d.id)}/document`;
  doc.textContent = `Document : ${d.document_name || "pièce jointe"}`;

  $("members-thread").replaceChildren(
    ...d.thread.map((line) => {
      const item = make("li", { class: `members-line members-line-${line.kind}`, "data-testid": "members-line" });
      item.dataset.kind = line.kind;
      item.append(
        make("span", { class: "members-line-head" }, `${LINES[line.kind] || line.kind} · ${line.author} · ${when(line.at)}`),
        make("p", { class: "members-line-text" }, line.text),
      );
      return item;
    }),
  );

  const open = d.status !== "closed";
  const mine = d.mine;
  $("members-claim").hidden = !(open && !d.claimed_by);
  $("members-release").hidden = !(d.claimed_by && (mine || isAdmin()));
  $("members-takeover").hidden = !(open && d.claimed_by && !mine);
  $("members-reply-form").hidden = !(open && mine);
  $("members-answered").hidden = !d.moves.includes("answered");
  $("members-reopen").hidden = !d.moves.includes("in_progress");
  $("members-close").hidden = !d.moves.includes("closed");
  $("members-outcome-form").hidden = !d.moves.includes("closed");
  $("members-outcome-amount-row").hidden = d.kind !== "commission_advance";
  $("members-outcome-months-row").hidden = d.kind !== "royalty_deferral";
}

async function act(path, body, errorNode = "members-action-error") {
  if (!state.openId) return null;
  $(errorNode).textContent = "";
  try {
    const detail = await api("POST", `/members/requests/${encodeURIComponent(state.openId)}/${path}`, { body: body || {} });
    state.detail = detail;
    renderDetail(detail);
    refreshQueue();
    return detail;
  } catch (error) {
    $(errorNode).textContent = messageFor(error);
    if (error.status === 409) openRequest(state.openId, { quiet: true });
    return null;
  }
}

function confirmed(text) {
  return window.confirm(text);
}

// --- binding -----------------------------------------------------------------------------------------

export function bindMembers() {
  $("view-clients").addEventListener("click", () => setView("clients"));
  $("view-network").addEventListener("click", () => setView("network"));
  for (const id of ["members-filter-status", "members-filter-kind", "members-filter-mine"]) {
    $(id).addEventListener("change", refreshQueue);
  }
  $("members-filter-department").addEventListener("input", refreshQueue);
  $("members-claim").addEventListener("click", () => act("claim"));
  $("members-release").addEventListener("click", () => act("release"));
  $("members-takeover").addEventListener("click", () => {
    const from = state.detail && state.detail.claimed_by;
    if (from && confirmed(`Reprendre la demande tenue par ${from} ?`)) act("takeover", { from });
  });
  $("members-answered").addEventListener("click", () => act("status", { status: "answered" }));
  $("members-reopen").addEventListener("click", () => act("status", { status: "in_progress" }));
  $("members-close").addEventListener("click", () => {
    if (confirmed("Clore la demande sans issue ? Le membre en sera prévenu.")) act("status", { status: "closed" });
  });
  $("members-reply-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("members-reply-text").value.trim();
    if (!text) return;
    if (await act("reply", { text }, "members-reply-error")) $("members-reply-text").value = "";
  });
  $("members-note-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("members-note-text").value.trim();
    if (!text) return;
    if (await act("notes", { text }, "members-note-error")) $("members-note-text").value = "";
  });
  $("members-outcome-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const outcome = $("members-outcome").value;
    const body = { outcome };
    const amount = $("members-outcome-amount").value.trim().replace(",", ".");
    const months = $("members-outcome-months").value.trim();
    if (outcome === "granted" && amount && !$("members-outcome-amount-row").hidden) body.amount_euros = amount;
    if (outcome === "granted" && months && !$("members-outcome-months-row").hidden) body.months = Number(months);
    const message = $("members-outcome-message").value.trim();
    if (message) body.message = message;
    if (confirmed(`Clore la demande : ${OUTCOMES[outcome]} ? Le membre en sera prévenu.`)) {
      act("outcome", body, "members-outcome-error");
    }
  });
  // The live stream (stream.js) says when members' requests changed.
  document.addEventListener("optibot:member-requests", refreshQueue);
  // Signed in (login.js shows the console): set the view for the role; signed out: start over.
  const screen = $("console-screen");
  new MutationObserver(() => {
    if (!screen.hidden) entered();
    else {
      state.started = false;
      state.openId = null;
    }
  }).observe(screen, { attributes: true, attributeFilter: ["hidden"] });
  if (!screen.hidden) entered();
}
