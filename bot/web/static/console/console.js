/* optibot operator console — plain ES2020, no framework, no build step.
 *
 * Rules this file keeps on purpose:
 * - Client and server text is only ever put in the page with textContent (never innerHTML):
 *   names, addresses, messages and file names are untrusted and must show as text.
 * - No inline handlers or styles, so the page works under a strict Content-Security-Policy.
 * - The API contract is docs/CONSOLE.md; the session cookie is HttpOnly, the CSRF token lives in
 *   memory only and goes with every POST/DELETE as X-CSRF-Token.
 */
"use strict";

(() => {
  const API = "/api/console";
  const QUEUE_DEBOUNCE_MS = 200;
  const CASE_DEBOUNCE_MS = 150;
  const TICK_MS = 30000; // waiting times are recomputed client-side this often
  const CLAIM_GRACE_MS = 1500; // see renderActions
  const FILTER_KEY = "optibot.console.filters";
  const OPEN_STATUSES = ["queued", "claimed", "dispatched"];

  /* ---------------------------------------------------------------- words ---- */

  const STATUS = {
    queued: "En attente",
    claimed: "Pris en charge",
    dispatched: "Expédié",
    done: "Terminé",
    cancelled: "Annulé",
  };
  const NEED = {
    broken: "Lunettes cassées",
    lost: "Lunettes perdues",
    unsuitable: "Plus adaptées",
    other: "Autre",
  };
  const MODE = { visit: "Visite", shipment: "Envoi" };
  const CHANNEL = { telegram: "Telegram", webchat: "Web", terminal: "Terminal", whatsapp: "WhatsApp" };
  const PRIORITY = {
    health: "Soignant(e) / santé",
    food_retail: "Commerce alimentaire",
    delivery: "Livreur / livreuse",
    firefighter: "Pompier",
    other: "Autre mobilisé(e)",
  };
  const OWNER = {
    bot: "avec le bot",
    queue: "en attente d'un conseiller",
    closed: "terminée",
  };
  const PURPOSE = { home_visit: "visite à domicile", visit: "visite à domicile" };
  const AUTHOR = { client: "Client", bot: "Bot", operator: "Conseiller" };
  const OFFER = {
    offered: "proposé",
    accepted: "accepté",
    declined: "refusé",
    taken: "pris par un autre",
    withdrawn: "retiré",
    failed: "visite impossible",
  };
  const JOURNAL_ACTION = {
    view_case: "Consultation du dossier",
    prescription: "Ordonnance ouverte",
    export: "Export des données",
    erase: "Effacement des données",
  };
  const JOURNAL_DETAIL = { admin: "par un administrateur", retention: "durée de conservation écoulée" };
  const TOAST_MS = 30000; // a live notice stays this long unless closed or followed
  const TELEGRAM_LINK = "https://t.me/";
  const SVG_DATA = "data:image/svg+xml";

  /* ---------------------------------------------------------------- elements ---- */

  const $ = (id) => document.getElementById(id);
  const el = {
    booting: $("booting"),
    loginScreen: $("login-screen"),
    loginForm: $("login-form"),
    loginName: $("login-name"),
    loginPassword: $("login-password"),
    loginSubmit: $("login-submit"),
    loginError: $("login-error"),
    loginNotice: $("login-notice"),
    consoleScreen: $("console-screen"),
    live: $("live"),
    liveText: $("live-text"),
    meName: $("me-name"),
    meRole: $("me-role"),
    logout: $("logout"),
    banner: $("banner"),
    traffic: $("traffic"),
    cannedAdminOpen: $("canned-admin-open"),
    filters: $("filters"),
    filterMode: $("filter-mode"),
    filterDepartment: $("filter-department"),
    filterMine: $("filter-mine"),
    queue: $("queue"),
    queueCount: $("queue-count"),
    queueEmpty: $("queue-empty"),
    queueError: $("queue-error"),
    casePane: $("case-pane"),
    casePlaceholder: $("case-placeholder"),
    caseLoading: $("case-loading"),
    caseError: $("case-error"),
    caseView: $("case-view"),
    caseBack: $("case-back"),
    caseClose: $("case-close"),
    caseReference: $("case-reference"),
    caseStatus: $("case-status"),
    caseKind: $("case-kind"),
    casePriority: $("case-priority"),
    caseOverdue: $("case-overdue"),
    caseUnreachable: $("case-unreachable"),
    caseSub: $("case-sub"),
    claim: $("act-claim"),
    caseHolder: $("case-holder"),
    release: $("act-release"),
    adminRelease: $("act-admin-release"),
    dispatch: $("act-dispatch"),
    done: $("act-done"),
    handback: $("act-handback"),
    cancelOpen: $("act-cancel-open"),
    claimError: $("claim-error"),
    actionError: $("action-error"),
    cancelForm: $("cancel-form"),
    cancelReason: $("cancel-reason"),
    cancelAbort: $("cancel-abort"),
    cancelConfirm: $("cancel-confirm"),
    transferForm: $("transfer-form"),
    transferLabel: $("transfer-label"),
    transferOperator: $("transfer-operator"),
    transferSubmit: $("act-transfer"),
    trackingForm: $("tracking-form"),
    trackingInput: $("tracking-input"),
    trackingSubmit: $("tracking-submit"),
    cName: $("c-name"),
    cPhone: $("c-phone"),
    cAddress: $("c-address"),
    cSlot: $("c-slot"),
    cNeed: $("c-need"),
    cMode: $("c-mode"),
    cChannel: $("c-channel"),
    cConsent: $("c-consent"),
    cConversation: $("c-conversation"),
    cTrackingRow: $("c-tracking-row"),
    cTracking: $("c-tracking"),
    cCancelRow: $("c-cancel-row"),
    cCancel: $("c-cancel"),
    cDates: $("c-dates"),
    cPrescription: $("c-prescription"),
    transcript: $("transcript"),
    announce: $("announce"),
    replyForm: $("reply-form"),
    replyText: $("reply-text"),
    replySend: $("reply-send"),
    replyError: $("reply-error"),
    replyOff: $("reply-off"),
    replyWindow: $("reply-window"),
    cannedSelect: $("canned-select"),
    notes: $("notes"),
    noteForm: $("note-form"),
    noteText: $("note-text"),
    noteAdd: $("note-add"),
    noteError: $("note-error"),
    cannedAdmin: $("canned-admin"),
    cannedAdminClose: $("canned-admin-close"),
    cannedList: $("canned-list"),
    cannedForm: $("canned-form"),
    cannedTitle: $("canned-title"),
    cannedText: $("canned-text"),
    cannedAdd: $("canned-add"),
    cannedError: $("canned-error"),
    caseNoTaker: $("case-no-taker"),
    visitBlock: $("visit-block"),
    visitTitle: $("visit-title"),
    visitOptician: $("visit-optician"),
    visitError: $("visit-error"),
    offers: $("offers"),
    noTakerAlert: $("no-taker-alert"),
    noTakerText: $("no-taker-text"),
    noTakerHint: $("no-taker-hint"),
    widen: $("act-widen"),
    toShipment: $("act-to-shipment"),
    toShipmentForm: $("to-shipment-form"),
    toShipmentConfirm: $("to-shipment-confirm"),
    toShipmentAbort: $("to-shipment-abort"),
    opticiansOpen: $("opticians-open"),
    opticiansPanel: $("opticians-panel"),
    opticiansClose: $("opticians-close"),
    opticiansCount: $("opticians-count"),
    opticiansReadonly: $("opticians-readonly"),
    opticiansLoadError: $("opticians-load-error"),
    opticiansList: $("opticians-list"),
    opticiansActionsHead: $("opticians-actions-head"),
    opticiansEmpty: $("opticians-empty"),
    linkResult: $("link-result"),
    opticianForm: $("optician-form"),
    opticianFormTitle: $("optician-form-title"),
    opticianName: $("optician-name"),
    opticianPhone: $("optician-phone"),
    opticianDepartments: $("optician-departments"),
    opticianKit: $("optician-kit"),
    opticianActive: $("optician-active"),
    opticianAvailable: $("optician-available"),
    opticianError: $("optician-error"),
    opticianSaved: $("optician-saved"),
    opticianSave: $("optician-save"),
    opticianCancelEdit: $("optician-cancel-edit"),
    caseClientWrote: $("case-client-wrote"),
    caseReopened: $("case-reopened"),
    caseAnonymised: $("case-anonymised"),
    privacyActions: $("privacy-actions"),
    exportLink: $("act-export"),
    eraseOpen: $("act-erase-open"),
    eraseDialog: $("erase-dialog"),
    eraseClose: $("erase-close"),
    eraseForm: $("erase-form"),
    eraseReference: $("erase-reference"),
    eraseExpected: $("erase-expected"),
    eraseInput: $("erase-confirm-input"),
    eraseError: $("erase-error"),
    eraseAbort: $("erase-abort"),
    eraseConfirm: $("erase-confirm"),
    toasts: $("toasts"),
    journalOpen: $("journal-open"),
    journalPanel: $("journal-panel"),
    journalClose: $("journal-close"),
    journalError: $("journal-error"),
    journalList: $("journal-list"),
    journalEmpty: $("journal-empty"),
    journalOlder: $("journal-older"),
  };

  const state = {
    me: null, // Operator
    csrf: null, // in memory only
    cases: [], // CaseSummary[] as last fetched
    fetchedAt: 0, // performance.now() of that fetch: waiting_s + elapsed = waiting time
    overdueAfter: null, // overdue_after_s
    queueTimer: 0,
    queueAbort: null,
    queueLoaded: false,
    caseId: null, // the open case (from #case=ID)
    detail: null, // its CaseDetail
    caseTimer: 0,
    caseAbort: null,
    caseGeneration: 0,
    shown: new Map(), // message id -> element of the open transcript
    drafts: new Map(), // case id -> unsent reply text
    canned: [],
    operators: [],
    source: null, // the EventSource
    sourceCase: null, // the case it was opened for
    sourceRetry: 0,
    sourceTimer: 0,
    tick: 0,
    busy: false, // an action is in flight
    claimGrace: null, // {id, until, timer}: the case was just taken by someone else while shown as queued
    caseStale: false, // the action-error shows a failed refresh (cleared by the next good one)
    loginTimer: 0,
    opticians: [], // Optician[] as last fetched (registry panel)
    opticiansAbort: null,
    opticianEditing: null, // id of the optician in the form, null when adding
    linkFor: null, // id of the optician whose link is being made
    journalBefore: null, // the journal's next (older) page, null at its end
    journalAbort: null,
  };

  /* ---------------------------------------------------------------- helpers ---- */

  function show(node, visible) {
    node.hidden = !visible;
  }

  function setError(node, text) {
    node.textContent = text || "";
    node.hidden = !text;
  }

  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function sleep(ms) {
    return new Promise((resolve) => window.setTimeout(resolve, ms));
  }

  /** Only same-origin paths are used as src/href for files served by the API. */
  function sameOriginUrl(value) {
    if (typeof value !== "string" || value === "") return null;
    try {
      const url = new URL(value, window.location.origin);
      return url.origin === window.location.origin ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  /** External links (tracking) must be http(s). */
  function webUrl(value) {
    if (typeof value !== "string" || value === "") return null;
    try {
      const url = new URL(value);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  const timeFormat = new Intl.DateTimeFormat("fr-FR", { hour: "2-digit", minute: "2-digit" });
  const dayTimeFormat = new Intl.DateTimeFormat("fr-FR", {
    day: "2-digit",
    month: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
  });
  const fullFormat = new Intl.DateTimeFormat("fr-FR", { dateStyle: "long", timeStyle: "short" });
  const dateFormat = new Intl.DateTimeFormat("fr-FR", { weekday: "long", day: "numeric", month: "long" });

  function parseDate(value) {
    if (!value) return null;
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? null : d;
  }

  /** "14:32" today, "03/12 14:32" otherwise. */
  function shortTime(value) {
    const d = parseDate(value);
    if (!d) return "";
    const today = new Date();
    return d.toDateString() === today.toDateString() ? timeFormat.format(d) : dayTimeFormat.format(d);
  }

  function longTime(value) {
    const d = parseDate(value);
    return d ? fullFormat.format(d) : "";
  }

  /** A waiting time in seconds, as an operator reads it: "< 1 min", "12 min", "2 h 05", "3 j 4 h". */
  function duration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return "< 1 min";
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min`;
    const h = Math.floor(m / 60);
    if (h < 24) return `${h} h ${String(m % 60).padStart(2, "0")}`;
    const d = Math.floor(h / 24);
    return `${d} j ${h % 24} h`;
  }

  function needLabel(c) {
    if (c.need && NEED[c.need]) return NEED[c.need];
    if (c.need) return String(c.need);
    return c.kind === "advisor" ? "Demande de conseiller" : NEED.other;
  }

  function urgentLabel(urgent) {
    if (urgent === true) return "Urgent";
    if (urgent === false) return "Non urgent";
    return "";
  }

  /** The backend sends the slot as text; "2024-12-03 am" style values are made readable. */
  function slotLabel(slot) {
    if (!slot) return "";
    const m = /^(\d{4}-\d{2}-\d{2})[ T]?(am|pm)?$/.exec(String(slot).trim());
    if (!m) return String(slot);
    const d = parseDate(`${m[1]}T12:00:00`);
    if (!d) return String(slot);
    const part = m[2] === "am" ? " matin" : m[2] === "pm" ? " après-midi" : "";
    return `${dateFormat.format(d)}${part}`;
  }

  /** Seconds the case has waited, now: the server's figure plus what elapsed since the fetch. */
  function waitingNow(c) {
    const base = Number(c.waiting_s) || 0;
    return base + (performance.now() - state.fetchedAt) / 1000;
  }

  function isOverdue(c) {
    if (c.overdue) return true;
    // Between two fetches the threshold may be crossed: follow it client-side too.
    return Boolean(
      c.mobilised && c.status === "queued" && state.overdueAfter && waitingNow(c) >= state.overdueAfter,
    );
  }

  /** A dispatched visit is with the opticians, not in the post. */
  function statusLabel(c) {
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
  function phoneLink(phone, className) {
    const a = make("a", className || "phone", phoneLabel(phone));
    const e164 = frenchE164(phone);
    a.href = `tel:${e164 || String(phone).replace(/[^0-9+]/g, "")}`;
    if (e164 || a.textContent !== String(phone)) a.title = `Appeler le ${e164 || phone}`;
    return a;
  }

  const dayFormat = new Intl.DateTimeFormat("fr-FR", { day: "numeric", month: "short", year: "numeric" });

  /** "YYYY-MM-DD" (a calendar day, no time zone) as "12 janv. 2030". */
  function dayLabel(value) {
    if (typeof value !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return "";
    const d = parseDate(`${value}T12:00:00`);
    return d ? dayFormat.format(d) : value;
  }

  function isAdmin() {
    return Boolean(state.me && state.me.role === "admin");
  }

  /* ---------------------------------------------------------------- API ---- */

  class ApiError extends Error {
    constructor(status, detail, retryAfter) {
      super(detail || `HTTP ${status}`);
      this.status = status;
      this.detail = detail;
      this.retryAfter = retryAfter;
    }
  }

  function detailText(body) {
    if (!body) return "";
    if (typeof body.detail === "string") return body.detail;
    // FastAPI validation errors: a list of {msg}.
    if (Array.isArray(body.detail)) {
      return body.detail.map((d) => (d && typeof d.msg === "string" ? d.msg : "")).filter(Boolean).join(" ; ");
    }
    return "";
  }

  /**
   * fetch + JSON. Throws ApiError on a non-2xx answer (status 0 for a network failure).
   * A 401 outside the login sends the page back to the login form.
   */
  async function api(method, path, { body, signal, retried } = {}) {
    const headers = { Accept: "application/json" };
    const write = method !== "GET";
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (write && state.csrf) headers["X-CSRF-Token"] = state.csrf;
    let res;
    try {
      res = await fetch(`${API}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
        signal,
      });
    } catch (error) {
      if (error && error.name === "AbortError") throw error;
      throw new ApiError(0, "Serveur injoignable. Vérifiez la connexion et réessayez.");
    }
    if (res.status === 204) return null;
    let data = null;
    try {
      data = await res.json();
    } catch (_) {
      data = null;
    }
    if (res.ok) return data;
    const detail = detailText(data);
    if (res.status === 401 && path !== "/login" && path !== "/me") {
      sessionLost();
    }
    // A 403 may be a stale CSRF token (session renewed in another tab): refresh it once.
    if (res.status === 403 && write && !retried && path !== "/login") {
      const before = state.csrf;
      try {
        const me = await api("GET", "/me");
        state.csrf = me.csrf;
        if (me.csrf !== before) return api(method, path, { body, signal, retried: true });
      } catch (_) {
        /* fall through to the original error */
      }
    }
    throw new ApiError(res.status, detail, res.headers.get("Retry-After"));
  }

  function messageFor(error, fallback) {
    if (!(error instanceof ApiError)) return fallback;
    if (error.status === 0) return error.detail;
    if (error.status === 403 && !error.detail) return "Action non autorisée.";
    if (error.status >= 500) return "Erreur du serveur. Réessayez dans un instant.";
    return error.detail ? `${fallback} ${error.detail}` : fallback.replace(/\s*:$/, ".");
  }

  /* ---------------------------------------------------------------- login ---- */

  function showLogin(notice) {
    stopLive();
    window.clearInterval(state.tick);
    state.me = null;
    state.csrf = null;
    // Forget the open case but keep #case=ID: signing in again reopens it.
    closeCase({ updateHash: false });
    state.cases = [];
    state.queueLoaded = false;
    if (state.queueAbort) state.queueAbort.abort();
    window.clearTimeout(state.queueTimer);
    el.queue.replaceChildren();
    show(el.booting, false);
    show(el.consoleScreen, false);
    show(el.loginScreen, true);
    if (el.cannedAdmin.open) el.cannedAdmin.close();
    if (el.opticiansPanel.open) el.opticiansPanel.close();
    if (el.journalPanel.open) el.journalPanel.close();
    if (el.eraseDialog.open) el.eraseDialog.close();
    el.toasts.replaceChildren();
    el.loginNotice.textContent = notice || "";
    el.loginPassword.value = "";
    el.loginName.focus();
  }

  function sessionLost() {
    if (!state.me) return;
    showLogin("Votre session a expiré : reconnectez-vous.");
  }

  /** 897 → "14 min 57 s", 600 → "10 min", 42 → "42 s". */
  function minutesSeconds(seconds) {
    const s = Math.max(0, Math.ceil(seconds));
    const m = Math.floor(s / 60);
    if (m === 0) return `${s} s`;
    return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  }

  function startLoginCountdown(seconds) {
    window.clearInterval(state.loginTimer);
    // Against the clock, not by counting ticks: a background tab's timers are slowed down.
    const until = Date.now() + Math.max(1, Math.ceil(seconds)) * 1000;
    const render = () => {
      const left = (until - Date.now()) / 1000;
      if (left <= 0) {
        window.clearInterval(state.loginTimer);
        el.loginSubmit.disabled = false;
        setError(el.loginError, "");
        return;
      }
      setError(el.loginError, `Trop de tentatives, réessayez dans ${minutesSeconds(left)}`);
      el.loginSubmit.disabled = true;
    };
    render();
    state.loginTimer = window.setInterval(render, 1000);
  }

  async function onLogin(event) {
    event.preventDefault();
    const name = el.loginName.value.trim();
    const password = el.loginPassword.value;
    if (!name || !password) {
      setError(el.loginError, "Indiquez votre nom et votre mot de passe.");
      (name ? el.loginPassword : el.loginName).focus();
      return;
    }
    el.loginSubmit.disabled = true;
    setError(el.loginError, "");
    try {
      const data = await api("POST", "/login", { body: { name, password } });
      el.loginPassword.value = "";
      el.loginNotice.textContent = "";
      el.loginSubmit.disabled = false;
      enterConsole(data);
    } catch (error) {
      el.loginPassword.value = "";
      el.loginSubmit.disabled = false;
      if (error instanceof ApiError && error.status === 401) {
        setError(el.loginError, "Nom ou mot de passe incorrect");
      } else if (error instanceof ApiError && error.status === 429) {
        const wait = Number.parseInt(error.retryAfter || "", 10);
        startLoginCountdown(Number.isFinite(wait) ? wait : 60);
      } else {
        setError(el.loginError, messageFor(error, "Connexion impossible."));
      }
      el.loginPassword.focus();
    }
  }

  async function onLogout() {
    el.logout.disabled = true;
    try {
      await api("POST", "/logout");
    } catch (_) {
      /* signed out locally anyway */
    }
    el.logout.disabled = false;
    showLogin("Vous êtes déconnecté(e).");
    state.drafts.clear(); // after showLogin, which saves the open draft
    if (hashCaseId()) clearHash();
  }

  /* ---------------------------------------------------------------- console ---- */

  function enterConsole(data) {
    state.me = data.operator;
    state.csrf = data.csrf;
    show(el.booting, false);
    show(el.loginScreen, false);
    show(el.consoleScreen, true);
    setError(el.loginError, "");
    el.meName.textContent = state.me.name;
    el.meName.title = `Connecté(e) en tant que ${state.me.name}`;
    show(el.meRole, isAdmin());
    show(el.cannedAdminOpen, isAdmin());
    show(el.journalOpen, isAdmin());
    restoreFilters();
    window.clearInterval(state.tick);
    state.tick = window.setInterval(refreshTimes, TICK_MS);
    loadCanned();
    loadOperators();
    fetchQueue();
    routeFromHash();
    startLive();
  }

  function setBanner(text) {
    setError(el.banner, text);
  }

  /* ---------------------------------------------------------------- filters ---- */

  function readFilters() {
    const statuses = [...el.filters.querySelectorAll('input[name="status"]:checked')].map((i) => i.value);
    return {
      statuses,
      mode: el.filterMode.value,
      department: el.filterDepartment.value.trim().toUpperCase(),
      mine: el.filterMine.checked,
    };
  }

  function saveFilters() {
    try {
      window.localStorage.setItem(FILTER_KEY, JSON.stringify(readFilters()));
    } catch (_) {
      /* storage blocked: filters just reset on reload */
    }
  }

  function restoreFilters() {
    let saved = null;
    try {
      saved = JSON.parse(window.localStorage.getItem(FILTER_KEY) || "null");
    } catch (_) {
      saved = null;
    }
    if (!saved || typeof saved !== "object") return;
    if (Array.isArray(saved.statuses)) {
      for (const box of el.filters.querySelectorAll('input[name="status"]')) {
        box.checked = saved.statuses.includes(box.value);
      }
    }
    if (typeof saved.mode === "string" && [...el.filterMode.options].some((o) => o.value === saved.mode)) {
      el.filterMode.value = saved.mode;
    }
    if (typeof saved.department === "string") el.filterDepartment.value = saved.department.slice(0, 3);
    el.filterMine.checked = Boolean(saved.mine);
  }

  function queueQuery() {
    const f = readFilters();
    const params = new URLSearchParams();
    // No box ticked means "the default" (the open statuses), as the API does without ?status.
    for (const s of f.statuses) params.append("status", s);
    if (f.mode) params.set("mode", f.mode);
    if (f.department) params.set("department", f.department);
    if (f.mine) params.set("mine", "true");
    const q = params.toString();
    return q ? `?${q}` : "";
  }

  let departmentTimer = 0;
  function onFiltersChanged(event) {
    saveFilters();
    if (event && event.target === el.filterDepartment) {
      window.clearTimeout(departmentTimer);
      departmentTimer = window.setTimeout(fetchQueue, 350);
      return;
    }
    fetchQueue();
  }

  /* ---------------------------------------------------------------- queue ---- */

  function scheduleQueue() {
    window.clearTimeout(state.queueTimer);
    state.queueTimer = window.setTimeout(fetchQueue, QUEUE_DEBOUNCE_MS);
  }

  async function fetchQueue() {
    window.clearTimeout(state.queueTimer);
    if (!state.me) return;
    if (state.queueAbort) state.queueAbort.abort();
    const abort = new AbortController();
    state.queueAbort = abort;
    try {
      const data = await api("GET", `/cases${queueQuery()}`, { signal: abort.signal });
      if (abort !== state.queueAbort) return;
      state.queueAbort = null;
      state.cases = Array.isArray(data.cases) ? data.cases : [];
      state.overdueAfter = Number(data.overdue_after_s) || null;
      state.fetchedAt = performance.now();
      state.queueLoaded = true;
      setError(el.queueError, "");
      renderQueue();
    } catch (error) {
      if (error && error.name === "AbortError") return;
      if (abort === state.queueAbort) state.queueAbort = null;
      if (error instanceof ApiError && error.status === 401) return;
      setError(el.queueError, messageFor(error, "La file n'a pas pu être chargée."));
      // Try again a little later; a queue event will also trigger a refetch.
      window.clearTimeout(state.queueTimer);
      state.queueTimer = window.setTimeout(fetchQueue, 5000);
    }
  }

  function badge(text, className) {
    return make("span", `badge ${className || ""}`.trim(), text);
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
    a.classList.toggle("selected", c.id === state.caseId);
    if (c.id === state.caseId) a.setAttribute("aria-current", "true");

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
      const mine = state.me && c.claimed_by === state.me.name;
      // A queued case with a name is one the client reopened: who held it last.
      const who = mine ? "moi" : c.claimed_by;
      const text = c.status === "queued" ? `dernier conseiller : ${who}` : mine ? "pris par moi" : `pris par ${c.claimed_by}`;
      bottom.append(make("span", `row-claimed${mine ? " mine" : ""}`, text));
    }

    a.append(top, mid, bottom);
    li.append(a);
    return li;
  }

  function channelPill(channel) {
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

  function renderQueue() {
    const hadFocus = el.queue.contains(document.activeElement) ? document.activeElement.dataset.caseId : null;
    const rows = state.cases.map(queueRow);
    el.queue.replaceChildren(...rows);
    show(el.queueEmpty, state.queueLoaded && rows.length === 0);
    const queued = state.cases.filter((c) => c.status === "queued").length;
    const overdue = state.cases.filter(isOverdue).length;
    const noTaker = state.cases.filter((c) => c.no_taker).length;
    let count = `${state.cases.length} cas`;
    if (queued) count += ` · ${queued} en attente`;
    if (overdue) count += ` · ${overdue} en retard`;
    if (noTaker) count += ` · ${noTaker} sans opticien`;
    el.queueCount.textContent = count;
    el.queueCount.classList.toggle("alert", overdue > 0 || noTaker > 0);
    document.title = queued ? `(${queued}) Console optibot` : "Console optibot";
    if (hadFocus) {
      const again = el.queue.querySelector(`a[data-case-id="${CSS.escape(hadFocus)}"]`);
      if (again) again.focus({ preventScroll: true });
    }
  }

  /** Every 30 s: waiting times and the overdue highlight follow the clock without a refetch. */
  function refreshTimes() {
    if (!state.queueLoaded) return;
    // Without the live stream, poll: nothing else would bring new cases.
    if (!state.source || state.source.readyState !== EventSource.OPEN) fetchQueue();
    renderQueue();
    if (state.detail) renderCaseHeader(state.detail);
    // The WhatsApp window closes with time, not with an event: the banner follows the clock.
    const w = state.detail && state.detail.window;
    if (w && w.open && w.closes_at && new Date(w.closes_at) <= new Date()) {
      w.open = false;
      showWindow(w);
    }
  }

  /* ---------------------------------------------------------------- routing ---- */

  function hashCaseId() {
    const m = /^#case=([^&]+)/.exec(window.location.hash);
    if (!m) return null;
    try {
      return decodeURIComponent(m[1]);
    } catch (_) {
      return null;
    }
  }

  function routeFromHash() {
    if (!state.me) return;
    const id = hashCaseId();
    if (id === state.caseId) return;
    if (id) openCase(id);
    else closeCase({ updateHash: false });
  }

  function clearHash() {
    const url = `${window.location.pathname}${window.location.search}`;
    window.history.pushState(null, "", url);
  }

  /* ---------------------------------------------------------------- case ---- */

  function saveDraft() {
    if (state.caseId) {
      const text = el.replyText.value;
      if (text) state.drafts.set(state.caseId, text);
      else state.drafts.delete(state.caseId);
    }
  }

  function openCase(id) {
    saveDraft();
    state.caseId = id;
    state.detail = null;
    state.shown.clear();
    el.transcript.replaceChildren();
    el.announce.replaceChildren();
    el.notes.replaceChildren();
    el.replyText.value = state.drafts.get(id) || "";
    el.noteText.value = "";
    el.trackingInput.value = "";
    el.cancelReason.value = "";
    el.cannedSelect.value = "";
    showCancelForm(false);
    showShipmentConfirm(false);
    el.offers.replaceChildren();
    el.visitOptician.replaceChildren();
    show(el.visitBlock, false);
    clearClaimGrace();
    clearActionErrors();
    [el.replyError, el.noteError, el.caseError].forEach((n) => setError(n, ""));
    show(el.casePlaceholder, false);
    show(el.caseView, false);
    show(el.caseLoading, true);
    document.body.classList.add("case-open");
    for (const row of el.queue.querySelectorAll(".queue-row")) {
      const on = row.dataset.caseId === id;
      row.classList.toggle("selected", on);
      if (on) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    }
    fetchCase();
    restartLive();
    // One column: the queue row that had the focus is now hidden; move on to the case.
    if (narrow() && (el.queue.contains(document.activeElement) || document.activeElement === document.body)) {
      el.casePane.focus({ preventScroll: true });
    }
  }

  function narrow() {
    return window.matchMedia("(max-width: 999px)").matches;
  }

  function closeCase({ updateHash }) {
    saveDraft();
    const was = state.caseId;
    state.caseId = null;
    state.detail = null;
    state.caseGeneration += 1;
    if (state.caseAbort) state.caseAbort.abort();
    clearClaimGrace();
    clearActionErrors();
    state.shown.clear();
    el.transcript.replaceChildren();
    show(el.caseView, false);
    show(el.caseLoading, false);
    setError(el.caseError, "");
    show(el.casePlaceholder, true);
    document.body.classList.remove("case-open");
    for (const row of el.queue.querySelectorAll(".queue-row.selected")) {
      row.classList.remove("selected");
      row.removeAttribute("aria-current");
    }
    if (updateHash && hashCaseId()) clearHash();
    if (was !== null && state.me) restartLive();
    if (was) {
      const row = el.queue.querySelector(`a[data-case-id="${CSS.escape(was)}"]`);
      if (row && narrow()) row.focus({ preventScroll: false });
    }
  }

  function scheduleCase() {
    window.clearTimeout(state.caseTimer);
    state.caseTimer = window.setTimeout(() => fetchCase(), CASE_DEBOUNCE_MS);
  }

  async function fetchCase() {
    window.clearTimeout(state.caseTimer);
    const id = state.caseId;
    const first = !state.detail; // the first render of a case scrolls to its latest message
    if (!id || !state.me) return;
    if (state.caseAbort) state.caseAbort.abort();
    const abort = new AbortController();
    state.caseAbort = abort;
    const generation = state.caseGeneration;
    try {
      const detail = await api("GET", `/cases/${encodeURIComponent(id)}`, { signal: abort.signal });
      if (abort !== state.caseAbort || generation !== state.caseGeneration || id !== state.caseId) return;
      state.caseAbort = null;
      applyDetail(detail, { scrollToEnd: first });
    } catch (error) {
      if (error && error.name === "AbortError") return;
      if (abort === state.caseAbort) state.caseAbort = null;
      if (id !== state.caseId || (error instanceof ApiError && error.status === 401)) return;
      show(el.caseLoading, false);
      if (error instanceof ApiError && error.status === 404) {
        show(el.caseView, false);
        setError(el.caseError, "Ce cas n'existe pas ou n'est plus accessible.");
      } else if (state.detail) {
        setError(el.actionError, messageFor(error, "Le dossier n'a pas pu être mis à jour."));
        state.caseStale = true;
      } else {
        setError(el.caseError, messageFor(error, "Le dossier n'a pas pu être chargé."));
      }
    }
  }

  function applyDetail(detail, { scrollToEnd, fromAction = false }) {
    if (!detail || detail.id !== state.caseId) return;
    const before = state.detail;
    if (
      !fromAction &&
      before &&
      before.status === "queued" &&
      detail.status !== "queued" &&
      !detail.mine &&
      detail.claimed_by &&
      !state.busy &&
      el.claimError.hidden
    ) {
      startClaimGrace(detail.id);
    } else if (detail.status === "queued" || detail.mine) {
      clearClaimGrace();
    }
    if (state.caseStale) {
      // The refresh that failed has now worked: its message is out of date.
      state.caseStale = false;
      setError(el.actionError, "");
    }
    state.detail = detail;
    show(el.caseLoading, false);
    setError(el.caseError, "");
    show(el.caseView, true);
    renderCaseHeader(detail);
    renderActions(detail);
    renderClient(detail);
    renderVisit(detail);
    // Answered here, or erased: the case's live notice has said what it had to.
    if (detail.anonymised || (fromAction && !detail.client_wrote_at)) dropToast(detail.id);
    if (detail.anonymised && state.shown.size > 0) {
      // The client's data was erased: what is on screen goes too.
      state.shown.clear();
      el.transcript.replaceChildren();
      el.announce.replaceChildren();
    }
    renderMessages(Array.isArray(detail.messages) ? detail.messages : [], { live: !scrollToEnd, scrollToEnd });
    renderNotes(Array.isArray(detail.notes) ? detail.notes : []);
    // Keep the queue row in step at once (status, claimed by), before the queue event arrives.
    const i = state.cases.findIndex((c) => c.id === detail.id);
    if (i >= 0) {
      const merged = { ...state.cases[i] };
      for (const key of Object.keys(merged)) if (key in detail && key !== "waiting_s") merged[key] = detail[key];
      state.cases[i] = merged;
      renderQueue();
    }
  }

  function renderCaseHeader(d) {
    el.caseReference.textContent = d.reference || "—";
    el.caseStatus.textContent = statusLabel(d);
    el.caseStatus.className = `badge status s-${d.status}`;
    show(el.caseKind, d.kind === "advisor");
    show(el.casePriority, Boolean(d.mobilised));
    el.casePriority.textContent = d.mobilised
      ? `Prioritaire${d.priority && PRIORITY[d.priority] ? ` — ${PRIORITY[d.priority]}` : ""}`
      : "";
    const summary = state.cases.find((c) => c.id === d.id);
    show(el.caseOverdue, isOverdue(summary || d));
    show(el.caseUnreachable, d.reachable === false);
    show(el.caseNoTaker, Boolean(d.no_taker));
    el.caseSub.textContent = caseSubtitle(d, summary);
    renderClientSide(d);
  }

  /** The client's side of the case: they wrote (until an operator answers), they reopened it, erased. */
  function renderClientSide(d) {
    const wrote = Boolean(d.client_wrote_at);
    show(el.caseClientWrote, wrote);
    el.caseClientWrote.textContent = wrote
      ? `Le client a écrit ${shortTime(d.client_wrote_at)} — pas encore de réponse d'un conseiller`
      : "";
    const open = OPEN_STATUSES.includes(d.status);
    const parts = [];
    if (d.reopened_at && open) parts.push(`Rouvert par le client le ${longTime(d.reopened_at)}`);
    if (d.status === "queued" && d.claimed_by) {
      const mine = Boolean(state.me && d.claimed_by === state.me.name);
      parts.push(`dernier conseiller : ${mine ? `moi (${d.claimed_by})` : d.claimed_by}`);
    }
    show(el.caseReopened, parts.length > 0);
    el.caseReopened.textContent = parts.join(" · ");
    show(el.caseAnonymised, Boolean(d.anonymised));
  }

  /** Queued: how long the client has waited; open: the case's age and who holds it; closed: when. */
  function caseSubtitle(d, summary) {
    const age = summary ? waitingNow(summary) : Number(d.waiting_s) || 0; // waiting_s counts from creation
    const byMe = Boolean(state.me && d.claimed_by === state.me.name);
    if (d.status === "queued") return `Créé ${shortTime(d.created_at)} · attend depuis ${duration(age)}`;
    if (d.status === "done" || d.status === "cancelled") {
      const verb = d.status === "done" ? "Terminé" : "Annulé";
      const parts = [d.done_at ? `${verb} le ${longTime(d.done_at)}` : verb];
      parts.push(`créé le ${longTime(d.created_at)}`);
      if (d.claimed_by) parts.push(byMe ? "suivi par moi" : `suivi par ${d.claimed_by}`);
      return parts.join(" · ");
    }
    const parts = [age < 60 ? "Créé à l'instant" : `Créé il y a ${duration(age)} (${shortTime(d.created_at)})`];
    // Someone else's name is on the line below the title (#case-holder), except while it is hidden.
    if (byMe) parts.push("pris en charge par moi");
    else if (d.claimed_by && claimGraceActive(d.id)) parts.push(`pris en charge par ${d.claimed_by}`);
    else if (d.status === "dispatched") parts.push("envoyé automatiquement, sans conseiller");
    return parts.join(" · ");
  }

  function renderActions(d) {
    const open = OPEN_STATUSES.includes(d.status);
    const mine = Boolean(d.mine);
    const admin = isAdmin();
    const talking = d.conversation && d.conversation.owner === "operator";
    // A queued case may carry the name of the operator who held it last (reopened by the client).
    const heldByOther = open && d.status !== "queued" && !mine && Boolean(d.claimed_by);
    // Claim only a queued case. Right after someone else took the case, the button stays a moment
    // (claimGrace): a click already on its way gets the server's answer ("déjà pris en charge par …")
    // instead of landing on whatever takes the button's place.
    const grace = heldByOther && claimGraceActive(d.id);
    show(el.claim, d.status === "queued" || grace);
    const holder = heldByOther && !grace;
    show(el.caseHolder, holder);
    el.caseHolder.textContent = holder ? `Pris en charge par ${d.claimed_by}` : "";

    show(el.release, mine && d.status === "claimed");
    // An admin may put back or hand over anyone's case (an operator who left, or is away).
    show(el.adminRelease, admin && heldByOther && d.status === "claimed" && !grace);
    // A case with neither visit nor shipment (an advisor's answer) has nothing to send.
    const sendable = d.mode === "visit" || d.mode === "shipment";
    show(el.dispatch, mine && d.status === "claimed" && sendable);
    // A visit is not posted: the same action sends it to the opticians of the department.
    el.dispatch.textContent = d.mode === "visit" ? "Envoyer aux opticiens" : "Expédié";
    // Done from claimed too (an advisor case, a question answered); the main action once sent.
    show(el.done, mine && (d.status === "claimed" || d.status === "dispatched"));
    el.done.classList.toggle("primary", d.status === "dispatched" || !sendable);
    show(el.handback, mine && open && Boolean(talking));
    const canCancel = open && (mine || admin) && !grace;
    show(el.cancelOpen, canCancel);
    el.cancelOpen.textContent = mine || !d.claimed_by ? "Annuler" : "Annuler (admin)";
    if (!canCancel) showCancelForm(false);

    const adminTransfer = admin && heldByOther && !grace && (d.status === "claimed" || d.status === "dispatched");
    const canTransfer = (mine && open) || adminTransfer;
    show(el.transferForm, canTransfer);
    el.transferLabel.textContent = mine ? "Transférer à" : "Transférer à (admin)";
    el.transferSubmit.textContent = mine ? "Transférer" : "Transférer (admin)";
    if (canTransfer) fillOperators();
    // A Chronopost number only means something for a parcel.
    show(el.trackingForm, mine && open && d.mode === "shipment");

    const canReply = mine && open;
    show(el.replyForm, canReply);
    showWindow(d.window);
    if (canReply && !talking) {
      el.replyOff.textContent = "La conversation n'est plus avec vous : le client ne recevra ce message que si son canal le permet.";
    }
    show(el.replyOff, !canReply || !talking);
    if (!canReply) {
      if (!open) el.replyOff.textContent = "Ce cas est clos : plus de réponse possible.";
      else if (heldByOther) el.replyOff.textContent = `Seul ${d.claimed_by} peut répondre au client.`;
      else el.replyOff.textContent = "Prenez le cas en charge pour répondre au client.";
    } else if (talking) {
      show(el.replyOff, false);
    }
    const buttons = [el.claim, el.release, el.adminRelease, el.dispatch, el.done, el.handback, el.cancelOpen];
    for (const b of [...buttons, el.transferSubmit, el.trackingSubmit, el.cancelConfirm]) b.disabled = state.busy;
    renderVisitActions(d);
    renderPrivacyActions(d);
  }

  /** Admins: export the client's data, or erase it (once: an anonymised case has nothing left). */
  function renderPrivacyActions(d) {
    const allowed = isAdmin() && !d.anonymised;
    show(el.privacyActions, allowed);
    el.exportLink.href = allowed ? `${API}/cases/${encodeURIComponent(d.id)}/export` : "#";
    el.eraseOpen.disabled = state.busy;
    if (!allowed && el.eraseDialog.open) el.eraseDialog.close();
  }

  function openErase() {
    const d = state.detail;
    if (!d || !isAdmin()) return;
    el.eraseReference.textContent = d.reference || "";
    el.eraseExpected.textContent = d.reference || "";
    el.eraseInput.value = "";
    el.eraseConfirm.disabled = true;
    setError(el.eraseError, "");
    el.eraseDialog.dataset.caseId = d.id;
    el.eraseDialog.showModal();
    el.eraseInput.focus();
  }

  /** The second confirmation: the reference typed as shown (case and spaces aside). */
  function eraseConfirmed() {
    const d = state.detail;
    const typed = el.eraseInput.value.replace(/\s+/g, "").toUpperCase();
    return Boolean(d && d.reference && d.id === el.eraseDialog.dataset.caseId && typed === d.reference.toUpperCase());
  }

  async function onErase(event) {
    event.preventDefault();
    if (!eraseConfirmed()) {
      setError(el.eraseError, "Tapez la référence du dossier pour confirmer.");
      el.eraseInput.focus();
      return;
    }
    const done = await runAction("erase", undefined, {
      errorNode: el.eraseError,
      fallback: "Effacement impossible :",
      button: el.eraseConfirm,
    });
    if (done) {
      el.eraseDialog.close();
      el.casePane.focus({ preventScroll: true });
    } else {
      el.eraseConfirm.disabled = !eraseConfirmed();
    }
  }

  function claimGraceActive(id) {
    const g = state.claimGrace;
    return Boolean(g && g.id === id && performance.now() < g.until);
  }

  function clearClaimGrace() {
    if (state.claimGrace) window.clearTimeout(state.claimGrace.timer);
    state.claimGrace = null;
  }

  /** The open case was queued on screen and a refresh shows it held by someone else. */
  function startClaimGrace(id) {
    clearClaimGrace();
    const timer = window.setTimeout(() => {
      state.claimGrace = null;
      if (state.detail && state.detail.id === id) {
        renderCaseHeader(state.detail);
        renderActions(state.detail);
      }
    }, CLAIM_GRACE_MS);
    state.claimGrace = { id, until: performance.now() + CLAIM_GRACE_MS, timer };
  }

  function fact(node, value, fallback) {
    node.replaceChildren();
    if (value === null || value === undefined || value === "") {
      node.append(make("span", "muted", fallback || "—"));
    } else {
      node.textContent = String(value);
    }
  }

  function renderClient(d) {
    fact(el.cName, d.contact_name);
    el.cPhone.replaceChildren();
    if (d.contact_phone) {
      el.cPhone.append(phoneLink(d.contact_phone));
    } else {
      el.cPhone.append(make("span", "muted", "—"));
    }
    const address = [d.address, d.address && d.postal_code && !String(d.address).includes(d.postal_code) ? d.postal_code : null]
      .filter(Boolean)
      .join(", ");
    fact(el.cAddress, address || (d.postal_code ? d.postal_code : ""));
    if (d.department) el.cAddress.append(make("span", "muted", ` (dép. ${d.department})`));
    fact(el.cSlot, slotLabel(d.slot));
    const need = [needLabel(d), urgentLabel(d.urgent)].filter(Boolean).join(" · ");
    fact(el.cNeed, need);
    fact(el.cMode, d.mode ? MODE[d.mode] || d.mode : "");
    el.cChannel.replaceChildren(channelPill(d.channel));
    if (d.reachable === false) el.cChannel.append(make("span", "badge unreachable", "Injoignable"));

    el.cConsent.replaceChildren();
    if (d.consent && typeof d.consent === "object") {
      const c = d.consent;
      const purpose = PURPOSE[c.purpose] || c.purpose || "";
      const text = `Accord pour ${purpose || "—"} (texte ${c.wording_version || "?"}), donné le ${longTime(c.given_at) || "?"}`;
      el.cConsent.append(make("span", "consent", text));
    } else {
      el.cConsent.append(make("span", "muted", "pas de consentement"));
    }

    const conv = d.conversation || {};
    let convText = OWNER[conv.owner] || String(conv.owner || "—");
    if (conv.owner === "operator") {
      convText = conv.operator && state.me && conv.operator === state.me.name ? "avec moi" : `avec ${conv.operator || "un conseiller"}`;
    }
    fact(el.cConversation, convText);

    const hasTracking = Boolean(d.tracking_number);
    show(el.cTrackingRow, hasTracking);
    el.cTracking.replaceChildren();
    if (hasTracking) {
      const href = webUrl(d.tracking_url);
      if (href) {
        const a = make("a", "", d.tracking_number);
        a.href = href;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        el.cTracking.append(a);
      } else {
        el.cTracking.textContent = d.tracking_number;
      }
    }
    const cancelled = Boolean(d.cancel_reason);
    show(el.cCancelRow, cancelled);
    el.cCancel.textContent = cancelled ? d.cancel_reason : "";

    const dates = [`créé ${longTime(d.created_at)}`];
    if (d.first_response_at) dates.push(`première réponse ${longTime(d.first_response_at)}`);
    if (d.done_at) dates.push(`terminé ${longTime(d.done_at)}`);
    el.cDates.textContent = dates.join(" · ");

    renderPrescription(d);
  }

  function renderPrescription(d) {
    const box = el.cPrescription;
    const p = d.prescription;
    const url = p ? sameOriginUrl(p.url) : null;
    // Do not reload the same image on every refetch.
    if (box.dataset.url === (url || "") && box.dataset.kind === ((p && p.kind) || "")) return;
    box.dataset.url = url || "";
    box.dataset.kind = (p && p.kind) || "";
    box.replaceChildren();
    if (!p || !url) {
      box.append(make("p", "muted", "Pas d'ordonnance"));
      return;
    }
    if (p.kind === "image") {
      const link = make("a", "prescription-link");
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener";
      link.title = "Ouvrir l'ordonnance en grand";
      const img = document.createElement("img");
      img.className = "prescription-img";
      img.alt = "Ordonnance envoyée par le client";
      img.loading = "lazy";
      img.decoding = "async";
      img.src = url;
      img.addEventListener("error", () => {
        link.replaceChildren(make("span", "form-error", "L'image de l'ordonnance n'a pas pu être chargée. Cliquez pour l'ouvrir."));
      });
      link.append(img);
      box.append(link);
    } else {
      const a = make("a", "btn pdf-link", "Ouvrir l'ordonnance (PDF)");
      a.href = url;
      a.target = "_blank";
      a.rel = "noopener";
      box.append(a);
    }
  }

  /* ---------------------------------------------------------------- home visit ---- */

  function isVisitCase(d) {
    // A visit, or a former visit whose offers are worth keeping in sight (switched to shipment).
    return d.mode === "visit" || Boolean(d.optician) || (Array.isArray(d.offers) && d.offers.length > 0);
  }

  function renderVisit(d) {
    const visible = isVisitCase(d);
    show(el.visitBlock, visible);
    if (!visible) {
      showShipmentConfirm(false);
      return;
    }
    el.visitTitle.textContent = d.mode === "visit" ? "Visite à domicile" : "Visite à domicile (passée en envoi)";

    el.visitOptician.replaceChildren();
    const o = d.optician;
    if (o && typeof o === "object" && o.name) {
      el.visitOptician.append(make("strong", "visit-optician-name", o.name));
      if (o.phone) el.visitOptician.append(make("span", "sep", " · "), phoneLink(o.phone));
    } else {
      el.visitOptician.append(make("span", "muted", "pas encore d'opticien"));
    }

    const offers = (Array.isArray(d.offers) ? d.offers : []).map((offer, i) => ({ offer, i }));
    offers.sort((a, b) => (Number(a.offer.round) || 0) - (Number(b.offer.round) || 0) || a.i - b.i);
    const items = offers.map(({ offer }) => {
      const status = Object.prototype.hasOwnProperty.call(OFFER, offer.status) ? offer.status : "other";
      const li = make("li", `offer o-${status}`);
      li.dataset.testid = "offer";
      li.dataset.status = String(offer.status || "");
      li.append(
        make("span", "offer-name", offer.optician || "?"),
        make("span", `badge offer-status o-${status}`, OFFER[offer.status] || String(offer.status || "")),
        make("span", "offer-round", `tour ${Number(offer.round) || "?"}`),
      );
      return li;
    });
    if (items.length === 0) {
      const none =
        d.status === "dispatched"
          ? "Aucune offre envoyée : aucun opticien actif, disponible, lié à Telegram et avec un kit valide dans la zone."
          : d.mode === "visit"
            ? "Pas encore envoyée aux opticiens."
            : "Aucune offre.";
      items.push(make("li", "muted offers-empty", none));
    }
    el.offers.replaceChildren(...items);
    renderVisitActions(d);
  }

  /** The no-taker alert and its two ways out; called with every render of the actions (busy state). */
  function renderVisitActions(d) {
    const noTaker = Boolean(d.no_taker) && OPEN_STATUSES.includes(d.status) && d.mode === "visit";
    show(el.noTakerAlert, noTaker);
    if (!noTaker) {
      showShipmentConfirm(false);
      return;
    }
    const dispatched = d.status === "dispatched";
    const text = dispatched
      ? "Aucun opticien n'a accepté cette visite à temps. Vous pouvez élargir l'offre aux départements voisins " +
        "(une nouvelle série d'offres part aussitôt), ou, si le client est d'accord, passer la demande en envoi par la poste."
      : "L'opticien n'a pas pu faire la visite. Vous pouvez la renvoyer aux opticiens (« Envoyer aux opticiens », " +
        "une fois le cas pris en charge), ou, si le client est d'accord, passer la demande en envoi par la poste.";
    if (el.noTakerText.textContent !== text) el.noTakerText.textContent = text;
    // The holder, an admin, or anyone when nobody holds the case (automatic dispatch); the server
    // only accepts it on a claimed or dispatched case (a queued one must be claimed first).
    const holder = Boolean(d.mine) || isAdmin() || !d.claimed_by;
    const allowed = holder && (d.status === "claimed" || dispatched);
    show(el.widen, allowed && dispatched);
    show(el.toShipment, allowed);
    if (!allowed) showShipmentConfirm(false);
    let hint = "";
    if (!holder) hint = `Seul ${d.claimed_by} (ou un administrateur) peut décider de la suite.`;
    else if (!allowed) hint = "Prenez d'abord le cas en charge pour décider de la suite.";
    el.noTakerHint.textContent = hint;
    show(el.noTakerHint, Boolean(hint));
    for (const b of [el.widen, el.toShipment, el.toShipmentConfirm]) b.disabled = state.busy;
  }

  function showShipmentConfirm(visible) {
    show(el.toShipmentForm, visible);
    el.toShipment.setAttribute("aria-expanded", String(visible));
    if (visible) el.toShipmentConfirm.focus();
  }

  async function onToShipment(event) {
    event.preventDefault();
    const done = await runAction("to_shipment", undefined, {
      errorNode: el.visitError,
      fallback: "Impossible de passer en envoi :",
      button: el.toShipmentConfirm,
    });
    if (done) showShipmentConfirm(false);
  }

  /* ---------------------------------------------------------------- transcript ---- */

  function nearBottom(node) {
    return node.scrollHeight - node.scrollTop - node.clientHeight < 60;
  }

  /** What the operator can do about a platform's refusal, in French; the raw error stays after it. */
  const FAILURE_HINTS = [
    [/^whatsapp 132\d{3}\b/,
      "Meta refuse le modèle de message (nom, langue ou approbation à vérifier par l'administrateur)"],
    [/^whatsapp 131026\b/,
      "ce client ne peut pas recevoir de message WhatsApp (application ancienne ou numéro non inscrit)"],
    [/^telegram 403 blocked/, "le client a bloqué le bot Telegram"],
  ];

  function failureText(error) {
    if (!error) return "Échec de l'envoi";
    const hint = FAILURE_HINTS.find(([pattern]) => pattern.test(error));
    return hint ? `Échec : ${hint[1]} — ${error}` : `Échec : ${error}`;
  }

  function deliveryOf(m) {
    if (m.direction !== "out") return null;
    if (m.failed_at) return { cls: "failed", text: failureText(m.error) };
    const how = m.via === "template" ? " (modèle WhatsApp, hors fenêtre de 24 h)" : "";
    if (m.read_at) return { cls: "sent", text: `Lu${how}` };
    if (m.delivered_at) return { cls: "sent", text: `Distribué${how}` };
    if (m.sent_at) return { cls: "sent", text: `Envoyé${how}` };
    return { cls: "pending", text: "En attente d'envoi" };
  }

  /** WhatsApp's 24-hour window: free text inside it; outside it the reply goes as the template. */
  function showWindow(w) {
    show(el.replyWindow, Boolean(w));
    if (!w) return;
    el.replyWindow.classList.toggle("closed", !w.open);
    el.replyWindow.textContent = w.open
      ? `WhatsApp : fenêtre de 24 h ouverte jusqu'à ${dayTimeFormat.format(new Date(w.closes_at))} — votre réponse part telle quelle.`
      : "WhatsApp : fenêtre de 24 h fermée — votre réponse partira dans le modèle de message approuvé ; " +
        "la conversation reprend quand le client répond.";
  }

  function authorLabel(m) {
    if (m.author === "operator") return m.operator ? `${m.operator} (conseiller)` : AUTHOR.operator;
    return AUTHOR[m.author] || String(m.author || "");
  }

  function messageNode(m) {
    const row = make("div", `msg-row ${m.direction === "in" ? "in" : "out"} by-${m.author}`);
    row.dataset.testid = "message";
    row.dataset.id = String(m.id);
    row.dataset.direction = String(m.direction || "");
    row.dataset.author = String(m.author || "");
    if (m.operator) row.dataset.operator = String(m.operator);
    const bubble = make("div", "bubble");
    const meta = make("div", "meta");
    meta.append(make("span", "author", authorLabel(m)));
    const time = make("time", "time", shortTime(m.created_at));
    if (m.created_at) time.dateTime = String(m.created_at);
    time.title = longTime(m.created_at);
    meta.append(time);
    const text = make("div", "text");
    if (m.text === null || m.text === undefined || m.text === "") {
      text.append(make("span", "muted", "(message sans texte)"));
    } else {
      text.textContent = String(m.text);
    }
    bubble.append(meta, text);
    const status = make("div", "delivery");
    status.dataset.role = "delivery";
    bubble.append(status);
    row.append(bubble);
    updateDelivery(row, m);
    return row;
  }

  function updateDelivery(row, m) {
    const status = row.querySelector('[data-role="delivery"]');
    const d = deliveryOf(m);
    if (!d) {
      status.hidden = true;
      return;
    }
    status.hidden = false;
    status.className = `delivery ${d.cls}`;
    status.textContent = d.text;
    row.dataset.delivery = d.cls;
  }

  /** Inserts a message at its place (ids grow with time); updates it if already shown. */
  function addMessage(m, { live }) {
    const id = Number(m.id);
    if (!Number.isFinite(id)) return false;
    const existing = state.shown.get(id);
    if (existing) {
      updateDelivery(existing, m);
      return false;
    }
    const node = messageNode(m);
    let before = null;
    for (const [otherId, other] of state.shown) {
      if (otherId > id && (!before || Number(before.dataset.id) > otherId)) before = other;
    }
    el.transcript.insertBefore(node, before);
    state.shown.set(id, node);
    if (live && m.direction === "in") {
      const line = make("p", "", `Nouveau message du client : ${m.text || ""}`);
      el.announce.append(line);
      while (el.announce.childElementCount > 3) el.announce.firstElementChild.remove();
      node.classList.add("fresh");
    }
    return true;
  }

  function renderMessages(messages, { live, scrollToEnd }) {
    const stick = scrollToEnd || nearBottom(el.transcript);
    if (messages.length === 0 && state.shown.size === 0) {
      el.transcript.replaceChildren(make("p", "muted empty-transcript", "Aucun message."));
    } else {
      const placeholder = el.transcript.querySelector(".empty-transcript");
      if (placeholder && messages.length) placeholder.remove();
    }
    for (const m of messages) addMessage(m, { live });
    if (stick) el.transcript.scrollTop = el.transcript.scrollHeight;
  }

  function onLiveMessage(m) {
    if (!m || !state.caseId) return;
    if (!state.detail) {
      // The case is still loading: its fetch will bring this message.
      return;
    }
    const stick = nearBottom(el.transcript);
    const placeholder = el.transcript.querySelector(".empty-transcript");
    if (placeholder) placeholder.remove();
    addMessage(m, { live: true });
    if (stick) el.transcript.scrollTop = el.transcript.scrollHeight;
    // The client wrote: a WhatsApp window opens again (or moves on), as the case's fetch says.
    if (m.direction === "in" && state.detail.window) scheduleCase();
  }

  /* ---------------------------------------------------------------- notes ---- */

  function renderNotes(notes) {
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

  /* ---------------------------------------------------------------- actions ---- */

  async function runAction(action, body, { errorNode, fallback, button } = {}) {
    const id = state.caseId;
    if (!id || state.busy) return null;
    state.busy = true;
    const target = errorNode || el.actionError;
    // A new attempt: the previous one's message no longer applies.
    clearActionErrors();
    if (errorNode) setError(errorNode, "");
    if (button) button.disabled = true;
    if (state.detail) renderActions(state.detail);
    try {
      const detail = await api("POST", `/cases/${encodeURIComponent(id)}/${action}`, { body });
      state.busy = false;
      if (id === state.caseId) {
        clearActionErrors(); // a refresh may have failed meanwhile: this answer is newer
        if (detail) applyDetail(detail, { scrollToEnd: false, fromAction: true });
      }
      scheduleQueue();
      return detail;
    } catch (error) {
      state.busy = false;
      if (id === state.caseId) {
        if (error instanceof ApiError && error.status === 401) return null;
        setError(target, messageFor(error, fallback || "L'action a échoué."));
        // The case may have moved on (409, 403): show what it is now.
        if (error instanceof ApiError && (error.status === 409 || error.status === 403)) {
          fetchCase();
          scheduleQueue();
        }
      }
      return null;
    } finally {
      state.busy = false;
      if (button) button.disabled = false;
      // Also when another case was opened meanwhile: its buttons were drawn disabled.
      if (state.detail) renderActions(state.detail);
    }
  }

  /** The messages about the case's actions (not those of the reply and note forms). */
  function clearActionErrors() {
    state.caseStale = false;
    for (const node of [el.claimError, el.actionError, el.visitError]) setError(node, "");
  }

  function bindAction(button, action, fallback) {
    button.addEventListener("click", () => runAction(action, undefined, { fallback, button }));
  }

  function showCancelForm(visible) {
    show(el.cancelForm, visible);
    el.cancelOpen.setAttribute("aria-expanded", String(visible));
    if (visible) el.cancelReason.focus();
  }

  async function onCancel(event) {
    event.preventDefault();
    const reason = el.cancelReason.value.trim();
    if (!reason) {
      clearActionErrors();
      setError(el.actionError, "Indiquez le motif de l'annulation.");
      el.cancelReason.focus();
      return;
    }
    const done = await runAction("cancel", { reason }, { fallback: "Annulation impossible.", button: el.cancelConfirm });
    if (done) {
      el.cancelReason.value = "";
      showCancelForm(false);
    }
  }

  async function onTransfer(event) {
    event.preventDefault();
    const operator = el.transferOperator.value;
    if (!operator) {
      clearActionErrors();
      setError(el.actionError, "Choisissez un conseiller.");
      el.transferOperator.focus();
      return;
    }
    const done = await runAction("transfer", { operator }, { fallback: "Transfert impossible.", button: el.transferSubmit });
    if (done) el.transferOperator.value = "";
  }

  async function onTracking(event) {
    event.preventDefault();
    const number = el.trackingInput.value.trim();
    if (!number) {
      clearActionErrors();
      setError(el.actionError, "Indiquez le numéro de suivi.");
      el.trackingInput.focus();
      return;
    }
    const done = await runAction("tracking", { number }, { fallback: "Numéro de suivi non enregistré.", button: el.trackingSubmit });
    if (done) el.trackingInput.value = "";
  }

  async function onReply(event) {
    if (event) event.preventDefault();
    const text = el.replyText.value.trim();
    if (!text) {
      setError(el.replyError, "Écrivez un message avant d'envoyer.");
      el.replyText.focus();
      return;
    }
    const id = state.caseId;
    el.replySend.disabled = true;
    const done = await runAction("reply", { text }, { errorNode: el.replyError, fallback: "Message non envoyé.", button: el.replySend });
    if (done && id === state.caseId) {
      el.replyText.value = "";
      state.drafts.delete(id);
      el.transcript.scrollTop = el.transcript.scrollHeight;
      el.replyText.focus();
    }
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

  /* ---------------------------------------------------------------- operators & canned ---- */

  async function loadOperators() {
    try {
      const data = await api("GET", "/operators");
      state.operators = Array.isArray(data.operators) ? data.operators : [];
      fillOperators();
    } catch (_) {
      /* the transfer list stays empty; retried when a case is opened */
    }
  }

  function fillOperators() {
    const current = el.transferOperator.value;
    const owner = state.detail ? state.detail.claimed_by : null;
    const mine = Boolean(state.detail && state.detail.mine);
    const options = [make("option", "", state.operators.length ? "Choisir un conseiller…" : "Aucun autre conseiller")];
    options[0].value = "";
    for (const op of state.operators) {
      const me = Boolean(state.me && op.name === state.me.name);
      // An admin taking over someone else's case may hand it to themselves.
      if (me && (mine || !owner)) continue;
      if (owner && op.name === owner) continue;
      const label = op.role === "admin" ? `${op.name} (admin)` : op.name;
      const o = make("option", "", me ? `moi (${op.name})` : label);
      o.value = op.name;
      options.push(o);
    }
    el.transferOperator.replaceChildren(...options);
    if ([...el.transferOperator.options].some((o) => o.value === current)) el.transferOperator.value = current;
    if (state.operators.length === 0 && state.me) loadOperatorsLater();
  }

  let operatorsRetry = 0;
  function loadOperatorsLater() {
    if (operatorsRetry) return;
    operatorsRetry = window.setTimeout(() => {
      operatorsRetry = 0;
      loadOperators();
    }, 5000);
  }

  async function loadCanned() {
    try {
      const data = await api("GET", "/canned");
      state.canned = Array.isArray(data.replies) ? data.replies : [];
    } catch (_) {
      state.canned = [];
    }
    renderCanned();
  }

  function renderCanned() {
    const first = make("option", "", state.canned.length ? "Choisir une réponse type…" : "Aucune réponse type");
    first.value = "";
    const options = [first];
    for (const r of state.canned) {
      const o = make("option", "", r.title || "(sans titre)");
      o.value = String(r.id);
      o.title = r.text || "";
      options.push(o);
    }
    el.cannedSelect.replaceChildren(...options);
    el.cannedSelect.disabled = state.canned.length === 0;

    const items = state.canned.map((r) => {
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
    const reply = state.canned.find((r) => String(r.id) === id);
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

  /* ---------------------------------------------------------------- opticians' registry ---- */

  function openOpticians() {
    const admin = isAdmin();
    show(el.opticiansReadonly, !admin);
    show(el.opticianForm, admin);
    show(el.opticiansActionsHead, admin);
    resetOpticianForm();
    setError(el.opticianSaved, "");
    clearLink();
    loadOpticians();
    if (!el.opticiansPanel.open) el.opticiansPanel.showModal();
    (admin ? el.opticianName : el.opticiansClose).focus();
  }

  async function loadOpticians() {
    if (state.opticiansAbort) state.opticiansAbort.abort();
    const abort = new AbortController();
    state.opticiansAbort = abort;
    try {
      const data = await api("GET", "/opticians", { signal: abort.signal });
      if (abort !== state.opticiansAbort) return;
      state.opticiansAbort = null;
      state.opticians = Array.isArray(data.opticians) ? data.opticians : [];
      setError(el.opticiansLoadError, "");
      renderOpticians();
    } catch (error) {
      if (error && error.name === "AbortError") return;
      if (abort === state.opticiansAbort) state.opticiansAbort = null;
      if (error instanceof ApiError && error.status === 401) return;
      setError(el.opticiansLoadError, messageFor(error, "Le registre n'a pas pu être chargé :"));
    }
  }

  function yesNo(value, yes, no) {
    return make("span", `yn ${value ? "yes" : "no"}`, value ? yes : no);
  }

  function opticianRow(o) {
    const admin = isAdmin();
    const tr = make("tr", "optician-row");
    tr.dataset.testid = "optician-row";
    tr.dataset.opticianId = String(o.id || "");
    tr.classList.toggle("inactive", !o.active);
    tr.classList.toggle("kit-bad", !o.kit_valid);
    tr.classList.toggle("editing", state.opticianEditing !== null && state.opticianEditing === o.id);

    const name = make("th", "o-name", o.name || "—");
    name.scope = "row";
    name.dataset.field = "name";

    const phone = make("td", "o-phone");
    phone.dataset.field = "phone";
    phone.append(o.phone ? phoneLink(o.phone) : make("span", "muted", "—"));

    const departments = make("td", "o-departments");
    departments.dataset.field = "departments";
    const codes = Array.isArray(o.departments) ? o.departments.map(String) : [];
    if (codes.length) for (const code of codes) departments.append(make("span", "dept", code));
    else departments.append(make("span", "muted", "—"));

    const kit = make("td", "o-kit");
    kit.dataset.field = "kit";
    kit.append(make("span", "kit-date", dayLabel(o.kit_expires_on) || "date inconnue"));
    if (!o.kit_valid) {
      const expired = badge("kit expiré", "kit-expired");
      expired.dataset.testid = "kit-expired";
      kit.append(expired);
    }

    const active = make("td", "o-active");
    active.dataset.field = "active";
    active.append(yesNo(o.active, "Oui", "Non"));
    const available = make("td", "o-available");
    available.dataset.field = "available";
    available.append(yesNo(o.available, "Oui", "Non"));
    const linked = make("td", "o-linked");
    linked.dataset.field = "linked";
    const linkedBadge = badge(o.linked ? "lié" : "non lié", o.linked ? "linked" : "unlinked");
    linkedBadge.dataset.testid = "optician-linked";
    linked.append(linkedBadge);

    tr.append(name, phone, departments, kit, active, available, linked);
    if (admin) {
      const actions = make("td", "o-actions");
      const edit = make("button", "btn small", "Modifier");
      edit.type = "button";
      edit.dataset.testid = "optician-edit";
      edit.setAttribute("aria-label", `Modifier ${o.name || "l'opticien"}`);
      edit.addEventListener("click", () => editOptician(o));
      const link = make("button", "btn small", "Lier Telegram");
      link.type = "button";
      link.dataset.testid = "optician-link";
      link.setAttribute("aria-label", `Lier le Telegram de ${o.name || "l'opticien"}`);
      link.addEventListener("click", () => linkOptician(o, link));
      actions.append(edit, link);
      tr.append(actions);
    }
    return tr;
  }

  function renderOpticians() {
    el.opticiansList.replaceChildren(...state.opticians.map(opticianRow));
    show(el.opticiansEmpty, state.opticians.length === 0);
    const expired = state.opticians.filter((o) => !o.kit_valid).length;
    let count = `(${state.opticians.length})`;
    if (expired) count = `(${state.opticians.length} · ${expired} kit${expired > 1 ? "s" : ""} expiré${expired > 1 ? "s" : ""})`;
    el.opticiansCount.textContent = count;
  }

  /** "75, 92 2a;13" → ["75", "92", "2A", "13"] (order kept, duplicates dropped). */
  function parseDepartments(text) {
    const codes = String(text || "")
      .split(/[\s,;]+/)
      .map((c) => c.trim().toUpperCase())
      .filter(Boolean);
    return [...new Set(codes)];
  }

  function resetOpticianForm() {
    state.opticianEditing = null;
    el.opticianForm.reset();
    el.opticianActive.checked = true;
    el.opticianAvailable.checked = true;
    el.opticianFormTitle.textContent = "Ajouter un opticien";
    el.opticianSave.textContent = "Ajouter l'opticien";
    show(el.opticianCancelEdit, false);
    setError(el.opticianError, "");
    for (const row of el.opticiansList.querySelectorAll(".optician-row.editing")) row.classList.remove("editing");
  }

  function editOptician(o) {
    resetOpticianForm();
    setError(el.opticianSaved, "");
    state.opticianEditing = o.id;
    el.opticianName.value = o.name || "";
    el.opticianPhone.value = o.phone || "";
    el.opticianDepartments.value = (Array.isArray(o.departments) ? o.departments : []).join(", ");
    el.opticianKit.value = typeof o.kit_expires_on === "string" ? o.kit_expires_on : "";
    el.opticianActive.checked = Boolean(o.active);
    el.opticianAvailable.checked = Boolean(o.available);
    el.opticianFormTitle.textContent = `Modifier ${o.name || "l'opticien"}`;
    el.opticianSave.textContent = "Enregistrer les modifications";
    show(el.opticianCancelEdit, true);
    for (const row of el.opticiansList.querySelectorAll(".optician-row")) {
      row.classList.toggle("editing", row.dataset.opticianId === o.id);
    }
    el.opticianForm.scrollIntoView({ block: "nearest" });
    el.opticianName.focus();
  }

  async function onOpticianSave(event) {
    event.preventDefault();
    setError(el.opticianSaved, "");
    const name = el.opticianName.value.trim();
    const phone = el.opticianPhone.value.trim();
    const departments = parseDepartments(el.opticianDepartments.value);
    // The server checks these too, but its own answers to them are not in French.
    const checks = [
      [!name, "Indiquez le nom de l'opticien.", el.opticianName],
      [!phone, "Indiquez le téléphone de l'opticien.", el.opticianPhone],
      [departments.length === 0, "Indiquez au moins un département (ex. 75, 92, 2A).", el.opticianDepartments],
      [departments.length > 30, "30 départements au plus.", el.opticianDepartments],
      [el.opticianKit.validity.badInput, "Date du kit incomplète ou invalide.", el.opticianKit],
    ];
    const failed = checks.find(([bad]) => bad);
    if (failed) {
      setError(el.opticianError, failed[1]);
      failed[2].focus();
      return;
    }
    const body = {
      name,
      phone,
      departments,
      kit_expires_on: el.opticianKit.value || null,
      active: el.opticianActive.checked,
      available: el.opticianAvailable.checked,
    };
    const editing = state.opticianEditing;
    el.opticianSave.disabled = true;
    setError(el.opticianError, "");
    try {
      const saved = editing
        ? await api("PUT", `/opticians/${encodeURIComponent(editing)}`, { body })
        : await api("POST", "/opticians", { body });
      resetOpticianForm();
      const who = (saved && saved.name) || name;
      setError(el.opticianSaved, editing ? `${who} : modifications enregistrées.` : `${who} ajouté(e) au registre.`);
      await loadOpticians();
      el.opticianName.focus();
    } catch (error) {
      setError(el.opticianError, messageFor(error, "Opticien non enregistré :"));
    } finally {
      el.opticianSave.disabled = false;
    }
  }

  function clearLink() {
    state.linkFor = null;
    el.linkResult.replaceChildren();
    show(el.linkResult, false);
  }

  async function linkOptician(o, button) {
    button.disabled = true;
    state.linkFor = o.id;
    el.linkResult.replaceChildren(make("p", "muted", `Création d'un code pour ${o.name || "l'opticien"}…`));
    show(el.linkResult, true);
    try {
      const data = await api("POST", `/opticians/${encodeURIComponent(o.id)}/link`);
      if (state.linkFor !== o.id) return;
      renderLink(o, data || {});
    } catch (error) {
      if (state.linkFor !== o.id) return;
      const p = make("p", "form-error", messageFor(error, "Lien Telegram non créé :"));
      p.setAttribute("role", "alert");
      el.linkResult.replaceChildren(p);
    } finally {
      button.disabled = false;
    }
    el.linkResult.scrollIntoView({ block: "nearest" });
  }

  function renderLink(o, data) {
    const head = make("div", "link-head");
    head.append(make("h3", "sub-title", `Lier le Telegram de ${o.name || "l'opticien"}`));
    const close = make("button", "btn ghost small", "Masquer");
    close.type = "button";
    close.addEventListener("click", clearLink);
    head.append(close);

    const body = make("div", "link-body");
    const qr = typeof data.qr === "string" && data.qr.startsWith(SVG_DATA) ? data.qr : null;
    if (qr) {
      const img = document.createElement("img");
      img.className = "link-qr";
      img.dataset.testid = "link-qr";
      img.alt = `QR code du lien Telegram pour ${o.name || "l'opticien"}`;
      img.width = 176;
      img.height = 176;
      img.src = qr;
      body.append(img);
    }

    const info = make("div", "link-info");
    const link = typeof data.link === "string" ? data.link : "";
    const linkLine = make("p", "link-line");
    if (link.startsWith(TELEGRAM_LINK)) {
      linkLine.append(make("span", "field-label", "Lien à envoyer à l'opticien (ou QR code à scanner) : "));
      const a = make("a", "link-url", link);
      a.dataset.testid = "link-url";
      a.href = link;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      linkLine.append(a);
    } else if (link) {
      // Not a Telegram address: shown as text, never as a link.
      linkLine.append(make("span", "field-label", "Lien (non reconnu, non cliquable) : "));
      const raw = make("span", "link-url raw", link);
      raw.dataset.testid = "link-url";
      linkLine.append(raw);
    } else {
      linkLine.append(
        make("span", "muted", "Pas de lien : le bot Telegram n'est pas configuré ou son nom n'est pas encore connu."),
      );
    }
    info.append(linkLine);

    const command = typeof data.command === "string" ? data.command : "";
    if (command) {
      const line = make("p", "link-line");
      line.append(make("span", "field-label", "Ou taper dans la conversation avec le bot : "));
      const code = make("code", "link-command", command);
      code.dataset.testid = "link-command";
      const copy = make("button", "btn ghost small", "Copier");
      copy.type = "button";
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(command);
          copy.textContent = "Copié";
        } catch (_) {
          const range = document.createRange();
          range.selectNodeContents(code);
          const selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
          copy.textContent = "Sélectionné : Ctrl+C";
        }
      });
      line.append(code, copy);
      info.append(line);
    }
    const expires = longTime(data.expires_at);
    const validity = make(
      "p",
      "hint link-expiry",
      expires ? `Code à usage unique, valable jusqu'au ${expires}.` : "Code à usage unique, valable 24 h.",
    );
    validity.dataset.testid = "link-expiry";
    info.append(validity);
    body.append(info);
    el.linkResult.replaceChildren(head, body);
    show(el.linkResult, true);
  }

  /* ---------------------------------------------------------------- live notices ---- */

  /** A client of mine (a case I hold, or held last) wrote: a notice that opens the case. */
  function clientWroteToast(news) {
    const reference = typeof news.reference === "string" ? news.reference : "";
    const existing = [...el.toasts.children].find((t) => t.dataset.caseId === news.id);
    if (existing) existing.remove(); // one notice per case: the newest
    const toast = make("div", "toast");
    toast.dataset.testid = "toast";
    toast.dataset.caseId = news.id;
    const link = make("a", "toast-link", `Nouveau message du client — ${reference || "un de vos cas"}`);
    link.href = `#case=${encodeURIComponent(news.id)}`;
    const close = make("button", "btn ghost small toast-close", "✕");
    close.type = "button";
    close.setAttribute("aria-label", "Fermer la notification");
    const dismiss = () => {
      window.clearTimeout(timer);
      toast.remove();
    };
    link.addEventListener("click", dismiss);
    close.addEventListener("click", dismiss);
    const timer = window.setTimeout(dismiss, TOAST_MS);
    toast.append(link, close);
    el.toasts.append(toast);
    while (el.toasts.childElementCount > 4) el.toasts.firstElementChild.remove();
  }

  function dropToast(caseId) {
    for (const toast of [...el.toasts.children]) if (toast.dataset.caseId === caseId) toast.remove();
  }

  /* ---------------------------------------------------------------- access journal ---- */

  function openJournal() {
    if (!isAdmin()) return;
    el.journalList.replaceChildren();
    state.journalBefore = null;
    show(el.journalEmpty, false);
    show(el.journalOlder, false);
    setError(el.journalError, "");
    if (!el.journalPanel.open) el.journalPanel.showModal();
    el.journalClose.focus();
    loadJournal(null);
  }

  async function loadJournal(before) {
    if (state.journalAbort) state.journalAbort.abort();
    const abort = new AbortController();
    state.journalAbort = abort;
    el.journalOlder.disabled = true;
    try {
      const query = before ? `?before=${encodeURIComponent(before)}` : "";
      const data = await api("GET", `/journal${query}`, { signal: abort.signal });
      if (abort !== state.journalAbort) return;
      state.journalAbort = null;
      const lines = Array.isArray(data.lines) ? data.lines : [];
      el.journalList.append(...lines.map(journalRow));
      state.journalBefore = Number.isInteger(data.before) ? data.before : null;
      show(el.journalOlder, state.journalBefore !== null);
      show(el.journalEmpty, el.journalList.childElementCount === 0);
      setError(el.journalError, "");
    } catch (error) {
      if (error && error.name === "AbortError") return;
      if (abort === state.journalAbort) state.journalAbort = null;
      if (error instanceof ApiError && error.status === 401) return;
      setError(el.journalError, messageFor(error, "Le journal n'a pas pu être chargé :"));
    } finally {
      el.journalOlder.disabled = false;
    }
  }

  function journalActor(actor) {
    const who = String(actor || "?");
    if (who === "client") return "le client";
    if (who === "retention") return "automatique";
    if (who.startsWith("cli:")) return `ligne de commande (${who.slice(4)})`;
    return who;
  }

  function journalRow(line) {
    const tr = make("tr", "journal-row");
    tr.dataset.testid = "journal-row";
    tr.dataset.action = String(line.action || "");
    tr.dataset.actor = String(line.actor || "");
    const when = make("td", "j-when");
    const time = make("time", "", longTime(line.at));
    if (line.at) time.dateTime = String(line.at);
    when.append(time);
    const who = make("td", "j-who", journalActor(line.actor));
    const what = make("td", "j-what", JOURNAL_ACTION[line.action] || String(line.action || ""));
    const which = make("td", "j-case");
    which.dataset.field = "case";
    if (typeof line.case_id === "string" && line.case) {
      const a = make("a", "", line.case);
      a.href = `#case=${encodeURIComponent(line.case_id)}`;
      a.addEventListener("click", () => el.journalPanel.close());
      which.append(a);
    } else if (line.anonymised) {
      which.append(make("span", "muted", "anonymisé"));
    } else if (line.client_of) {
      which.append(make("span", "", `client de ${line.client_of}`));
    } else if (line.case) {
      which.textContent = String(line.case);
    } else {
      which.append(make("span", "muted", "—"));
    }
    const detail = make("td", "j-detail", line.detail ? JOURNAL_DETAIL[line.detail] || String(line.detail) : "");
    tr.append(when, who, what, which, detail);
    return tr;
  }

  /* ---------------------------------------------------------------- live events ---- */

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

  function startLive() {
    stopLive();
    if (!state.me) return;
    const caseId = state.caseId;
    const url = caseId ? `${API}/events?case=${encodeURIComponent(caseId)}` : `${API}/events`;
    const source = new EventSource(url, { withCredentials: true });
    state.source = source;
    state.sourceCase = caseId;
    setLive("connecting");
    let opened = false;
    source.addEventListener("open", () => {
      if (source !== state.source) return;
      state.sourceRetry = 0;
      setLive("live");
      setBanner("");
      // A new stream sends `traffic` only when there is some: an old line would stay for ever.
      el.traffic.hidden = true;
    });
    // The server has taken its starting point: every change from now on will be told. Catch up
    // once on what happened before it (while disconnected, or between the case's fetch and now).
    source.addEventListener("ready", () => {
      if (source !== state.source) return;
      if (opened || state.queueLoaded) scheduleQueue();
      if (state.caseId) scheduleCase();
      opened = true;
    });
    source.addEventListener("queue", () => {
      if (source === state.source) scheduleQueue();
    });
    source.addEventListener("message", (event) => {
      if (source !== state.source || state.sourceCase !== state.caseId) return;
      onLiveMessage(parseData(event));
    });
    source.addEventListener("client_wrote", (event) => {
      if (source !== state.source) return;
      const news = parseData(event);
      if (news && typeof news.id === "string") clientWroteToast(news);
    });
    source.addEventListener("case", () => {
      if (source === state.source && state.caseId && state.sourceCase === state.caseId) scheduleCase();
    });
    source.addEventListener("traffic", (event) => {
      if (source === state.source) renderTraffic(parseData(event));
    });
    source.addEventListener("error", () => {
      if (source !== state.source) return;
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
    const delay = Math.min(30000, 1000 * 2 ** state.sourceRetry);
    state.sourceRetry += 1;
    window.clearTimeout(state.sourceTimer);
    state.sourceTimer = window.setTimeout(async () => {
      if (!state.me) return;
      try {
        const me = await api("GET", "/me");
        state.csrf = me.csrf;
        startLive();
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) sessionLost();
        else reconnectLater();
      }
    }, delay);
  }

  function stopLive() {
    window.clearTimeout(state.sourceTimer);
    if (state.source) {
      state.source.close();
      state.source = null;
    }
  }

  function restartLive() {
    if (!state.me) return;
    if (state.source && state.sourceCase === state.caseId) return;
    startLive();
  }

  /* ---------------------------------------------------------------- boot ---- */

  async function boot() {
    try {
      const data = await api("GET", "/me");
      enterConsole(data);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        showLogin("");
      } else {
        show(el.booting, true);
        el.booting.textContent = "Serveur injoignable. Nouvelle tentative…";
        await sleep(3000);
        boot();
      }
    }
  }

  function bind() {
    el.loginForm.addEventListener("submit", onLogin);
    el.logout.addEventListener("click", onLogout);
    el.filters.addEventListener("change", onFiltersChanged);
    el.filterDepartment.addEventListener("input", onFiltersChanged);
    el.filters.addEventListener("submit", (event) => {
      event.preventDefault();
      fetchQueue();
    });
    window.addEventListener("hashchange", routeFromHash);
    window.addEventListener("popstate", routeFromHash);
    el.caseBack.addEventListener("click", () => closeCase({ updateHash: true }));
    el.caseClose.addEventListener("click", () => closeCase({ updateHash: true }));

    el.claim.addEventListener("click", () =>
      runAction("claim", undefined, { errorNode: el.claimError, fallback: "Impossible de prendre ce cas en charge :", button: el.claim }),
    );
    bindAction(el.release, "release", "Impossible de remettre le cas dans la file :");
    bindAction(el.adminRelease, "release", "Impossible de remettre le cas dans la file :");
    bindAction(el.dispatch, "dispatch", "Impossible de marquer le cas comme expédié :");
    bindAction(el.done, "done", "Impossible de terminer le cas :");
    bindAction(el.handback, "handback", "Impossible de rendre la main au bot :");
    el.cancelOpen.addEventListener("click", () => showCancelForm(el.cancelForm.hidden));
    el.cancelAbort.addEventListener("click", () => {
      showCancelForm(false);
      setError(el.actionError, "");
      el.cancelOpen.focus();
    });
    el.cancelForm.addEventListener("submit", onCancel);
    el.transferForm.addEventListener("submit", onTransfer);
    el.trackingForm.addEventListener("submit", onTracking);
    // A "fill this in" message goes as soon as the field is being filled in.
    el.cancelReason.addEventListener("input", () => setError(el.actionError, ""));
    el.trackingInput.addEventListener("input", () => setError(el.actionError, ""));
    el.transferOperator.addEventListener("change", () => setError(el.actionError, ""));

    el.replyForm.addEventListener("submit", onReply);
    el.replyText.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        onReply();
      }
    });
    el.replyText.addEventListener("input", () => setError(el.replyError, ""));
    el.cannedSelect.addEventListener("change", onCannedPicked);
    el.noteForm.addEventListener("submit", onNote);

    el.cannedAdminOpen.addEventListener("click", () => {
      loadCanned();
      el.cannedAdmin.showModal();
      el.cannedTitle.focus();
    });
    el.cannedAdminClose.addEventListener("click", () => el.cannedAdmin.close());
    el.cannedForm.addEventListener("submit", onCannedAdd);

    el.widen.addEventListener("click", () =>
      runAction("widen", undefined, { errorNode: el.visitError, fallback: "Impossible d'élargir l'offre :", button: el.widen }),
    );
    el.toShipment.addEventListener("click", () => showShipmentConfirm(el.toShipmentForm.hidden));
    el.toShipmentAbort.addEventListener("click", () => {
      showShipmentConfirm(false);
      el.toShipment.focus();
    });
    el.toShipmentForm.addEventListener("submit", onToShipment);

    el.eraseOpen.addEventListener("click", openErase);
    el.eraseClose.addEventListener("click", () => el.eraseDialog.close());
    el.eraseAbort.addEventListener("click", () => el.eraseDialog.close());
    el.eraseInput.addEventListener("input", () => {
      setError(el.eraseError, "");
      el.eraseConfirm.disabled = !eraseConfirmed();
    });
    el.eraseForm.addEventListener("submit", onErase);
    el.eraseDialog.addEventListener("close", () => {
      el.eraseInput.value = "";
      setError(el.eraseError, "");
      if (!el.privacyActions.hidden) el.eraseOpen.focus();
    });
    el.journalOpen.addEventListener("click", openJournal);
    el.journalClose.addEventListener("click", () => el.journalPanel.close());
    el.journalOlder.addEventListener("click", () => loadJournal(state.journalBefore));
    el.journalPanel.addEventListener("close", () => {
      if (state.journalAbort) state.journalAbort.abort();
      if (state.me && !hashCaseId()) el.journalOpen.focus();
    });

    el.opticiansOpen.addEventListener("click", openOpticians);
    el.opticiansClose.addEventListener("click", () => el.opticiansPanel.close());
    el.opticianForm.addEventListener("submit", onOpticianSave);
    el.opticianCancelEdit.addEventListener("click", () => {
      resetOpticianForm();
      el.opticianName.focus();
    });
    el.opticiansPanel.addEventListener("close", () => {
      if (state.opticiansAbort) state.opticiansAbort.abort();
      clearLink(); // the one-time code does not stay on screen
      resetOpticianForm();
      setError(el.opticianSaved, "");
      if (state.me) el.opticiansOpen.focus();
    });
    el.cannedAdmin.addEventListener("close", () => {
      setError(el.cannedError, "");
      el.cannedAdminOpen.focus();
    });

    // Back from sleep or another tab: the clock moved on and events may have been missed.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && state.me) {
        fetchQueue();
        if (state.caseId) scheduleCase();
      }
    });
  }

  bind();
  boot();
})();
