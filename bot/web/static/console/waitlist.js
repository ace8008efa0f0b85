/* The waitlist dialog (issue 15): the clients waiting for the service to resume (how each can be
   reached, never the contact), filters and the CSV export; admins "Prévenir" (filter → count →
   confirm → broadcast) and see the phones to call back. The broadcasts' progress (sent, failed,
   remaining) is read again every second while the dialog is open. */

import { api, ApiError, messageFor } from "./api.js";
import { make, setError, show } from "./dom.js";
import { shortTime } from "./format.js";
import { isAdmin } from "./session.js";

const PROGRESS_MS = 1000;
const REASONS = {
  not_urgent: "Pas urgent",
  no_prescription: "Sans ordonnance",
  suspended: "Service suspendu",
  other: "Autre",
};
const CHANNELS = { telegram: "Telegram", whatsapp: "WhatsApp", webchat: "Web", terminal: "Terminal" };
const LEVELS = { normal: "service normal", crisis: "urgences" };
const ROUTES = {
  telegram: "Telegram",
  whatsapp: "WhatsApp",
  whatsapp_template: "WhatsApp (modèle, hors fenêtre de 24 h)",
  email: "e-mail",
  callback: "à rappeler",
  unreachable: "injoignables",
  terminal: "terminal",
};

function $(id) {
  return document.getElementById(id);
}

const w = {
  panel: $("waitlist-panel"),
  open: $("waitlist-open"),
  close: $("waitlist-close"),
  filters: $("waitlist-filters"),
  department: $("waitlist-department"),
  reason: $("waitlist-reason"),
  channel: $("waitlist-channel"),
  told: $("waitlist-told"),
  csv: $("waitlist-csv"),
  count: $("waitlist-count"),
  error: $("waitlist-error"),
  list: $("waitlist-list"),
  empty: $("waitlist-empty"),
  notify: $("waitlist-notify"),
  level: $("waitlist-level"),
  again: $("waitlist-again"),
  preview: $("waitlist-preview"),
  confirm: $("waitlist-confirm"),
  previewText: $("waitlist-preview-text"),
  send: $("waitlist-send"),
  cancel: $("waitlist-cancel"),
  notifyError: $("waitlist-notify-error"),
  broadcasts: $("waitlist-broadcasts"),
  broadcastsEmpty: $("waitlist-broadcasts-empty"),
  callbacksSection: $("waitlist-callbacks-section"),
  callbacksShow: $("waitlist-callbacks-show"),
  callbacks: $("waitlist-callbacks"),
};

let listAbort = null;
let timer = null;
let ticking = 0; // the current progress loop (a new one stops the previous)
let wasRunning = false;
let pending = null; // the filter previewed, waiting for the admin's confirmation

/** The filter as chosen in the form ({} values left out). */
function chosen() {
  const filter = {};
  const department = w.department.value.trim().toUpperCase();
  if (department) filter.department = department;
  if (w.reason.value) filter.reason = w.reason.value;
  if (w.channel.value) filter.channel = w.channel.value;
  return filter;
}

function query(filter, told) {
  const params = new URLSearchParams({ ...filter, told });
  return params.toString();
}

async function loadEntries() {
  if (listAbort) listAbort.abort();
  const abort = new AbortController();
  listAbort = abort;
  const filter = chosen();
  const told = w.told.value || "waiting";
  w.csv.href = `/api/console/waitlist.csv?${query(filter, told)}`;
  try {
    const data = await api("GET", `/waitlist?${query(filter, told)}`, { signal: abort.signal });
    if (abort !== listAbort) return;
    listAbort = null;
    setError(w.error, "");
    renderEntries(Array.isArray(data.entries) ? data.entries : [], data.count || 0);
  } catch (error) {
    if (error && error.name === "AbortError") return;
    if (abort === listAbort) listAbort = null;
    if (error instanceof ApiError && error.status === 401) return;
    setError(w.error, messageFor(error, "La liste d'attente n'a pas pu être chargée :"));
  }
}

function renderEntries(entries, count) {
  w.list.replaceChildren(
    ...entries.map((e) => {
      const row = make("tr", "waitlist-row");
      row.dataset.testid = "waitlist-row";
      row.append(
        make("td", null, shortTime(e.since)),
        make("td", null, REASONS[e.reason] || e.reason),
        make("td", null, e.department || "—"),
        make("td", null, CHANNELS[e.channel] || e.channel),
        make("td", null, (e.language || "").toUpperCase()),
        make("td", null, e.told_at ? `oui, ${shortTime(e.told_at)}` : e.served ? "non, pris en charge depuis" : "non"),
        make("td", null, e.contact && e.contact.length ? e.contact.join(", ") : "—"),
      );
      return row;
    }),
  );
  const shown = entries.length < count ? ` (${entries.length} affichés)` : "";
  w.count.textContent = `${count} client${count > 1 ? "s" : ""}${shown}`;
  show(w.empty, count === 0);
}

function progressText(b) {
  const state = { running: "en cours", done: "terminé", cancelled: "arrêtée" }[b.status] || b.status;
  const parts = [`envoyés ${b.sent}`, `échecs ${b.failed}`];
  if (b.callback) parts.push(`à rappeler ${b.callback}`);
  parts.push(`restants ${b.remaining}`);
  return { state, counts: `${parts.join(", ")} sur ${b.total}` };
}

async function loadBroadcasts() {
  try {
    const data = await api("GET", "/broadcasts");
    const list = Array.isArray(data.broadcasts) ? data.broadcasts : [];
    w.broadcasts.replaceChildren(
      ...list.map((b) => {
        const item = make("li", "waitlist-broadcast");
        item.dataset.testid = "waitlist-broadcast";
        item.dataset.status = b.status;
        const { state, counts } = progressText(b);
        const where = b.department ? `département ${b.department}` : "tous départements";
        item.append(
          make("span", "waitlist-broadcast-head", `${shortTime(b.created_at)} · ${LEVELS[b.level] || b.level} · ${where} · par ${b.created_by}`),
          make("span", "waitlist-broadcast-counts", counts),
          make("span", `waitlist-broadcast-state ${b.status}`, state),
        );
        const bar = make("progress", "waitlist-broadcast-bar");
        bar.max = Math.max(b.total, 1);
        bar.value = b.total - b.remaining;
        item.append(bar);
        if (b.status === "running" && isAdmin()) {
          const stop = make("button", "waitlist-broadcast-cancel", "Arrêter");
          stop.type = "button";
          stop.dataset.testid = "waitlist-broadcast-cancel";
          stop.addEventListener("click", () => cancelBroadcast(b.public_id, stop));
          item.append(stop);
        }
        return item;
      }),
    );
    show(w.broadcastsEmpty, list.length === 0);
    return list.some((b) => b.status === "running");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return false;
    return true; // a hiccup: try again at the next tick
  }
}

async function cancelBroadcast(publicId, button) {
  setError(w.notifyError, "");
  button.disabled = true;
  try {
    await api("POST", `/broadcasts/${encodeURIComponent(publicId)}/cancel`);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 409)) {
      setError(w.notifyError, messageFor(error, "L'arrêt de la diffusion a échoué :"));
    }
  }
  await loadBroadcasts();
}

async function tick(generation) {
  timer = null;
  if (!w.panel.open || generation !== ticking) return;
  const running = await loadBroadcasts();
  if (generation !== ticking || !w.panel.open) return;
  if (wasRunning && !running) loadEntries(); // the clients just told
  wasRunning = running;
  timer = window.setTimeout(() => tick(generation), running ? PROGRESS_MS : PROGRESS_MS * 5);
}

function stopTicking() {
  ticking += 1;
  if (timer !== null) window.clearTimeout(timer);
  timer = null;
}

function startTicking() {
  stopTicking();
  tick(ticking);
}

function routesText(routes) {
  return Object.entries(routes || {})
    .map(([route, n]) => `${ROUTES[route] || route} ${n}`)
    .join(", ");
}

async function previewBroadcast() {
  setError(w.notifyError, "");
  const filter = { ...chosen(), again: w.again.checked, level: w.level.value };
  try {
    const data = await api("POST", "/waitlist/preview", { body: filter });
    if (!data.total) {
      show(w.confirm, false);
      setError(w.notifyError, "Personne à prévenir avec ces critères.");
      return;
    }
    pending = { ...filter, level: w.level.value };
    const level = LEVELS[pending.level] || pending.level;
    w.previewText.textContent =
      `${data.total} client${data.total > 1 ? "s" : ""} ser${data.total > 1 ? "ont" : "a"} prévenu${data.total > 1 ? "s" : ""} ` +
      `de la reprise (${level}) : ${routesText(data.routes)}.`;
    show(w.confirm, true);
    w.send.focus();
  } catch (error) {
    setError(w.notifyError, messageFor(error, "Le décompte a échoué :"));
  }
}

async function sendBroadcast() {
  if (!pending) return;
  const body = pending;
  pending = null;
  w.send.disabled = true;
  try {
    const data = await api("POST", "/broadcasts", { body });
    show(w.confirm, false);
    if (!data.public_id) setError(w.notifyError, "Personne à prévenir : rien n'a été envoyé.");
    wasRunning = true;
    startTicking();
  } catch (error) {
    setError(w.notifyError, messageFor(error, "La diffusion n'a pas pu partir :"));
  } finally {
    w.send.disabled = false;
  }
}

async function showCallbacks() {
  try {
    const data = await api("GET", "/waitlist/callbacks");
    const list = Array.isArray(data.callbacks) ? data.callbacks : [];
    w.callbacks.replaceChildren(
      ...list.map((c) => {
        const item = make("li", "waitlist-callback");
        const link = make("a", "phone", c.phone);
        link.href = `tel:${c.phone}`;
        item.append(link, make("span", null, ` · ${c.department || "—"} · ${(c.language || "").toUpperCase()} · depuis ${shortTime(c.since)}`));
        return item;
      }),
    );
    if (!list.length) w.callbacks.replaceChildren(make("li", "empty", "Personne à rappeler."));
  } catch (error) {
    w.callbacks.replaceChildren(make("li", "form-error", messageFor(error, "Les numéros n'ont pas pu être chargés :")));
  }
}

function openWaitlist() {
  const admin = isAdmin();
  show(w.notify, admin);
  show(w.callbacksSection, admin);
  show(w.confirm, false);
  setError(w.notifyError, "");
  w.callbacks.replaceChildren();
  pending = null;
  if (!w.panel.open) w.panel.showModal();
  loadEntries();
  wasRunning = false;
  startTicking();
}

export function bindWaitlist() {
  w.open.addEventListener("click", openWaitlist);
  w.close.addEventListener("click", () => w.panel.close());
  w.panel.addEventListener("close", stopTicking);
  w.filters.addEventListener("submit", (event) => event.preventDefault());
  for (const input of [w.reason, w.channel, w.told]) input.addEventListener("change", loadEntries);
  w.department.addEventListener("input", () => {
    const value = w.department.value.trim();
    if (value === "" || value.length >= 2) loadEntries();
  });
  w.preview.addEventListener("click", previewBroadcast);
  w.send.addEventListener("click", sendBroadcast);
  w.cancel.addEventListener("click", () => {
    pending = null;
    show(w.confirm, false);
  });
  w.callbacksShow.addEventListener("click", showCallbacks);
}
