/* Linking an optician's Telegram: the one-time link, its QR code and the command to type. */

import { api, messageFor } from "./api.js";
import { el, make, show } from "./dom.js";
import { longTime } from "./format.js";

const TELEGRAM_LINK = "https://t.me/";
const SVG_DATA = "data:image/svg+xml";

let linkFor = null; // id of the optician whose link is being made

export function clearLink() {
  linkFor = null;
  el.linkResult.replaceChildren();
  show(el.linkResult, false);
}

export async function linkOptician(o, button) {
  button.disabled = true;
  linkFor = o.id;
  el.linkResult.replaceChildren(make("p", "muted", `Création d'un code pour ${o.name || "l'opticien"}…`));
  show(el.linkResult, true);
  try {
    const data = await api("POST", `/opticians/${encodeURIComponent(o.id)}/link`);
    if (linkFor !== o.id) return;
    renderLink(o, data || {});
  } catch (error) {
    if (linkFor !== o.id) return;
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
