/* Announcements to members (issue 16): network staff and admins write a message, choose every
   member or some departments, preview it (how many members by channel, and the text exactly as
   they will read it), confirm, then follow it: sent, in the outbox, failed, unreachable,
   remaining — read again every second while one is running — and, for one announcement, each
   member's delivery (name, departments, channel, state, time; never a phone number). */

import { api, ApiError, messageFor } from "./api.js";
import { make, setError, show } from "./dom.js";
import { shortTime } from "./format.js";

const PROGRESS_MS = 1000;
const MAX_TEXT = 3500;
const CHANNELS = { telegram: "Telegram", whatsapp: "WhatsApp", unreachable: "injoignables" };
const STATES = { running: "en cours", done: "terminé", cancelled: "arrêtée" };
const DELIVERY = {
  pending: "à envoyer",
  queued: "en file",
  sent: "envoyé",
  failed: "échec",
  unreachable: "injoignable",
};
const ERRORS = { unlinked: "sans lien", inactive: "inactif", cancelled: "annonce arrêtée" };

function $(id) {
  return document.getElementById(id);
}

const a = {
  panel: $("announcements-panel"),
  open: $("announcements-open"),
  close: $("announcements-close"),
  form: $("announcements-form"),
  text: $("announcements-text"),
  count: $("announcements-count"),
  all: $("announcements-all"),
  some: $("announcements-some"),
  departments: $("announcements-departments"),
  confirm: $("announcements-confirm"),
  counts: $("announcements-preview-counts"),
  message: $("announcements-preview-message"),
  send: $("announcements-send"),
  back: $("announcements-back"),
  error: $("announcements-error"),
  list: $("announcements-list"),
  empty: $("announcements-empty"),
  detail: $("announcements-detail"),
  deliveries: $("announcements-deliveries"),
};

let timer = null;
let ticking = 0; // the current refresh loop (a new one stops the previous)
let pending = null; // the announcement previewed, waiting for confirmation
let shown = null; // the announcement whose deliveries are shown

/** What the form says: the text and the departments (null: every member). */
function composed() {
  const body = { text: a.text.value };
  if (a.some.checked) {
    body.departments = a.departments.value
      .split(/[\s,;]+/)
      .map((d) => d.trim().toUpperCase())
      .filter(Boolean);
  }
  return body;
}

function countText() {
  const n = a.text.value.trim().length;
  a.count.textContent = `${n} / ${MAX_TEXT}`;
  a.count.classList.toggle("over", n > MAX_TEXT);
}

function plural(n, word) {
  return `${n} ${word}${n > 1 ? "s" : ""}`;
}

function channelsText(channels) {
  return Object.entries(channels || {})
    .map(([channel, n]) => `${CHANNELS[channel] || channel} ${n}`)
    .join(", ");
}

async function preview(event) {
  event.preventDefault();
  setError(a.error, "");
  show(a.confirm, false);
  const body = composed();
  try {
    const data = await api("POST", "/announcements/preview", { body });
    if (!data.total) {
      setError(a.error, "Aucun membre dans ces départements.");
      return;
    }
    pending = body;
    const where = data.departments ? `départements ${data.departments.join(", ")}` : "tous les membres";
    const template = data.whatsapp_template
      ? ` Dont WhatsApp hors fenêtre de 24 h (envoyé comme modèle approuvé) : ${data.whatsapp_template}.`
      : "";
    a.counts.textContent = `${plural(data.total, "membre")} (${where}) : ${channelsText(data.channels)}.${template}`;
    a.message.textContent = data.message;
    show(a.confirm, true);
    a.send.focus();
  } catch (error) {
    setError(a.error, messageFor(error, "L'aperçu a échoué :"));
  }
}

async function send() {
  if (!pending) return;
  const body = pending;
  pending = null;
  a.send.disabled = true;
  try {
    const data = await api("POST", "/announcements", { body });
    show(a.confirm, false);
    a.text.value = "";
    countText();
    shown = data.public_id;
    startTicking();
  } catch (error) {
    setError(a.error, messageFor(error, "L'annonce n'a pas pu partir :"));
  } finally {
    a.send.disabled = false;
  }
}

function progressText(n) {
  const parts = [`envoyés ${n.sent}`, `en file ${n.queued}`, `échecs ${n.failed}`, `injoignables ${n.unreachable}`];
  parts.push(`restants ${n.remaining}`);
  return `${parts.join(", ")} sur ${n.total}`;
}

function renderList(list) {
  a.list.replaceChildren(
    ...list.map((n) => {
      const item = make("li", "announcements-item");
      item.dataset.testid = "announcements-item";
      item.dataset.status = n.status;
      const where = n.departments ? `départements ${n.departments.join(", ")}` : "tous les membres";
      item.append(
        make("span", "announcements-head", `${shortTime(n.created_at)} · ${where} · par ${n.created_by}`),
        make("span", `announcements-state ${n.status}`, STATES[n.status] || n.status),
        make("span", "announcements-excerpt", n.text.length > 140 ? `${n.text.slice(0, 140)}…` : n.text),
        make("span", "announcements-counts", progressText(n)),
      );
      item.lastChild.dataset.testid = "announcements-counts";
      const bar = make("progress", "announcements-bar");
      bar.max = Math.max(n.total, 1);
      bar.value = n.total - n.remaining;
      item.append(bar);
      const actions = make("span", "announcements-actions");
      const details = make("button", "btn ghost small", "Détail par membre");
      details.type = "button";
      details.dataset.testid = "announcements-details";
      details.addEventListener("click", () => {
        shown = n.public_id;
        loadDetail();
      });
      actions.append(details);
      if (n.status === "running") {
        const stop = make("button", "btn danger small", "Arrêter");
        stop.type = "button";
        stop.dataset.testid = "announcements-cancel";
        stop.addEventListener("click", () => cancel(n.public_id, stop));
        actions.append(stop);
      }
      item.append(actions);
      return item;
    }),
  );
  show(a.empty, list.length === 0);
}

async function loadList() {
  try {
    const data = await api("GET", "/announcements");
    const list = Array.isArray(data.announcements) ? data.announcements : [];
    renderList(list);
    return list.some((n) => n.status === "running");
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return false;
    return true; // a hiccup: try again at the next tick
  }
}

async function loadDetail() {
  if (!shown) {
    show(a.detail, false);
    return;
  }
  try {
    const data = await api("GET", `/announcements/${encodeURIComponent(shown)}`);
    const rows = Array.isArray(data.deliveries) ? data.deliveries : [];
    a.deliveries.replaceChildren(
      ...rows.map((d) => {
        const row = make("tr", "announcements-delivery");
        row.dataset.testid = "announcements-delivery";
        row.dataset.status = d.status;
        const state = DELIVERY[d.status] || d.status;
        const why = d.error ? ` (${ERRORS[d.error] || d.error})` : "";
        row.append(
          make("td", null, d.name),
          make("td", null, (d.departments || []).join(", ") || "—"),
          make("td", null, d.channel ? CHANNELS[d.channel] || d.channel : "—"),
          make("td", `announcements-delivery-state ${d.status}`, `${state}${why}`),
          make("td", null, shortTime(d.at)),
        );
        return row;
      }),
    );
    show(a.detail, true);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      shown = null;
      show(a.detail, false);
    }
  }
}

async function cancel(publicId, button) {
  setError(a.error, "");
  button.disabled = true;
  try {
    await api("POST", `/announcements/${encodeURIComponent(publicId)}/cancel`);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 409)) {
      setError(a.error, messageFor(error, "L'arrêt de l'annonce a échoué :"));
    }
  }
  await refresh();
}

async function refresh() {
  const running = await loadList();
  await loadDetail();
  return running;
}

async function tick(generation) {
  timer = null;
  if (!a.panel.open || generation !== ticking) return;
  const running = await refresh();
  if (generation !== ticking || !a.panel.open) return;
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

function openAnnouncements() {
  show(a.confirm, false);
  setError(a.error, "");
  pending = null;
  countText();
  if (!a.panel.open) a.panel.showModal();
  startTicking();
}

export function bindAnnouncements() {
  a.open.addEventListener("click", openAnnouncements);
  a.close.addEventListener("click", () => a.panel.close());
  a.panel.addEventListener("close", stopTicking);
  a.form.addEventListener("submit", preview);
  a.text.addEventListener("input", () => {
    countText();
    pending = null;
    show(a.confirm, false);
  });
  for (const radio of [a.all, a.some]) {
    radio.addEventListener("change", () => {
      a.departments.disabled = !a.some.checked;
      if (a.some.checked) a.departments.focus();
      pending = null;
      show(a.confirm, false);
    });
  }
  a.departments.addEventListener("input", () => {
    pending = null;
    show(a.confirm, false);
  });
  a.send.addEventListener("click", send);
  a.back.addEventListener("click", () => {
    pending = null;
    show(a.confirm, false);
    a.text.focus();
  });
}
