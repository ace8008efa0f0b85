/* The queue's filters: read from the form, kept in localStorage, turned into the API's query. */

import { el } from "./dom.js";

const FILTER_KEY = "optibot.console.filters";

function readFilters() {
  const statuses = [...el.filters.querySelectorAll('input[name="status"]:checked')].map((i) => i.value);
  return {
    statuses,
    mode: el.filterMode.value,
    department: el.filterDepartment.value.trim().toUpperCase(),
    mine: el.filterMine.checked,
  };
}

export function saveFilters() {
  try {
    window.localStorage.setItem(FILTER_KEY, JSON.stringify(readFilters()));
  } catch (_) {
    /* storage blocked: filters just reset on reload */
  }
}

export function restoreFilters() {
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

/** The API's query for the filters; ``page``: { limit, after } (the queue is paged by a cursor). */
export function queueQuery(page = {}) {
  const f = readFilters();
  const params = new URLSearchParams();
  if (page.limit) params.set("limit", String(page.limit));
  if (page.after) params.set("after", page.after);
  // No box ticked means "the default" (the open statuses), as the API does without ?status.
  for (const s of f.statuses) params.append("status", s);
  if (f.mode) params.set("mode", f.mode);
  if (f.department) params.set("department", f.department);
  if (f.mine) params.set("mine", "true");
  const q = params.toString();
  return q ? `?${q}` : "";
}
