/* The map dialog (issue 15): demand against coverage per department (GET /coverage), as a
   choropleth of the vendored SVG (metropolitan France; the overseas departments as tiles), a
   table, and "où recruter". Colours are classes (no inline style: CSP); every department can be
   focused with the keyboard and shows its figures, as on hover. */

import { api, ApiError, messageFor } from "./api.js";
import { make, setError, show } from "./dom.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const MAP_URL = "/static/vendor/france-departments/france.departments.svg";
const SHADE_LABEL = {
  gap: "demande sans opticien",
  strained: "visites sans preneur ou très au-dessus de la moyenne par opticien",
  covered: "demande couverte",
  ready: "opticiens, pas de demande",
  idle: "ni demande ni opticien",
};

function $(id) {
  return document.getElementById(id);
}

let shapes = null; // Map code -> SVG path element, once the map is drawn
let rows = new Map(); // code -> DepartmentRow

function plural(count, one, many) {
  return `${count} ${count > 1 ? many : one}`;
}

function figures(row) {
  const parts = [
    plural(row.demand, "demande", "demandes") + (row.visits ? ` (${plural(row.visits, "visite", "visites")})` : ""),
    plural(row.covering, "opticien disponible", "opticiens disponibles"),
  ];
  if (row.kits_expiring) parts.push(plural(row.kits_expiring, "kit expirant sous 14 j", "kits expirant sous 14 j"));
  parts.push(plural(row.candidates, "candidat", "candidats"));
  return parts.join(" · ");
}

function label(row) {
  return `${row.code} ${row.name} : ${figures(row)} — ${SHADE_LABEL[row.shade]}`;
}

function describe(code) {
  const row = rows.get(code);
  const details = $("map-details");
  details.replaceChildren();
  if (!row) return;
  details.append(make("strong", "", `${row.code} ${row.name}`), make("div", "", figures(row)));
  details.append(make("div", "muted", SHADE_LABEL[row.shade]));
  if (row.unmet) details.append(make("div", "", `Demande sans preneur : ${row.unmet}`));
}

function focusable(node, code) {
  node.setAttribute("tabindex", "0");
  node.dataset.code = code;
  node.addEventListener("mouseenter", () => describe(code));
  node.addEventListener("focus", () => describe(code));
}

async function drawMap() {
  if (shapes) return;
  const response = await fetch(MAP_URL, { cache: "force-cache" });
  if (!response.ok) throw new ApiError(response.status, "La carte n'a pas pu être chargée.");
  const source = new DOMParser().parseFromString(await response.text(), "image/svg+xml");
  const svg = $("map-svg");
  const drawn = new Map();
  // Copy only each department's outline: nothing else of the file enters the page.
  for (const path of source.querySelectorAll("path[id]")) {
    const shape = document.createElementNS(SVG_NS, "path");
    shape.setAttribute("d", path.getAttribute("d") || "");
    shape.setAttribute("class", "dept shade-idle");
    shape.setAttribute("role", "img");
    focusable(shape, path.id);
    const title = document.createElementNS(SVG_NS, "title");
    shape.append(title);
    svg.append(shape);
    drawn.set(path.id, shape);
  }
  shapes = drawn;
  drawInset(drawn);
}

// Paris and its inner ring are a few pixels on the whole map: drawn again, enlarged, in an inset.
const INSET = ["75", "92", "93", "94"];

function drawInset(drawn) {
  const inset = $("map-inset");
  const group = document.createElementNS(SVG_NS, "g");
  inset.append(group);
  for (const code of INSET) {
    const source = drawn.get(code);
    if (!source) continue;
    const shape = document.createElementNS(SVG_NS, "path");
    shape.setAttribute("d", source.getAttribute("d"));
    shape.setAttribute("class", "dept shade-idle");
    shape.setAttribute("role", "img");
    shape.dataset.inset = "true";
    focusable(shape, code);
    shape.append(document.createElementNS(SVG_NS, "title"));
    group.append(shape);
  }
  const box = group.getBBox();
  if (box.width && box.height) inset.setAttribute("viewBox", `${box.x} ${box.y} ${box.width} ${box.height}`);
}

function paint() {
  const overseas = $("map-overseas");
  overseas.replaceChildren();
  for (const row of rows.values()) {
    const shape = shapes.get(row.code);
    if (shape) {
      const copies = [shape, ...$("map-inset").querySelectorAll(`path[data-code="${CSS.escape(row.code)}"]`)];
      for (const node of copies) {
        node.setAttribute("class", `dept shade-${row.shade}`);
        node.dataset.shade = row.shade;
        node.setAttribute("aria-label", label(row));
        node.firstChild.textContent = label(row);
      }
    } else if (row.overseas) {
      const tile = make("button", `dept-tile shade-${row.shade}`);
      tile.type = "button";
      tile.dataset.shade = row.shade;
      tile.setAttribute("aria-label", label(row));
      tile.title = label(row);
      tile.append(make("span", "dept-tile-code", row.code), make("span", "dept-tile-name", row.name));
      focusable(tile, row.code);
      tile.removeAttribute("tabindex"); // a button is focusable already
      overseas.append(tile);
    }
  }
}

function fillTable(departments) {
  const body = $("map-rows");
  body.replaceChildren();
  const shown = departments
    .filter((r) => r.demand || r.covering || r.kits_expiring || r.candidates)
    .sort((a, b) => b.unmet - a.unmet || b.demand - a.demand || a.code.localeCompare(b.code));
  for (const row of shown) {
    const tr = make("tr", `shade-row-${row.shade}`);
    tr.dataset.code = row.code;
    const name = make("th", "", `${row.code} ${row.name}`);
    name.scope = "row";
    tr.append(
      name,
      make("td", "", row.demand),
      make("td", "", row.covering),
      make("td", "", row.kits_expiring),
      make("td", "", row.candidates),
    );
    body.append(tr);
  }
}

function fillRecruit(recruit) {
  const list = $("map-recruit");
  list.replaceChildren();
  for (const row of recruit) {
    // Visits (not every case needs an optician): bot/recruitment.py, "Où recruter".
    const visits = plural(row.visits, "visite", "visites");
    let text;
    if (row.shade === "gap") text = `${visits} sans opticien`;
    else {
      text = `${visits} pour ${plural(row.covering, "opticien", "opticiens")}`;
      if (row.no_taker) text += `, ${row.no_taker} sans preneur`;
      text += ` (≈ ${row.unmet} à couvrir)`;
    }
    const item = make("li", `recruit-${row.shade}`);
    item.dataset.code = row.code;
    item.append(make("strong", "", `${row.code} ${row.name}`), document.createTextNode(` — ${text}`));
    const candidates = row.candidates
      ? ` · ${plural(row.candidates, "candidat en cours", "candidats en cours")}`
      : " · aucun candidat";
    item.append(make("span", "muted", candidates));
    list.append(item);
  }
  show($("map-recruit-empty"), recruit.length === 0);
}

async function load() {
  const from = $("map-from").value;
  const to = $("map-to").value;
  const query = new URLSearchParams();
  if (from) query.set("from", from);
  if (to) query.set("to", to);
  setError($("map-error"), "");
  $("map-summary").textContent = "Chargement…";
  try {
    await drawMap();
    const search = query.toString();
    const data = await api("GET", `/coverage${search ? `?${search}` : ""}`);
    rows = new Map(data.departments.map((row) => [row.code, row]));
    $("map-from").value = data.start;
    $("map-to").value = data.end;
    paint();
    fillTable(data.departments);
    fillRecruit(data.recruit);
    const t = data.totals;
    $("map-summary").textContent =
      `${plural(t.demand, "demande", "demandes")} · ${plural(t.gaps, "département sans opticien", "départements sans opticien")}` +
      ` · ${t.strained} sous tension`;
    $("map-panel").dataset.loaded = "true";
  } catch (error) {
    $("map-summary").textContent = "";
    if (error instanceof ApiError && error.status === 401) return;
    setError($("map-error"), messageFor(error, "La carte n'a pas pu être chargée :"));
  }
}

export function bindMap() {
  const panel = $("map-panel");
  $("map-open").addEventListener("click", () => {
    if (!panel.open) panel.showModal();
    delete panel.dataset.loaded;
    load();
  });
  $("map-close").addEventListener("click", () => panel.close());
  $("map-period").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
}
