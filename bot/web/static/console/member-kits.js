/* The members' desk (issue 16): the kit dates members declared with /kit, in the opticians'
 * dialog (#declared-kits-section), for an admin to confirm (the date becomes the kit's; the kit
 * reminders start again from it) or refuse; the member is told either way.
 * API: GET /api/console/kits/declared, POST /api/console/kits/declared/{id}/confirm|refuse with
 * the date shown (409 if the member changed it meanwhile). Text only via textContent.
 */

import { api, messageFor } from "./api.js";
import { isAdmin } from "./session.js";

let loading = null;

function $(id) {
  return document.getElementById(id);
}

function make(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}

function day(iso) {
  if (!iso) return "non renseignée";
  const [y, m, d] = iso.split("-");
  return `${d}/${m}/${y}`;
}

function item(kit) {
  const li = make("li", { class: "declared-kit", "data-optician": kit.optician_id, "data-testid": `declared-kit-${kit.optician_id}` });
  li.append(make("strong", {}, kit.name));
  li.append(make("span", { class: "muted" }, ` (${kit.departments.join(", ") || "—"})`));
  li.append(
    make(
      "span",
      { class: "declared-kit-dates" },
      ` — kit actuel : ${day(kit.kit_expires_on)} → déclaré : ${day(kit.declared_on)}`,
    ),
  );
  const actions = make("span", { class: "declared-kit-actions" });
  for (const [verb, label, style] of [
    ["confirm", "Confirmer", "btn primary"],
    ["refuse", "Refuser", "btn ghost"],
  ]) {
    const button = make("button", { type: "button", class: style, "data-testid": `declared-kit-${verb}-${kit.optician_id}` }, label);
    button.addEventListener("click", () => decide(kit, verb, actions));
    actions.append(" ", button);
  }
  li.append(actions);
  return li;
}

async function decide(kit, verb, actions) {
  for (const button of actions.querySelectorAll("button")) button.disabled = true;
  let message;
  let kind = "hint";
  try {
    await api("POST", `/kits/declared/${encodeURIComponent(kit.optician_id)}/${verb}`, {
      body: { declared_on: kit.declared_on },
    });
    message = verb === "confirm" ? `Date confirmée pour ${kit.name} : ${day(kit.declared_on)}.` : `Date refusée pour ${kit.name}.`;
  } catch (error) {
    message = messageFor(error, "Impossible :");
    kind = "form-error block";
  }
  await load(message, kind);
}

async function load(message = "", kind = "hint") {
  const section = $("declared-kits-section");
  if (!isAdmin()) {
    section.hidden = true;
    return;
  }
  const mine = {};
  loading = mine;
  let kits = [];
  let error = "";
  try {
    kits = (await api("GET", "/kits/declared")).kits;
  } catch (failure) {
    error = messageFor(failure, "Les dates déclarées n'ont pas pu être chargées :");
  }
  if (loading !== mine) return;
  section.replaceChildren();
  const title = make("h3", { id: "declared-kits-title", class: "sub-title" }, "Dates de kit déclarées par les membres ");
  title.append(make("span", { class: "count", "data-testid": "declared-kits-count" }, String(kits.length)));
  section.append(title);
  if (error) section.append(make("p", { class: "form-error block", role: "alert" }, error));
  if (kits.length) {
    const list = make("ul", { class: "kits-list", "data-testid": "declared-kits-list" });
    for (const kit of kits) list.append(item(kit));
    section.append(list);
  } else if (!error) {
    section.append(make("p", { class: "empty" }, "Aucune date en attente de confirmation."));
  }
  if (message) section.append(make("p", { class: kind, role: "status", "data-testid": "declared-kits-status" }, message));
  section.hidden = false;
}

export function bindMemberKits() {
  // The opticians' dialog opens from its topbar button (opticians.js); this section follows it.
  $("opticians-open").addEventListener("click", () => load());
}
