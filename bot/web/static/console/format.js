/* How values are shown: dates, durations, phone numbers, slots, channels and labels, in French. */

import { make } from "./dom.js";
import { CHANNEL, NEED, STATUS } from "./words.js";

/** Only same-origin paths are used as src/href for files served by the API. */
export function sameOriginUrl(value) {
  if (typeof value !== "string" || value === "") return null;
  try {
    const url = new URL(value, window.location.origin);
    return url.origin === window.location.origin ? url.href : null;
  } catch (_) {
    return null;
  }
}

/** External links (tracking) must be http(s). */
export function webUrl(value) {
  if (typeof value !== "string" || value === "") return null;
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch (_) {
    return null;
  }
}

const timeFormat = new Intl.DateTimeFormat("fr-FR", { hour: "2-digit", minute: "2-digit" });
export const dayTimeFormat = new Intl.DateTimeFormat("fr-FR", {
  day: "2-digit",
  month: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
});
const fullFormat = new Intl.DateTimeFormat("fr-FR", { dateStyle: "long", timeStyle: "short" });
const dateFormat = new Intl.DateTimeFormat("fr-FR", { weekday: "long", day: "numeric", month: "long" });
const dayFormat = new Intl.DateTimeFormat("fr-FR", { day: "numeric", month: "short", year: "numeric" });

function parseDate(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "14:32" today, "03/12 14:32" otherwise. */
export function shortTime(value) {
  const d = parseDate(value);
  if (!d) return "";
  const today = new Date();
  return d.toDateString() === today.toDateString() ? timeFormat.format(d) : dayTimeFormat.format(d);
}

export function longTime(value) {
  const d = parseDate(value);
  return d ? fullFormat.format(d) : "";
}

/** A waiting time in seconds, as an operator reads it: "< 1 min", "12 min", "2 h 05", "3 j 4 h". */
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return "< 1 min";
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${String(m % 60).padStart(2, "0")}`;
  const d = Math.floor(h / 24);
  return `${d} j ${h % 24} h`;
}

export function needLabel(c) {
  if (c.need && NEED[c.need]) return NEED[c.need];
  if (c.need) return String(c.need);
  return c.kind === "advisor" ? "Demande de conseiller" : NEED.other;
}

export function urgentLabel(urgent) {
  if (urgent === true) return "Urgent";
  if (urgent === false) return "Non urgent";
  return "";
}

/** The backend sends the slot as text; "2024-12-03 am" style values are made readable. */
export function slotLabel(slot) {
  if (!slot) return "";
  const m = /^(\d{4}-\d{2}-\d{2})[ T]?(am|pm)?$/.exec(String(slot).trim());
  if (!m) return String(slot);
  const d = parseDate(`${m[1]}T12:00:00`);
  if (!d) return String(slot);
  const part = m[2] === "am" ? " matin" : m[2] === "pm" ? " après-midi" : "";
  return `${dateFormat.format(d)}${part}`;
}

/** A dispatched visit is with the opticians, not in the post. */
export function statusLabel(c) {
  if (c.status === "dispatched" && c.mode === "visit") return "Envoyé aux opticiens";
  return STATUS[c.status] || String(c.status || "");
}

/** A French number in E.164 (+33612345678), or null: national numbers are dialled as such. */
function frenchE164(phone) {
  const raw = String(phone).replace(/[\s.\-()]/g, "");
  if (/^\+33[1-9]\d{8}$/.test(raw)) return raw;
  if (/^0033[1-9]\d{8}$/.test(raw)) return `+${raw.slice(2)}`;
  if (/^0[1-9]\d{8}$/.test(raw)) return `+33${raw.slice(1)}`;
  return null;
}

/** "+33612345678" → "06 12 34 56 78"; other countries' numbers are shown as they are. */
function phoneLabel(phone) {
  const e164 = frenchE164(phone);
  if (!e164) return String(phone);
  return `0${e164.slice(3)}`.replace(/(\d{2})(?=\d)/g, "$1 ");
}

/** The number as the French read it; the link dials it in E.164. */
export function phoneLink(phone, className) {
  const a = make("a", className || "phone", phoneLabel(phone));
  const e164 = frenchE164(phone);
  a.href = `tel:${e164 || String(phone).replace(/[^0-9+]/g, "")}`;
  if (e164 || a.textContent !== String(phone)) a.title = `Appeler le ${e164 || phone}`;
  return a;
}

/** "YYYY-MM-DD" (a calendar day, no time zone) as "12 janv. 2030". */
export function dayLabel(value) {
  if (typeof value !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return "";
  const d = parseDate(`${value}T12:00:00`);
  return d ? dayFormat.format(d) : value;
}

/** 897 → "14 min 57 s", 600 → "10 min", 42 → "42 s". */
export function minutesSeconds(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  const m = Math.floor(s / 60);
  if (m === 0) return `${s} s`;
  return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
}

export function channelPill(channel) {
  const known = Object.prototype.hasOwnProperty.call(CHANNEL, channel);
  const pill = make("span", `channel ch-${known ? channel : "other"}`);
  const icon = document.createElement("img");
  icon.className = "channel-icon";
  icon.src = `/static/console/ch-${known ? channel : "other"}.svg`;
  icon.alt = "";
  icon.width = 16;
  icon.height = 16;
  pill.append(icon, make("span", "channel-name", known ? CHANNEL[channel] : String(channel || "?")));
  return pill;
}
