/* optibot web chat — plain ES2020, no framework, no build step.
 *
 * Rules this file keeps on purpose:
 * - Server and user text is only ever put in the page with textContent (never innerHTML), so a
 *   message can never inject markup. Newlines are kept by CSS (white-space: pre-wrap).
 * - No inline handlers or styles anywhere, so the page works under a strict Content-Security-Policy.
 * - Every word on the page comes from GET /api/chat/texts.
 */
"use strict";

(() => {
  const API = "/api/chat";
  const LANGS = ["fr", "en"];
  const STORAGE_KEY = "optibot.lang";
  const MAX_FILE_BYTES = 10 * 1024 * 1024;
  const FILE_TYPES = ["image/jpeg", "image/png", "application/pdf"];
  const RETRY_DELAYS_MS = [1000, 2500, 5000]; // up to 3 retries after the first attempt
  const TYPING_TIMEOUT_MS = 60000; // never leave the "…" forever if no reply ever comes
  // When the bot's latest message asks nothing (hand-off to an advisor, request cancelled), the
  // bot may stay silent on purpose: a short "…" only, or the client would wait for nothing.
  const TYPING_IDLE_TIMEOUT_MS = 3000;
  const LANGUAGE_CHECK_MS = 400; // after live replies, ask the server which language the bot speaks
  const NOTICE_MS = 10000;
  // The chat command that makes the bot itself change language (agreed API contract).
  const languageCommand = (lang) => `langue ${lang}`;

  const $ = (id) => document.getElementById(id);
  const el = {
    title: $("title"),
    lang: $("lang"),
    scroller: $("scroller"),
    messages: $("messages"),
    typing: $("typing"),
    announce: $("announce"),
    status: $("status"),
    composer: $("composer"),
    file: $("file"),
    attach: $("attach"),
    attachLabel: $("attach-label"),
    text: $("text"),
    textLabel: $("text-label"),
    send: $("send"),
    sendLabel: $("send-label"),
  };

  const state = {
    lang: initialLanguage(),
    texts: null, // words of the page, from the server
    started: false, // true once the transcript holds a real message (history or sent here)
    cursor: 0, // last reply id received on the event stream
    seen: new Set(), // reply ids already shown (the stream may repeat after a reconnect)
    source: null, // the EventSource
    reopenTimer: 0,
    offline: false,
    notice: null, // key of a transient error text shown in #status
    noticeTimer: 0,
    typingTimer: 0,
    queue: Promise.resolve(), // sends go one at a time so the server gets them in order
    ready: false, // history and texts loaded: sending before would misplace the intro hint
    stick: true, // the reader is at the bottom of the transcript: keep them there on resize
    awaiting: true, // the bot's latest message waits for an answer (false after a hand-off)
    langGeneration: 0, // bumped by every language change made here: older server answers lose
    langCheckTimer: 0,
  };

  /* ---------------------------------------------------------------- language & texts ---- */

  function initialLanguage() {
    const fromUrl = new URLSearchParams(window.location.search).get("lang");
    if (LANGS.includes(fromUrl)) return fromUrl;
    try {
      const stored = window.localStorage.getItem(STORAGE_KEY);
      if (LANGS.includes(stored)) return stored;
    } catch (_) {
      /* storage may be blocked (private mode): the default is fine */
    }
    return "fr";
  }

  function rememberLanguage(lang) {
    try {
      window.localStorage.setItem(STORAGE_KEY, lang);
    } catch (_) {
      /* not fatal */
    }
    // Keep an explicit ?lang= in the address in step, or a reload would undo the toggle.
    const url = new URL(window.location.href);
    if (url.searchParams.has("lang")) {
      url.searchParams.set("lang", lang);
      window.history.replaceState(null, "", url.toString());
    }
  }

  async function loadTexts(lang) {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch(`${API}/texts?lang=${encodeURIComponent(lang)}`, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        if (res.ok) return await res.json();
      } catch (_) {
        /* retried below */
      }
      await sleep(Math.min(1000 * 2 ** attempt, 10000));
    }
  }

  function t(key) {
    return (state.texts && typeof state.texts[key] === "string") ? state.texts[key] : "";
  }

  function applyTexts() {
    document.documentElement.lang = state.lang;
    document.title = t("title");
    el.title.textContent = t("title");
    el.lang.textContent = t("language");
    el.lang.lang = state.lang === "fr" ? "en" : "fr"; // the label is the other language's name
    el.lang.disabled = false;
    el.text.placeholder = t("placeholder");
    el.textLabel.textContent = t("placeholder");
    el.sendLabel.textContent = t("send");
    el.send.title = t("send");
    el.attachLabel.textContent = t("attach");
    el.attach.title = t("attach");
    const intro = document.getElementById("intro");
    if (intro) intro.querySelector(".msg-text").textContent = t("intro");
    for (const who of el.messages.querySelectorAll(".who")) who.textContent = speaker(who.dataset.who);
    for (const retry of el.messages.querySelectorAll(".retry")) {
      retry.setAttribute("aria-label", t("send"));
      retry.title = t("send");
    }
    renderStatus();
  }

  /** Loads the words of `lang` and shows them; returns false if overtaken by a newer change. */
  async function setLanguage(lang) {
    const generation = ++state.langGeneration;
    if (lang === state.lang) return true;
    const texts = await loadTexts(lang);
    if (generation !== state.langGeneration) return false;
    state.lang = lang;
    state.texts = texts;
    rememberLanguage(lang);
    applyTexts();
    return true;
  }

  async function toggleLanguage() {
    const next = state.lang === "fr" ? "en" : "fr";
    el.lang.disabled = true;
    const applied = await setLanguage(next);
    el.lang.disabled = false;
    if (!applied) return;
    // Once a conversation exists the bot has its own language: ask it to switch as well.
    // Before that, the page language simply travels with the first message ("lang").
    if (state.started) sendText(languageCommand(next));
    el.lang.focus();
  }

  /**
   * The bot changes language when the client types "english" or "langue fr": the page's words
   * follow. The event stream does not say which language the bot speaks, the history does.
   */
  function scheduleLanguageCheck() {
    window.clearTimeout(state.langCheckTimer);
    state.langCheckTimer = window.setTimeout(async () => {
      const generation = state.langGeneration;
      try {
        const res = await fetch(`${API}/history`, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
          cache: "no-store",
        });
        if (!res.ok) return;
        const body = await res.json();
        // A toggle pressed meanwhile wins: its "langue xx" reply will bring another check.
        if (generation === state.langGeneration && LANGS.includes(body.language)) {
          await setLanguage(body.language);
        }
      } catch (_) {
        /* not fatal: the next reply checks again */
      }
    }, LANGUAGE_CHECK_MS);
  }

  /* ---------------------------------------------------------------- rendering ---- */

  /** "Vous :" / "You:" — read by screen readers before each bubble. */
  function speaker(key) {
    return state.lang === "fr" ? `${t(key)} :` : `${t(key)}:`;
  }

  function atBottom() {
    el.scroller.scrollTop = el.scroller.scrollHeight;
    state.stick = true;
  }

  function nearBottom() {
    return el.scroller.scrollHeight - el.scroller.scrollTop - el.scroller.clientHeight < 40;
  }

  /** One row of the transcript: a hidden "who" prefix for screen readers, then the bubble. */
  function addRow(kind, text, extraClass) {
    const row = document.createElement("div");
    row.className = `row ${kind}`;
    const who = document.createElement("span");
    who.className = "who sr-only";
    who.dataset.who = kind === "bot" ? "bot" : "you";
    who.textContent = speaker(who.dataset.who);
    const bubble = document.createElement("div");
    bubble.className = `msg ${kind}${extraClass ? ` ${extraClass}` : ""}`;
    const body = document.createElement("span");
    body.className = "msg-text";
    body.textContent = text;
    bubble.append(body);
    row.append(who, bubble);
    el.messages.append(row);
    return { row, bubble };
  }

  function showIntro() {
    const { row, bubble } = addRow("bot", t("intro"));
    row.id = "intro";
    row.classList.add("hint");
    // A hint, not a message: it must not match ".msg.bot" for tests or announcements.
    bubble.className = "bubble-hint";
  }

  /** Removes the buttons of older bot messages: only the newest question can be answered. */
  function clearChoices() {
    const groups = el.messages.querySelectorAll(".choices");
    const hadFocus = [...groups].some((g) => g.contains(document.activeElement));
    groups.forEach((g) => g.remove());
    if (hadFocus) {
      // Don't drop a keyboard user's focus on <body>; on touch screens don't pop the keyboard up.
      if (isTouch()) el.scroller.focus({ preventScroll: true });
      else el.text.focus();
    }
  }

  function addChoices(row, message) {
    if (!message.choices || message.choices.length === 0) return;
    const group = document.createElement("div");
    group.className = "choices";
    group.setAttribute("role", "group");
    if (message.step) group.dataset.step = message.step;
    for (const choice of message.choices) {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.value = choice.value;
      button.textContent = choice.label;
      group.append(button);
    }
    row.append(group);
  }

  /**
   * A file attached to a bot message (the client's data export): a download link, its name as
   * the text. The link works for a few minutes only: once its time is up (by this device's clock;
   * the server decides) it becomes plain, inert text.
   */
  function addDocument(bubble, message) {
    const doc = message.document;
    if (!doc || typeof doc.url !== "string" || !doc.url.startsWith(`${API}/documents/`)) return;
    const name = `📎 ${doc.filename || ""}`;
    const link = document.createElement("a");
    link.className = "document";
    link.href = doc.url;
    link.download = doc.filename || "";
    link.rel = "noopener";
    link.textContent = name;
    bubble.append(link);
    const expires = Date.parse(doc.expires_at);
    if (!Number.isFinite(expires)) return;
    const expire = () => {
      if (!link.isConnected) return;
      const inert = document.createElement("span");
      inert.className = "document expired";
      inert.textContent = name;
      link.replaceWith(inert);
    };
    const left = expires - Date.now();
    if (left <= 0) expire();
    else window.setTimeout(expire, Math.min(left, 2 ** 31 - 1));
  }

  /** A bot message: from history (quiet) or from the stream (announced). */
  function renderBot(message, { live }) {
    clearChoices();
    const { row, bubble } = addRow("bot", message.text || "");
    bubble.dataset.id = String(message.id);
    addDocument(bubble, message);
    addChoices(row, message);
    applyExpects(message.expects);
    state.awaiting = Boolean(message.expects || message.step || (message.choices && message.choices.length));
    if (live) announce(message.text || "");
  }

  /**
   * A client message from history: the server gives pressed buttons as their label and files as
   * "📎 name". A refused file still comes back as "[file]", and older rows as "[value]": show those
   * as the client saw them.
   */
  function renderHistoryClient(message, lastBot) {
    let text = message.text || "";
    const bracket = /^\[([^\]]+)\]$/.exec(text);
    if (bracket && bracket[1] === "file") {
      text = "📎";
    } else if (bracket && lastBot && Array.isArray(lastBot.choices)) {
      const pressed = lastBot.choices.find((c) => c.value === bracket[1]);
      if (pressed) text = pressed.label;
    }
    const { bubble } = addRow("client", text);
    bubble.dataset.id = String(message.id);
  }

  function renderHistory(messages) {
    let lastBot = null;
    for (const message of messages) {
      if (message.direction === "out") {
        renderBot(message, { live: false });
        lastBot = message;
      } else {
        renderHistoryClient(message, lastBot);
      }
      // History and event stream share one numbering: a replayed reply is not shown twice.
      const id = Number(message.id);
      if (Number.isFinite(id)) state.seen.add(id);
    }
    atBottom();
  }

  function announce(text) {
    const line = document.createElement("p");
    line.textContent = `${speaker("bot")} ${text}`;
    el.announce.append(line);
    // Keep the live region short; old lines have been read already.
    while (el.announce.childElementCount > 3) el.announce.firstElementChild.remove();
  }

  /** What the bot waits for next changes the composer: phone keypad, or a nudge to attach. */
  function applyExpects(expects) {
    const phone = expects === "phone";
    el.text.setAttribute("inputmode", phone ? "tel" : "text");
    el.text.setAttribute("autocomplete", phone ? "tel" : "off");
    el.attach.classList.toggle("prominent", expects === "photo");
    el.composer.classList.toggle("expects-photo", expects === "photo");
  }

  function showTyping() {
    el.typing.hidden = false;
    window.clearTimeout(state.typingTimer);
    state.typingTimer = window.setTimeout(hideTyping, state.awaiting ? TYPING_TIMEOUT_MS : TYPING_IDLE_TIMEOUT_MS);
    atBottom();
  }

  function hideTyping() {
    window.clearTimeout(state.typingTimer);
    el.typing.hidden = true;
  }

  /* ---------------------------------------------------------------- status line ---- */

  function renderStatus() {
    const key = state.notice || (state.offline ? "offline" : null);
    el.status.textContent = key ? t(key) : "";
    el.status.classList.toggle("error", Boolean(state.notice));
    el.status.classList.toggle("offline", !state.notice && state.offline);
  }

  function setOffline(offline) {
    if (state.offline === offline) return;
    state.offline = offline;
    renderStatus();
  }

  function clearNotice() {
    state.notice = null;
    window.clearTimeout(state.noticeTimer);
    renderStatus();
  }

  function notify(key) {
    state.notice = key;
    window.clearTimeout(state.noticeTimer);
    state.noticeTimer = window.setTimeout(() => {
      state.notice = null;
      renderStatus();
    }, NOTICE_MS);
    renderStatus();
  }

  /* ---------------------------------------------------------------- sending ---- */

  function newId() {
    // 32 hex characters. randomUUID needs a secure context (https or localhost), hence the fallback.
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID().replace(/-/g, "");
    }
    const bytes = window.crypto.getRandomValues(new Uint8Array(16));
    return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  /**
   * POSTs, retrying network failures and 5xx answers up to 3 times with backoff.
   * The caller builds the body ONCE, with one id: the server de-duplicates on that id, so when a
   * request reached the server but its answer was lost, resending the same id cannot create a
   * second message — the server just answers "duplicate". A fresh id per attempt would.
   * Resolves true when the server accepted the message (202 accepted or duplicate), false when
   * it failed, or "too_fast" when the server refused it for now (429: sending again at once would
   * only be refused again; the client sees why, and the ↻ button resends later).
   */
  async function postWithRetry(path, init, timeoutMs) {
    for (let attempt = 0; ; attempt++) {
      let retryable = true;
      const abort = new AbortController();
      const timer = window.setTimeout(() => abort.abort(), timeoutMs);
      try {
        const res = await fetch(`${API}${path}`, {
          method: "POST",
          credentials: "same-origin",
          signal: abort.signal,
          ...init,
        });
        if (res.ok) return true;
        if (res.status === 429) return "too_fast";
        retryable = res.status >= 500 || res.status === 408;
      } catch (_) {
        retryable = true; // offline, reset connection or timeout
      } finally {
        window.clearTimeout(timer);
      }
      if (!retryable || attempt >= RETRY_DELAYS_MS.length) return false;
      await sleep(RETRY_DELAYS_MS[attempt] * (0.8 + Math.random() * 0.4));
    }
  }

  /** Queues one delivery; sends run one after another so they reach the bot in order. */
  function enqueue(job) {
    state.queue = state.queue.then(job, job);
    return state.queue;
  }

  /** Shows the client's bubble at once, then delivers it; a failed bubble offers a retry. */
  function deliver(bubbleText, deliverOnce, failedKey) {
    state.started = true;
    const { bubble } = addRow("client", bubbleText, "pending");
    atBottom();
    showTyping();
    const attempt = () =>
      enqueue(async () => {
        bubble.classList.add("pending");
        bubble.classList.remove("failed");
        const ok = await deliverOnce();
        bubble.classList.remove("pending");
        if (ok === true) {
          const failed = ["send_failed", "upload_failed", "too_fast"];
          if (failed.includes(state.notice)) clearNotice();
          return true;
        }
        bubble.classList.add("failed");
        addRetry(bubble, attempt);
        hideTyping();
        notify(typeof ok === "string" ? ok : failedKey);
        return false;
      });
    return attempt();
  }

  /** A small ↻ button on a failed bubble: it resends with the SAME id (see postWithRetry). */
  function addRetry(bubble, attempt) {
    if (bubble.parentElement.querySelector(".retry")) return;
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "retry";
    retry.textContent = "↻";
    retry.setAttribute("aria-label", t("send"));
    retry.title = t("send");
    retry.addEventListener("click", () => {
      retry.remove();
      showTyping();
      attempt();
      el.text.focus();
    });
    bubble.before(retry); // beside the bubble, so the bubble's text stays the message's text
  }

  function sendText(text) {
    const body = JSON.stringify({ id: newId(), text, lang: state.lang });
    return deliver(
      text,
      () => postWithRetry("/messages", { headers: { "Content-Type": "application/json" }, body }, 15000),
      "send_failed",
    );
  }

  function sendChoice(button) {
    const group = button.closest(".choices");
    const payload = { id: newId(), choice: button.dataset.value, lang: state.lang };
    if (group && group.dataset.step) payload.step = group.dataset.step;
    const body = JSON.stringify(payload);
    // The question is answered: lock its buttons (a new question will bring new ones).
    if (group) {
      button.setAttribute("aria-pressed", "true");
      group.querySelectorAll("button").forEach((b) => (b.disabled = true));
    }
    deliver(
      button.textContent,
      () => postWithRetry("/messages", { headers: { "Content-Type": "application/json" }, body }, 15000),
      "send_failed",
    ).then((ok) => {
      if (!ok && group && group.isConnected) {
        group.querySelectorAll("button").forEach((b) => (b.disabled = false));
        button.removeAttribute("aria-pressed");
      }
    });
  }

  function sendFile(file) {
    if (file.size > MAX_FILE_BYTES || (file.type && !FILE_TYPES.includes(file.type))) {
      notify("upload_failed");
      return;
    }
    const form = new FormData();
    form.append("id", newId()); // one id for all attempts: the server de-duplicates on it
    form.append("lang", state.lang);
    form.append("file", file, file.name);
    deliver(`📎 ${file.name}`, () => postWithRetry("/files", { body: form }, 120000), "upload_failed");
  }

  function submitText() {
    const text = el.text.value;
    if (!state.ready || text.trim() === "") return;
    el.text.value = "";
    autoGrow();
    sendText(text);
    el.text.focus();
  }

  /* ---------------------------------------------------------------- composer ---- */

  function autoGrow() {
    // Grow with the content up to ~5 lines; beyond that the textarea scrolls.
    el.text.style.height = "auto";
    const style = window.getComputedStyle(el.text);
    const line = parseFloat(style.lineHeight) || 24;
    const extra = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom)
      + parseFloat(style.borderTopWidth) + parseFloat(style.borderBottomWidth);
    const max = line * 5 + extra;
    const wanted = el.text.scrollHeight + parseFloat(style.borderTopWidth) + parseFloat(style.borderBottomWidth);
    el.text.style.height = `${Math.min(wanted, max)}px`;
    el.text.style.overflowY = wanted > max ? "auto" : "hidden";
  }
  // Note: setting style properties from a script is allowed by CSP "style-src" without
  // 'unsafe-inline' (only inline <style>/style="" attributes are blocked).

  function wireComposer() {
    el.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      submitText();
    });
    el.text.addEventListener("keydown", (event) => {
      // Enter sends, Shift+Enter is a new line; never send in the middle of an IME composition.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        submitText();
      }
    });
    el.text.addEventListener("input", autoGrow);
    // Keep the keyboard up on phones: pressing "send" must not take the focus from the textarea.
    el.send.addEventListener("mousedown", (event) => event.preventDefault());
    el.attach.addEventListener("click", () => el.file.click());
    el.file.addEventListener("change", () => {
      const file = el.file.files && el.file.files[0];
      el.file.value = ""; // so choosing the same file again fires "change" again
      if (file && state.ready) sendFile(file);
      if (!isTouch()) el.text.focus();
    });
    el.messages.addEventListener("click", (event) => {
      const button = event.target.closest(".choices button");
      if (button && !button.disabled) {
        sendChoice(button);
        // Keyboard and mouse users keep typing; on touch screens don't pop the keyboard up.
        if (!isTouch()) el.text.focus();
      }
    });
    el.lang.addEventListener("click", toggleLanguage);
    // The on-screen keyboard, the status line or a growing textarea shrink the transcript:
    // whoever was reading the latest message should still see it.
    el.scroller.addEventListener("scroll", () => (state.stick = nearBottom()), { passive: true });
    if ("ResizeObserver" in window) {
      const keepAtBottom = new ResizeObserver(() => state.stick && atBottom());
      keepAtBottom.observe(el.scroller);
      keepAtBottom.observe(el.messages); // bubbles re-wrap when the page gets narrower
    }
  }

  /* ---------------------------------------------------------------- event stream ---- */

  function openStream() {
    window.clearTimeout(state.reopenTimer);
    if (state.source) state.source.close();
    // Same origin: the cookie goes with it. On its own reconnects, EventSource sends
    // Last-Event-ID and the server resumes after it; "after" covers the first connection and
    // the reopenings done here (a new EventSource starts without Last-Event-ID).
    const source = new EventSource(`${API}/events?after=${state.cursor}`);
    state.source = source;
    source.addEventListener("open", () => setOffline(false));
    source.addEventListener("message", onReply);
    source.addEventListener("error", () => {
      setOffline(true);
      // CONNECTING: the browser retries by itself. CLOSED (e.g. an HTTP error): it gave up.
      if (source.readyState === EventSource.CLOSED) {
        state.reopenTimer = window.setTimeout(openStream, 5000);
      }
    });
  }

  function onReply(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (_) {
      return;
    }
    const id = Number(message.id ?? event.lastEventId);
    if (Number.isFinite(id)) {
      if (state.seen.has(id)) return; // already shown (replayed after a reconnect)
      state.seen.add(id);
      if (id > state.cursor) state.cursor = id;
    }
    if (message.direction && message.direction !== "out") return;
    setOffline(false);
    hideTyping();
    state.started = true;
    renderBot(message, { live: true });
    atBottom();
    scheduleLanguageCheck();
  }

  /* ---------------------------------------------------------------- start ---- */

  async function loadHistory() {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch(`${API}/history`, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
          cache: "no-store",
        });
        if (res.ok) {
          if (state.notice === "too_fast") clearNotice();
          return await res.json();
        }
        if (res.status === 429) {
          // Refused for now: say why, and wait as long as the server asks before trying again.
          notify("too_fast");
          window.clearTimeout(state.noticeTimer); // said for the whole wait, not its first 10 s
          const seconds = Number(res.headers.get("Retry-After")) || 30;
          await sleep(Math.min(seconds, 600) * 1000);
          continue;
        }
      } catch (_) {
        /* retried below */
      }
      setOffline(true);
      await sleep(Math.min(1000 * 2 ** attempt, 10000));
    }
  }

  function isTouch() {
    return window.matchMedia("(pointer: coarse)").matches;
  }

  function sleep(ms) {
    return new Promise((resolve) => window.setTimeout(resolve, ms));
  }

  async function start() {
    document.documentElement.lang = state.lang;
    wireComposer();
    autoGrow();
    if (!isTouch()) el.text.focus(); // on a phone, don't open the keyboard over the first message
    // History first: it also sets the session cookie that the event stream needs.
    // The words as soon as they come: a refused history (429) waits long, and must say why meanwhile
    // (the language stays as it is until the history is in: applyTexts below enables the button).
    const shown = (texts) => {
      state.texts = texts;
      applyTexts();
      el.lang.disabled = true;
      return texts;
    };
    const [texts, history] = await Promise.all([loadTexts(state.lang).then(shown), loadHistory()]);
    state.texts = texts;
    // An open conversation has its own language (the client may have typed "english"): follow it.
    if (LANGS.includes(history.language) && history.language !== state.lang) {
      state.lang = history.language;
      state.texts = await loadTexts(state.lang);
      rememberLanguage(state.lang);
    }
    applyTexts();
    setOffline(false);
    const messages = Array.isArray(history.messages) ? history.messages : [];
    state.cursor = Number(history.cursor) || 0;
    if (messages.length === 0) {
      showIntro();
    } else {
      state.started = true;
      renderHistory(messages);
    }
    state.ready = true;
    openStream();
    window.addEventListener("online", () => {
      if (!state.source || state.source.readyState === EventSource.CLOSED) openStream();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
