/* "Rejoindre le réseau": the form, checked by the server (POST /api/join), in French or English.
   Text only through textContent; no inline handler or style (the page's CSP forbids them). */

const EN = {
  title: "Join the network",
  intro: "You are an optician and can visit patients at home? Leave your details: the federation will contact you.",
  name: "Full name",
  phone: "Phone",
  email: "E-mail address",
  departments: "Departments where you can work",
  departments_hint: "Ctrl (or Cmd) + click to choose several.",
  registration: "RPPS number (11 digits) or ADELI number (9 digits)",
  kit: "Do you have a protection kit (masks, gloves, gel)?",
  yes: "Yes",
  no: "No",
  privacy: "Your details are used only to review your application; they are deleted at the latest a year after our last exchange.",
  send: "Send my application",
  thanks_title: "Thank you!",
};
const EN_FIELDS = {
  name: "Please give your full name (128 characters at most).",
  phone: "This phone number is not valid: for example 06 12 34 56 78.",
  email: "This e-mail address is not valid: for example name@example.com.",
  departments: "Choose between 1 and 20 French departments.",
  registration: "Registration number not valid: RPPS (11 digits) or ADELI (9 digits).",
  has_kit: "Please tell us whether you have a protection kit.",
};
const EN_OTHER = {
  thanks: "Thank you! Your application has been received. The federation will contact you by phone or e-mail.",
  fix: "Some fields need correcting.",
  busy: "Too many attempts from your connection: please try again later.",
  failed: "The application could not be sent: please try again.",
};

let english = false;
const french = new Map();

function $(id) {
  return document.getElementById(id);
}

function setLanguage(toEnglish) {
  english = toEnglish;
  document.documentElement.lang = english ? "en" : "fr";
  for (const node of document.querySelectorAll("[data-t]")) {
    const key = node.dataset.t;
    if (!french.has(key)) french.set(key, node.textContent);
    node.textContent = english ? EN[key] : french.get(key);
  }
  document.title = english ? "Join the network — Mobile opticians" : "Rejoindre le réseau — Opticiens mobiles";
  const lang = $("join-lang");
  lang.textContent = english ? "Français" : "English";
  lang.lang = english ? "fr" : "en";
}

async function loadDepartments() {
  const select = $("join-departments");
  const response = await fetch("/api/join/departments");
  if (!response.ok) return;
  for (const department of await response.json()) {
    const option = document.createElement("option");
    option.value = department.code;
    option.textContent = `${department.code} — ${department.name}`;
    select.append(option);
  }
}

function clearErrors() {
  for (const node of document.querySelectorAll(".error")) node.textContent = "";
  for (const node of document.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

function showErrors(fields) {
  let first = null;
  for (const [field, message] of Object.entries(fields)) {
    const slot = document.querySelector(`.error[data-field="${CSS.escape(field)}"]`);
    if (!slot) continue;
    slot.textContent = english ? EN_FIELDS[field] || message : message;
    const input = document.querySelector(`[name="${CSS.escape(field)}"]`);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    }
  }
  if (first) first.focus();
}

function formValues(form) {
  const kit = form.querySelector('input[name="has_kit"]:checked');
  return {
    name: form.elements.name.value,
    phone: form.elements.phone.value,
    email: form.elements.email.value,
    departments: Array.from(form.elements.departments.selectedOptions, (option) => option.value),
    registration: form.elements.registration.value,
    has_kit: kit ? kit.value === "yes" : null,
  };
}

async function submit(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const status = $("join-status");
  const send = $("join-send");
  clearErrors();
  status.textContent = "";
  send.disabled = true;
  try {
    const response = await fetch("/api/join", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(formValues(form)),
    });
    const answer = await response.json().catch(() => ({}));
    if (response.status === 201) {
      form.hidden = true;
      $("join-thanks-text").textContent = english ? EN_OTHER.thanks : answer.message;
      const thanks = $("join-thanks");
      thanks.hidden = false;
      thanks.focus();
      return;
    }
    if (response.status === 422 && answer.fields) {
      showErrors(answer.fields);
      status.textContent = english ? EN_OTHER.fix : answer.detail;
    } else if (response.status === 429) {
      status.textContent = english ? EN_OTHER.busy : answer.detail;
    } else {
      status.textContent = english ? EN_OTHER.failed : answer.detail || "L'envoi n'a pas abouti : réessayez.";
    }
  } catch {
    status.textContent = english ? EN_OTHER.failed : "L'envoi n'a pas abouti : réessayez.";
  } finally {
    send.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("join-form").addEventListener("submit", submit);
  $("join-lang").addEventListener("click", () => setLanguage(!english));
  loadDepartments();
});
