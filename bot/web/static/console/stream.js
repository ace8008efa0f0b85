/* The live stream (SSE): `ready` and the catch-up it calls for, the events, the traffic line, and
 * reconnecting with a backoff after checking the session. */

import { API, api, ApiError } from "./api.js";
import { current, scheduleCase } from "./case.js";
import { el, setError } from "./dom.js";
import { sessionLost } from "./login.js";
import { isQueueLoaded, scheduleQueue } from "./queue.js";
import { servesClients, session } from "./session.js";
import { clientWroteToast } from "./toasts.js";
import { onLiveMessage } from "./transcript.js";

let liveSource = null; // the EventSource
let sourceCase = null; // the case it was opened for
let sourceRetry = 0;
let sourceTimer = 0;

/** The stream is connected: events bring what changes. */
export function isLive() {
  return Boolean(liveSource && liveSource.readyState === EventSource.OPEN);
}

function setBanner(text) {
  setError(el.banner, text);
}

function setLive(status) {
  el.live.dataset.state = status;
  el.liveText.textContent = { live: "En direct", connecting: "Connexion…", offline: "Hors ligne, reconnexion…" }[status] || "";
}

function parseData(event) {
  try {
    return JSON.parse(event.data || "{}");
  } catch (_) {
    return null;
  }
}

/** A discreet line: what the limits refused, and what was set aside, in the last hour. */
function renderTraffic(traffic) {
  if (!traffic || typeof traffic !== "object") return;
  const refused = traffic.refused || {};
  const count = (n) => (Number.isInteger(n) && n > 0 ? n : 0);
  const plural = (n, word) => `${n} ${word}${n > 1 ? "s" : ""}`;
  const parts = [];
  if (count(refused.webchat)) parts.push(`${plural(count(refused.webchat), "requête")} (web chat)`);
  if (count(refused.login)) parts.push(`${plural(count(refused.login), "connexion")} (console)`);
  const texts = [];
  if (parts.length) texts.push(`Trafic refusé : ${parts.join(", ")} depuis 1 h`);
  const aside = count(traffic.set_aside);
  if (aside) texts.push(`${plural(aside, "message")} mis de côté depuis 1 h`);
  el.traffic.textContent = texts.join(" · ");
  el.traffic.hidden = texts.length === 0;
}

export function startLive() {
  stopLive();
  if (!session.me) return;
  const caseId = current.caseId;
  const url = caseId ? `${API}/events?case=${encodeURIComponent(caseId)}` : `${API}/events`;
  const source = new EventSource(url, { withCredentials: true });
  liveSource = source;
  sourceCase = caseId;
  setLive("connecting");
  let opened = false;
  source.addEventListener("open", () => {
    if (source !== liveSource) return;
    sourceRetry = 0;
    setLive("live");
    setBanner("");
    // A new stream sends `traffic` only when there is some: an old line would stay for ever.
    el.traffic.hidden = true;
  });
  // The server has taken its starting point: every change from now on will be told. Catch up
  // once on what happened before it (while disconnected, or between the case's fetch and now).
  source.addEventListener("ready", () => {
    if (source !== liveSource) return;
    if (servesClients() && (opened || isQueueLoaded())) scheduleQueue();
    if (servesClients() && current.caseId) scheduleCase();
    if (opened) document.dispatchEvent(new Event("optibot:member-requests"));
    opened = true;
  });
  source.addEventListener("queue", () => {
    if (source === liveSource) scheduleQueue();
  });
  // The members' desk (issue 16; members.js): the Réseau queue or a request's thread changed.
  source.addEventListener("member_requests", () => {
    if (source === liveSource) document.dispatchEvent(new Event("optibot:member-requests"));
  });
  source.addEventListener("message", (event) => {
    if (source !== liveSource || sourceCase !== current.caseId) return;
    onLiveMessage(parseData(event));
  });
  source.addEventListener("client_wrote", (event) => {
    if (source !== liveSource) return;
    const news = parseData(event);
    if (news && typeof news.id === "string") clientWroteToast(news);
  });
  source.addEventListener("case", () => {
    if (source === liveSource && current.caseId && sourceCase === current.caseId) scheduleCase();
  });
  source.addEventListener("traffic", (event) => {
    if (source === liveSource) renderTraffic(parseData(event));
  });
  source.addEventListener("error", () => {
    if (source !== liveSource) return;
    setLive("offline");
    if (source.readyState === EventSource.CLOSED) {
      // The browser gave up (HTTP error such as 401): check the session, then retry ourselves.
      reconnectLater();
    }
  });
}

async function reconnectLater() {
  stopLive();
  setLive("offline");
  const delay = Math.min(30000, 1000 * 2 ** sourceRetry);
  sourceRetry += 1;
  window.clearTimeout(sourceTimer);
  sourceTimer = window.setTimeout(async () => {
    if (!session.me) return;
    try {
      const me = await api("GET", "/me");
      session.csrf = me.csrf;
      startLive();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) sessionLost();
      else reconnectLater();
    }
  }, delay);
}

export function stopLive() {
  window.clearTimeout(sourceTimer);
  if (liveSource) {
    liveSource.close();
    liveSource = null;
  }
}

export function restartLive() {
  if (!session.me) return;
  if (liveSource && sourceCase === current.caseId) return;
  startLive();
}
