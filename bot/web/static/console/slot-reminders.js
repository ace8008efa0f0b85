/* The staff's reminder of a video follow-up (issue 16): staff have no chat with the bot, so the
 * console tells them. While network staff or an admin is signed in, GET /api/console/slots is read
 * at sign-in, every 60 s and when the tab comes back; each taken slot starting within the reminder's
 * delay (the API's "soon") or under way, that the signed-in account holds ("Avec" = their name) or
 * published (so a slot held under a name that is no account still reminds someone), shows once a
 * reminder that stays until closed: "Visio avec Anne Martin à 14h00 — Rejoindre" (the Jitsi link,
 * in a new tab). Closed, it does not come back (remembered in this browser until the slot ends);
 * it goes by itself when the slot is cancelled, given back or over. A slot given back and taken by
 * another member (a new room) is a new reminder. Operators get none (the route refuses them).
 * Text only via textContent; no inline handlers or styles (CSP).
 */

import { api } from "./api.js";
import { make } from "./dom.js";
import { session } from "./session.js";

const POLL_MS = 60000;
const PARIS = "Europe/Paris";
const STORE = "optibot.slot-reminders.closed"; // {key: end of the slot, ms}: no name, no link

let timer = 0;
let started = false;
let asking = null;
let box = null;
const memory = {}; // when localStorage is refused

function staff() {
  return Boolean(session.me && (session.me.role === "network" || session.me.role === "admin"));
}

/** The slot's reminder key: a slot given back and taken again has a new room, so a new key. */
function keyOf(slot) {
  return `${slot.id}|${slot.link}`;
}

function closedOnes() {
  try {
    const found = JSON.parse(window.localStorage.getItem(STORE) || "{}");
    return found && typeof found === "object" ? found : {};
  } catch (_) {
    return memory;
  }
}

function remember(key, until) {
  const closed = closedOnes();
  const now = Date.now();
  for (const [k, end] of Object.entries(closed)) if (!(Number(end) > now)) delete closed[k];
  closed[key] = until;
  try {
    window.localStorage.setItem(STORE, JSON.stringify(closed));
  } catch (_) {
    memory[key] = until;
  }
}

function hour(iso) {
  const parts = new Intl.DateTimeFormat("fr-FR", {
    timeZone: PARIS,
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(new Date(iso));
  const value = (type) => (parts.find((p) => p.type === type) || { value: "" }).value;
  return `${value("hour")}h${value("minute")}`;
}

function container() {
  if (box && box.isConnected) return box;
  box = make("div", "slot-reminders");
  box.id = "slot-reminders";
  box.dataset.testid = "slot-reminders";
  box.setAttribute("role", "status");
  box.setAttribute("aria-live", "polite");
  document.body.append(box);
  return box;
}

/** Whether this slot reminds the signed-in account now: taken, held or published by them,
 * starting within the reminder's delay or under way. */
function remindsMe(slot, now) {
  if (!session.me || slot.status !== "taken") return false;
  const me = session.me.name;
  if (slot.staff !== me && slot.created_by !== me) return false;
  const start = Date.parse(slot.starts_at);
  const end = start + Number(slot.minutes || 0) * 60000;
  return Boolean(slot.soon) || (start <= now && now < end);
}

function reminder(slot, key, end) {
  const item = make("div", "toast slot-reminder");
  item.dataset.testid = "slot-reminder";
  item.dataset.slot = slot.id;
  item.dataset.key = key;
  const member = typeof slot.member === "string" && slot.member ? slot.member : "un membre";
  let text = `Visio avec ${member} à ${hour(slot.starts_at)}`;
  if (slot.reference) text += ` (${slot.reference})`;
  if (session.me && slot.staff !== session.me.name) text += `, tenue par ${slot.staff}`;
  const words = make("span", "slot-reminder-text", `${text} — `);
  item.append(words);
  if (/^https:\/\//.test(slot.link)) {
    const join = make("a", "toast-link slot-reminder-join", "Rejoindre");
    join.href = slot.link;
    join.target = "_blank";
    join.rel = "noopener noreferrer";
    join.dataset.testid = "slot-reminder-join";
    words.append(join);
  } else {
    words.append(slot.link);
  }
  const close = make("button", "btn ghost small toast-close", "✕");
  close.type = "button";
  close.dataset.testid = "slot-reminder-close";
  close.setAttribute("aria-label", "Fermer le rappel de visio");
  close.addEventListener("click", () => {
    remember(key, end);
    item.remove();
  });
  item.append(close);
  return item;
}

function show(slots) {
  const now = Date.now();
  const closed = closedOnes();
  const due = new Map();
  for (const slot of slots) {
    if (!remindsMe(slot, now)) continue;
    const key = keyOf(slot);
    const end = Date.parse(slot.starts_at) + Number(slot.minutes || 0) * 60000;
    if (!(key in closed)) due.set(key, { slot, end });
  }
  const place = container();
  for (const item of [...place.children]) {
    if (due.has(item.dataset.key)) due.delete(item.dataset.key); // shown once
    else item.remove(); // cancelled, given back, over (or closed in another tab)
  }
  for (const [key, { slot, end }] of due) place.append(reminder(slot, key, end));
}

async function poll() {
  if (!started || !staff()) return;
  const mine = {};
  asking = mine;
  try {
    const data = await api("GET", "/slots");
    if (asking !== mine || !started) return;
    show(Array.isArray(data && data.slots) ? data.slots : []);
  } catch (_) {
    /* the next round tries again (a lost session goes back to the login by itself) */
  }
}

function start() {
  if (started || !staff()) return;
  started = true;
  poll();
  timer = window.setInterval(poll, POLL_MS);
}

function stop() {
  started = false;
  asking = null;
  window.clearInterval(timer);
  timer = 0;
  if (box) box.replaceChildren();
}

export function bindSlotReminders() {
  const screen = document.getElementById("console-screen");
  // Signed in (login.js shows the console screen): start for network staff and admins; out: stop.
  new MutationObserver(() => {
    if (!screen.hidden && session.me) start();
    else stop();
  }).observe(screen, { attributes: true, attributeFilter: ["hidden"] });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") poll();
  });
}
