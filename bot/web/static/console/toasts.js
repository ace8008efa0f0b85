/* Live notices: a client of mine wrote (a case I hold, or held last); the notice opens the case. */

import { el, make } from "./dom.js";

const TOAST_MS = 30000; // a live notice stays this long unless closed or followed

/** A client of mine (a case I hold, or held last) wrote: a notice that opens the case. */
export function clientWroteToast(news) {
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

export function dropToast(caseId) {
  for (const toast of [...el.toasts.children]) if (toast.dataset.caseId === caseId) toast.remove();
}
