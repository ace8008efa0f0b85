/* The service level (issue 15): the topbar's badge (the national level, for everyone) and the
 * dialog — the national level and the departments' own, who set them and when; an admin switches
 * one (after a confirm step, optionally telling the waitlist) or removes a department's own.
 * API: GET/PUT/DELETE /api/console/levels (docs/CONSOLE.md). Text only via textContent.
 */

import { api, messageFor } from "./api.js";
import { isAdmin, servesClients, session } from "./session.js";

const NAMES = { normal: "Normal", crisis: "Crise (urgences)", suspended: "Suspendu" };
const MILDEST_FIRST = ["normal", "crisis", "suspended"];
const REFRESH_MS = 30000;

let shown = null; // the last levels read
let refreshing = null;

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

/** A switch that lets more clients in (suspended → crisis/normal, crisis → normal). */
function letsMoreIn(before, after) {
  return MILDEST_FIRST.indexOf(after) < MILDEST_FIRST.indexOf(before);
}

function badge() {
  let node = $("levels-badge");
  if (!node) {
    node = make("span", { id: "levels-badge", class: "levels-badge", "data-testid": "levels-badge" });
    $("levels-open").append(" ", node);
  }
  return node;
}

function paintBadge() {
  if (!shown) return;
  const node = badge();
  const level = shown.national.level;
  node.textContent = NAMES[level] || level;
  node.dataset.level = level;
  $("levels-open").title = `Niveau de service national : ${NAMES[level] || level}`;
}

async function refresh() {
  // Not signed in: nothing to ask (a 401 would end the session); network staff: the client
  // service's level is not theirs (the route refuses them).
  if (!servesClients()) return;
  try {
    shown = await api("GET", "/levels");
  } catch (_) {
    return; // kept as it was; the next refresh tries again
  }
  paintBadge();
  if ($("levels-panel").open) render();
}

function row(scope, entry, isNational) {
  const tr = make("tr", { "data-scope": scope });
  tr.append(make("th", { scope: "row" }, isNational ? "National" : `Département ${scope}`));
  const level = make("td", { class: "levels-level" }, NAMES[entry.level] || entry.level);
  level.dataset.level = entry.level;
  tr.append(level);
  tr.append(make("td", {}, entry.set_by || "par défaut"));
  tr.append(make("td", {}, when(entry.set_at)));
  const actions = make("td");
  if (!isNational && isAdmin()) {
    const remove = make(
      "button",
      { type: "button", class: "btn ghost", "data-testid": `levels-remove-${scope}` },
      "Retirer",
    );
    remove.addEventListener("click", () => confirmRemove(scope, entry.level));
    actions.append(remove);
  }
  tr.append(actions);
  return tr;
}

function table() {
  const wrap = make("div", { class: "table-wrap" });
  const t = make("table", { class: "levels-table", "data-testid": "levels-table" });
  const head = make("tr");
  for (const title of ["Portée", "Niveau", "Par", "Depuis", ""]) head.append(make("th", { scope: "col" }, title));
  const thead = make("thead");
  thead.append(head);
  const body = make("tbody");
  body.append(row("national", shown.national, true));
  for (const d of shown.departments) body.append(row(d.scope, d, false));
  t.append(thead, body);
  wrap.append(t);
  return wrap;
}

function form() {
  const f = make("form", { class: "levels-form", "data-testid": "levels-form" });
  const scopeField = make("label", { class: "field" });
  scopeField.append(make("span", { class: "field-label" }, "Portée"));
  const scope = make("input", {
    id: "levels-scope",
    "data-testid": "levels-scope",
    type: "text",
    maxlength: "8",
    placeholder: "national ou un département (75, 2A, 971)",
    autocomplete: "off",
  });
  scope.value = "national";
  scopeField.append(scope);
  const levelField = make("label", { class: "field" });
  levelField.append(make("span", { class: "field-label" }, "Niveau"));
  const level = make("select", { id: "levels-level", "data-testid": "levels-level" });
  for (const value of shown.levels) level.append(make("option", { value }, NAMES[value] || value));
  levelField.append(level);
  const notifyField = make("label", { class: "levels-notify" });
  const notify = make("input", { type: "checkbox", id: "levels-notify", "data-testid": "levels-notify" });
  notify.checked = true;
  notifyField.append(notify, " Prévenir la liste d'attente si le service s'ouvre davantage");
  const submit = make("button", { type: "submit", class: "btn primary", "data-testid": "levels-submit" }, "Changer…");
  f.append(scopeField, levelField, notifyField, submit);
  f.addEventListener("submit", (event) => {
    event.preventDefault();
    const wanted = scope.value.trim() || "national";
    confirmSwitch(wanted.toLowerCase() === "national" ? "national" : wanted.toUpperCase(), level.value, notify.checked);
  });
  return f;
}

function currentOf(scope) {
  if (scope === "national") return shown.national.level;
  const own = shown.departments.find((d) => d.scope === scope);
  return own ? own.level : shown.national.level;
}

/** The confirm step: what will change, then "Confirmer" or "Annuler". */
function ask(question, onConfirm) {
  const box = $("levels-confirm");
  box.replaceChildren();
  box.hidden = false;
  box.append(make("p", { class: "levels-question", "data-testid": "levels-question" }, question));
  const yes = make("button", { type: "button", class: "btn primary", "data-testid": "levels-confirm" }, "Confirmer");
  const no = make("button", { type: "button", class: "btn ghost", "data-testid": "levels-cancel" }, "Annuler");
  no.addEventListener("click", () => {
    box.hidden = true;
    box.replaceChildren();
  });
  yes.addEventListener("click", async () => {
    yes.disabled = true;
    no.disabled = true;
    await onConfirm();
  });
  box.append(yes, " ", no);
  yes.focus();
}

function confirmSwitch(scope, level, notify) {
  const before = currentOf(scope);
  const where = scope === "national" ? "le niveau national" : `le niveau du département ${scope}`;
  let question = `Passer ${where} de « ${NAMES[before] || before} » à « ${NAMES[level] || level} » ?`;
  if (notify && letsMoreIn(before, level)) question += " La liste d'attente concernée sera prévenue.";
  ask(question, () => send("PUT", `/levels/${encodeURIComponent(scope)}`, { level, notify }));
}

function confirmRemove(scope, level) {
  const national = shown.national.level;
  const question = `Retirer le niveau propre du département ${scope} (« ${NAMES[level] || level} ») ? Il suivra le niveau national (« ${NAMES[national] || national} »).`;
  ask(question, () => send("DELETE", `/levels/${encodeURIComponent(scope)}?notify=${letsMoreIn(level, national)}`));
}

async function send(method, path, body) {
  const status = $("levels-status");
  try {
    const answer = await api(method, path, body === undefined ? {} : { body });
    shown = answer.levels;
    status.className = "hint";
    status.textContent = answer.broadcast
      ? `C'est fait. Diffusion ${answer.broadcast} lancée vers la liste d'attente.`
      : "C'est fait.";
  } catch (error) {
    status.className = "form-error block";
    status.textContent = messageFor(error, "Changement impossible :");
  }
  paintBadge();
  render(status.textContent, status.className);
}

function render(message = "", kind = "hint") {
  const body = $("levels-body");
  body.replaceChildren();
  if (!shown) {
    body.append(make("p", { class: "muted" }, "Chargement…"));
    return;
  }
  body.append(table());
  const status = make("p", { id: "levels-status", class: kind, role: "status", "data-testid": "levels-status" }, message);
  if (isAdmin()) {
    body.append(form());
    const confirm = make("div", { id: "levels-confirm", class: "levels-confirm", "data-testid": "levels-confirm-box" });
    confirm.hidden = true;
    body.append(confirm);
  } else {
    body.append(make("p", { class: "muted", "data-testid": "levels-readonly" }, "Seul un administrateur peut changer le niveau de service."));
  }
  body.append(status);
}

export function bindLevels() {
  const panel = $("levels-panel");
  $("levels-open").addEventListener("click", async () => {
    if (!panel.open) panel.showModal();
    render();
    await refresh();
  });
  $("levels-close").addEventListener("click", () => panel.close());
  // The badge: read once signed in, then every 30 s (another admin, or the CLI, may switch it).
  window.clearInterval(refreshing);
  let seen = null;
  refreshing = window.setInterval(() => {
    const me = session.me ? session.me.name : null;
    if (me !== seen) {
      seen = me;
      if (me) refresh();
    }
  }, 500);
  window.setInterval(refresh, REFRESH_MS);
}
