/* Handing a case to another operator: the list of operators and the transfer form. */

import { missingField, runAction } from "./actions.js";
import { api } from "./api.js";
import { current } from "./case.js";
import { el, make, setError } from "./dom.js";
import { isMe, session } from "./session.js";

let operators = [];
let operatorsRetry = 0;

export async function loadOperators() {
  try {
    const data = await api("GET", "/operators");
    operators = Array.isArray(data.operators) ? data.operators : [];
    fillOperators();
  } catch (_) {
    /* the transfer list stays empty; retried when a case is opened */
  }
}

export function fillOperators() {
  const chosen = el.transferOperator.value;
  const owner = current.detail ? current.detail.claimed_by : null;
  const mine = Boolean(current.detail && current.detail.mine);
  const options = [make("option", "", operators.length ? "Choisir un conseiller…" : "Aucun autre conseiller")];
  options[0].value = "";
  for (const op of operators) {
    const me = isMe(op.name);
    // An admin taking over someone else's case may hand it to themselves.
    if (me && (mine || !owner)) continue;
    if (owner && op.name === owner) continue;
    const label = op.role === "admin" ? `${op.name} (admin)` : op.name;
    const o = make("option", "", me ? `moi (${op.name})` : label);
    o.value = op.name;
    options.push(o);
  }
  el.transferOperator.replaceChildren(...options);
  if ([...el.transferOperator.options].some((o) => o.value === chosen)) el.transferOperator.value = chosen;
  if (operators.length === 0 && session.me) loadOperatorsLater();
}

function loadOperatorsLater() {
  if (operatorsRetry) return;
  operatorsRetry = window.setTimeout(() => {
    operatorsRetry = 0;
    loadOperators();
  }, 5000);
}

async function onTransfer(event) {
  event.preventDefault();
  const operator = el.transferOperator.value;
  if (!operator) {
    missingField(el.transferOperator, "Choisissez un conseiller.");
    return;
  }
  const done = await runAction("transfer", { operator }, { fallback: "Transfert impossible.", button: el.transferSubmit });
  if (done) el.transferOperator.value = "";
}

export function bindTransfer() {
  el.transferForm.addEventListener("submit", onTransfer);
  el.transferOperator.addEventListener("change", () => setError(el.actionError, ""));
}
