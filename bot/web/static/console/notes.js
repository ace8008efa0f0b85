/* The operators' internal notes on the open case (the client never sees them). */

import { runAction } from "./actions.js";
import { el, make, setError } from "./dom.js";
import { longTime, shortTime } from "./format.js";

export function renderNotes(notes) {
  const items = notes.map((n) => {
    const li = make("li", "note");
    li.dataset.testid = "note";
    const meta = make("div", "meta");
    meta.append(make("span", "author", n.author || "?"));
    const time = make("time", "time", shortTime(n.created_at));
    if (n.created_at) time.dateTime = String(n.created_at);
    time.title = longTime(n.created_at);
    meta.append(time);
    li.append(meta, make("div", "text", n.text || ""));
    return li;
  });
  if (items.length === 0) items.push(make("li", "muted note-empty", "Aucune note."));
  el.notes.replaceChildren(...items);
}

async function onNote(event) {
  event.preventDefault();
  const text = el.noteText.value.trim();
  if (!text) {
    setError(el.noteError, "La note est vide.");
    el.noteText.focus();
    return;
  }
  const done = await runAction("notes", { text }, { errorNode: el.noteError, fallback: "Note non enregistrée.", button: el.noteAdd });
  if (done) el.noteText.value = "";
}

export function bindNotes() {
  el.noteForm.addEventListener("submit", onNote);
}
