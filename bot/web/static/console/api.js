/* The console's API (docs/CONSOLE.md): fetch and JSON, its errors in French, the CSRF token. */

import { sessionLost } from "./login.js";
import { session } from "./session.js";

export const API = "/api/console";

export class ApiError extends Error {
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
export async function api(method, path, { body, signal, retried } = {}) {
  const headers = { Accept: "application/json" };
  const write = method !== "GET";
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (write && session.csrf) headers["X-CSRF-Token"] = session.csrf;
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
    const before = session.csrf;
    try {
      const me = await api("GET", "/me");
      session.csrf = me.csrf;
      if (me.csrf !== before) return api(method, path, { body, signal, retried: true });
    } catch (_) {
      /* fall through to the original error */
    }
  }
  throw new ApiError(res.status, detail, res.headers.get("Retry-After"));
}

export function messageFor(error, fallback) {
  if (!(error instanceof ApiError)) return fallback;
  if (error.status === 0) return error.detail;
  if (error.status === 403 && !error.detail) return "Action non autorisée.";
  if (error.status >= 500) return "Erreur du serveur. Réessayez dans un instant.";
  return error.detail ? `${fallback} ${error.detail}` : fallback.replace(/\s*:$/, ".");
}
