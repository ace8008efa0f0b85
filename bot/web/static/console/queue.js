/* The queue: the cases as last fetched, their rows, and the waiting times that follow the clock. */

import { api, ApiError, messageFor } from "./api.js";
import { current } from "./case.js";
import { refreshCaseTimes } from "./case-view.js";
import { badge, el, make, setError, show } from "./dom.js";
import { queueQuery, saveFilters } from "./filters.js";
import { channelPill, duration, needLabel, shortTime, statusLabel, urgentLabel } from "./format.js";
import { isMe, session } from "./session.js";
import { isLive } from "./stream.js";
import { MODE } from "./words.js";

const QUEUE_DEBOUNCE_MS = 200;
const PAGE = 100; // cases per page; a refetch asks again for as many as are shown (up to MAX_PAGE)
const MAX_PAGE = 500;

let cases = []; // CaseSummary[] as last fetched
let nextCursor = null; // the page after the shown ones (the API's "next"), null at the end
let opened = PAGE; // how many cases the operator has paged to (a refetch asks for as many)
let moreAbort = null;
let fetchedAt = 0; // performance.now() of that fetch: waiting_s + elapsed = waiting time
let overdueAfter = null; // overdue_after_s
let queueTimer = 0;
let queueAbort = null;
let queueLoaded = false;
let departmentTimer = 0;

export function isQueueLoaded() {
  return queueLoaded;
}

/** The open case's line in the queue, if the queue shows it. */
export function summaryOf(id) {
  return cases.find((c) => c.id === id);
}

/** Signed out: the queue is forgotten and nothing more is fetched. */
export function resetQueue() {
  cases = [];
  nextCursor = null;
  opened = PAGE;
  queueLoaded = false;
  if (queueAbort) queueAbort.abort();
  if (moreAbort) moreAbort.abort();
  window.clearTimeout(queueTimer);
  el.queue.replaceChildren();
}

function onFiltersChanged(event) {
  saveFilters();
  opened = PAGE; // other filters: the first page again
  if (event && event.target === el.filterDepartment) {
    window.clearTimeout(departmentTimer);
    departmentTimer = window.setTimeout(fetchQueue, 350);
    return;
  }
  fetchQueue();
}

export function scheduleQueue() {
  window.clearTimeout(queueTimer);
  queueTimer = window.setTimeout(fetchQueue, QUEUE_DEBOUNCE_MS);
}

export async function fetchQueue() {
  window.clearTimeout(queueTimer);
  if (!session.me) return;
  if (queueAbort) queueAbort.abort();
  if (moreAbort) moreAbort.abort();
  const abort = new AbortController();
  queueAbort = abort;
  // As many cases as are shown, from the start: a refresh keeps the pages the operator opened.
  const limit = Math.min(MAX_PAGE, Math.max(PAGE, opened));
  try {
    const data = await api("GET", `/cases${queueQuery({ limit })}`, { signal: abort.signal });
    if (abort !== queueAbort) return;
    queueAbort = null;
    cases = Array.isArray(data.cases) ? data.cases : [];
    nextCursor = data.next || null;
    overdueAfter = Number(data.overdue_after_s) || null;
    fetchedAt = performance.now();
    queueLoaded = true;
    setError(el.queueError, "");
    renderQueue();
  } catch (error) {
    if (error && error.name === "AbortError") return;
    if (abort === queueAbort) queueAbort = null;
    if (error instanceof ApiError && error.status === 401) return;
    setError(el.queueError, messageFor(error, "La file n'a pas pu être chargée."));
    // Try again a little later; a queue event will also trigger a refetch.
    window.clearTimeout(queueTimer);
    queueTimer = window.setTimeout(fetchQueue, 5000);
  }
}

/** The next page, after the last case shown (its cursor): appended, a case already shown skipped. */
async function fetchMore() {
  if (!nextCursor || !session.me || moreAbort) return;
  const abort = new AbortController();
  moreAbort = abort;
  try {
    const data = await api("GET", `/cases${queueQuery({ limit: PAGE, after: nextCursor })}`, { signal: abort.signal });
    if (abort !== moreAbort) return;
    const shown = new Set(cases.map((c) => c.id));
    cases = cases.concat((Array.isArray(data.cases) ? data.cases : []).filter((c) => !shown.has(c.id)));
    nextCursor = data.next || null;
    opened = cases.length;
    renderQueue();
  } catch (error) {
    if (error && error.name === "AbortError") return;
    if (error instanceof ApiError && error.status === 401) return;
    setError(el.queueError, messageFor(error, "La suite de la file n'a pas pu être chargée."));
  } finally {
    if (abort === moreAbort) moreAbort = null;
  }
}

/** Seconds the case has waited, now: the server's figure plus what elapsed since the fetch. */
export function waitingNow(c) {
  const base = Number(c.waiting_s) || 0;
  return base + (performance.now() - fetchedAt) / 1000;
}

export function isOverdue(c) {
  if (c.overdue) return true;
  // Between two fetches the threshold may be crossed: follow it client-side too.
  return Boolean(
    c.mobilised && c.status === "queued" && overdueAfter && waitingNow(c) >= overdueAfter,
  );
}

function queueRow(c) {
  const li = make("li", "queue-item");
  const a = make("a", "queue-row");
  a.href = `#case=${encodeURIComponent(c.id)}`;
  a.dataset.testid = "queue-row";
  a.dataset.caseId = c.id;
  a.dataset.reference = c.reference || "";
  a.dataset.status = c.status || "";
  const overdue = isOverdue(c);
  const noTaker = Boolean(c.no_taker);
  a.classList.toggle("overdue", overdue);
  a.classList.toggle("no-taker", noTaker);
  a.dataset.noTaker = String(noTaker);
  a.classList.toggle("mobilised", Boolean(c.mobilised));
  a.classList.toggle("selected", c.id === current.caseId);
  if (c.id === current.caseId) a.setAttribute("aria-current", "true");

  const top = make("span", "row-top");
  top.append(make("span", "row-ref", c.reference || "—"));
  if (noTaker) {
    const alarm = badge("⚠ Aucun opticien", "no-taker");
    alarm.dataset.testid = "no-taker-badge";
    alarm.title = "Visite sans opticien : élargir ou passer en envoi";
    top.append(alarm);
  }
  if (c.client_wrote_at) {
    const wrote = badge("Le client a écrit", "client-wrote");
    wrote.dataset.testid = "client-wrote-badge";
    wrote.title = `Message du client ${shortTime(c.client_wrote_at)}, sans réponse d'un conseiller depuis`;
    top.append(wrote);
  }
  if (c.reopened_at && c.status === "queued") {
    const reopened = badge("Rouvert", "reopened");
    reopened.title = `Rouvert par le client ${shortTime(c.reopened_at)}`;
    top.append(reopened);
  }
  if (c.anonymised) top.append(badge("Anonymisé", "anonymised"));
  if (c.mobilised) top.append(badge("Prioritaire", "priority"));
  if (overdue) top.append(badge("En retard", "overdue"));
  if (c.reachable === false) top.append(badge("Injoignable", "unreachable"));
  const wait = make("span", "row-wait", duration(waitingNow(c)));
  wait.dataset.role = "waiting";
  wait.title = c.status === "queued" ? "Temps d'attente depuis la création" : "Créé il y a";
  top.append(wait);

  const mid = make("span", "row-mid");
  mid.append(make("span", "row-need", needLabel(c)));
  const urgent = urgentLabel(c.urgent);
  if (urgent) mid.append(make("span", `row-urgent ${c.urgent ? "yes" : "no"}`, urgent));
  if (c.mode) mid.append(make("span", "row-mode", MODE[c.mode] || String(c.mode)));
  if (c.department) mid.append(make("span", "row-dept", `Dép. ${c.department}`));

  const bottom = make("span", "row-bottom");
  bottom.append(channelPill(c.channel));
  bottom.append(make("span", `row-status s-${c.status}`, statusLabel(c)));
  if (c.claimed_by) {
    const mine = isMe(c.claimed_by);
    // A queued case with a name is one the client reopened: who held it last.
    const who = mine ? "moi" : c.claimed_by;
    const text = c.status === "queued" ? `dernier conseiller : ${who}` : mine ? "pris par moi" : `pris par ${c.claimed_by}`;
    bottom.append(make("span", `row-claimed${mine ? " mine" : ""}`, text));
  }

  a.append(top, mid, bottom);
  li.append(a);
  return li;
}

function renderQueue() {
  const hadFocus = el.queue.contains(document.activeElement) ? document.activeElement.dataset.caseId : null;
  const rows = cases.map(queueRow);
  el.queue.replaceChildren(...rows);
  show(el.queueEmpty, queueLoaded && rows.length === 0);
  show(el.queueMore, Boolean(nextCursor));
  const queued = cases.filter((c) => c.status === "queued").length;
  const overdue = cases.filter(isOverdue).length;
  const noTaker = cases.filter((c) => c.no_taker).length;
  let count = nextCursor ? `${cases.length}+ cas` : `${cases.length} cas`;
  if (queued) count += ` · ${queued} en attente`;
  if (overdue) count += ` · ${overdue} en retard`;
  if (noTaker) count += ` · ${noTaker} sans opticien`;
  el.queueCount.textContent = count;
  el.queueCount.classList.toggle("alert", overdue > 0 || noTaker > 0);
  document.title = queued ? `(${queued}) Console optibot` : "Console optibot";
  if (hadFocus) {
    const again = rowOf(hadFocus);
    if (again) again.focus({ preventScroll: true });
  }
}

/** Keep the open case's row in step at once (status, claimed by), before the queue event arrives. */
export function mergeDetail(detail) {
  const i = cases.findIndex((c) => c.id === detail.id);
  if (i >= 0) {
    const merged = { ...cases[i] };
    for (const key of Object.keys(merged)) if (key in detail && key !== "waiting_s") merged[key] = detail[key];
    cases[i] = merged;
    renderQueue();
  }
}

/** Every 30 s: waiting times and the overdue highlight follow the clock without a refetch. */
export function refreshTimes() {
  if (!queueLoaded) return;
  // Without the live stream, poll: nothing else would bring new cases.
  if (!isLive()) fetchQueue();
  renderQueue();
  refreshCaseTimes();
}

export function rowOf(id) {
  return el.queue.querySelector(`a[data-case-id="${CSS.escape(id)}"]`);
}

/** The open case's row is marked (selected, aria-current), and only it. */
export function markOpen(id) {
  for (const row of el.queue.querySelectorAll(".queue-row")) {
    const on = row.dataset.caseId === id;
    row.classList.toggle("selected", on);
    if (on) row.setAttribute("aria-current", "true");
    else row.removeAttribute("aria-current");
  }
}

export function unmarkOpen() {
  for (const row of el.queue.querySelectorAll(".queue-row.selected")) {
    row.classList.remove("selected");
    row.removeAttribute("aria-current");
  }
}

export function bindQueue() {
  el.filters.addEventListener("change", onFiltersChanged);
  el.filterDepartment.addEventListener("input", onFiltersChanged);
  el.queueMore.addEventListener("click", fetchMore);
  el.filters.addEventListener("submit", (event) => {
    event.preventDefault();
    fetchQueue();
  });
}
