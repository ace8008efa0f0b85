/* Canned replies: picked into the reply box, and kept by admins in their own dialog. */

import { api, messageFor } from "./api.js";
import { el, make, setError } from "./dom.js";

let canned = [];

export async function loadCanned() {
  try {
    const data = await api("GET", "/canned");
    canned = Array.isArray(data.replies) ? data.replies : [];
  } catch (_) {
    canned = [];
  }
  renderCanned();
}

function renderCanned() {
  const first = make("option", "", canned.length ? "Choisir une réponse type…" : "Aucune réponse type");
  first.value = "";
  const options = [first];
  for (const r of canned) {
    const o = make("option", "", r.title || "(sans titre)");
    o.value = String(r.id);
    o.title = r.text || "";
    options.push(o);
  }
  el.cannedSelect.replaceChildren(...options);
  el.cannedSelect.disabled = canned.length === 0;

  const items = canned.map((r) => {
    const li = make("li", "canned-item");
    li.dataset.testid = "canned-item";
    li.dataset.id = String(r.id);
    const body = make("div", "canned-body");
    body.append(make("strong", "canned-title", r.title || "(sans titre)"), make("p", "canned-text", r.text || ""));
    const del = make("button", "btn danger small", "Supprimer");
    del.type = "button";
    del.dataset.testid = "canned-delete";
    del.setAttribute("aria-label", `Supprimer la réponse type « ${r.title || ""} »`);
    del.addEventListener("click", () => deleteCanned(r, del));
    li.append(body, del);
    return li;
  });
  if (items.length === 0) items.push(make("li", "muted", "Aucune réponse type pour l'instant."));
  el.cannedList.replaceChildren(...items);
}

function onCannedPicked() {
  const id = el.cannedSelect.value;
  const reply = canned.find((r) => String(r.id) === id);
  el.cannedSelect.value = "";
  if (!reply) return;
  const area = el.replyText;
  const text = String(reply.text || "");
  if (!area.value.trim()) {
    area.value = text;
  } else {
    // Insert where the cursor is, replacing any selection: the operator keeps what they typed.
    area.setRangeText(text, area.selectionStart, area.selectionEnd, "end");
  }
  area.focus();
}

async function onCannedAdd(event) {
  event.preventDefault();
  const title = el.cannedTitle.value.trim();
  const text = el.cannedText.value.trim();
  if (!title || !text) {
    setError(el.cannedError, "Indiquez un titre et un texte.");
    (title ? el.cannedText : el.cannedTitle).focus();
    return;
  }
  el.cannedAdd.disabled = true;
  setError(el.cannedError, "");
  try {
    await api("POST", "/canned", { body: { title, text } });
    el.cannedTitle.value = "";
    el.cannedText.value = "";
    await loadCanned();
    el.cannedTitle.focus();
  } catch (error) {
    setError(el.cannedError, messageFor(error, "Réponse type non enregistrée."));
  } finally {
    el.cannedAdd.disabled = false;
  }
}

async function deleteCanned(reply, button) {
  button.disabled = true;
  setError(el.cannedError, "");
  try {
    await api("DELETE", `/canned/${encodeURIComponent(reply.id)}`);
    await loadCanned();
    el.cannedTitle.focus();
  } catch (error) {
    button.disabled = false;
    setError(el.cannedError, messageFor(error, "Suppression impossible."));
  }
}

export function bindCanned() {
  el.cannedSelect.addEventListener("change", onCannedPicked);
  el.cannedAdminOpen.addEventListener("click", () => {
    loadCanned();
    el.cannedAdmin.showModal();
    el.cannedTitle.focus();
  });
  el.cannedAdminClose.addEventListener("click", () => el.cannedAdmin.close());
  el.cannedForm.addEventListener("submit", onCannedAdd);
  el.cannedAdmin.addEventListener("close", () => {
    setError(el.cannedError, "");
    el.cannedAdminOpen.focus();
  });
}
