/* The reports dialog (issue 15): a period (Paris days) and a department, the figures as cards, three
   charts (Chart.js, vendored in /static/vendor/chartjs/ and loaded on first use) and every table of
   the report with its CSV file. The tables come from the server as they are (bot/reports.py
   `tables`): the console, the CSV files and `optibot report` show the same figures.

   When a report's charts are drawn, #reports-body gets data-charts="drawn" (the browser test waits
   on it); while loading, data-charts="loading". */

import { API, api, ApiError, messageFor } from "./api.js";
import { make, setError } from "./dom.js";

const $ = (id) => document.getElementById(id);
const CHART_JS = "/static/vendor/chartjs/chart.umd.min.js";
const PARIS = new Intl.DateTimeFormat("en-CA", {
  timeZone: "Europe/Paris",
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
});
const COLOURS = {
  mobilised: "#6a3fb5", // the console's priority colour
  others: "#0b5e6b", // the brand's
  waitlist: "#b34700",
  requests: "#4d7c0f",
  p50: "#0b5e6b",
  p90: "#8fb9c0",
};
const CHART_COUNT = 3;

let panel;
let form;
let charts = []; // the Chart instances on show
let chartLib = null; // Promise<Chart>
let abort = null;
let drawn = 0;

/** Today in Paris, YYYY-MM-DD. */
function parisToday() {
  return PARIS.format(new Date());
}

/** YYYY-MM-DD moved by n days (noon UTC: no daylight-saving edge). */
function addDays(iso, n) {
  const day = new Date(`${iso}T12:00:00Z`);
  day.setUTCDate(day.getUTCDate() + n);
  return day.toISOString().slice(0, 10);
}

function setLast(days) {
  const today = parisToday();
  $("reports-to").value = today;
  $("reports-from").value = addDays(today, 1 - days);
}

function loadChartJs() {
  if (window.Chart) return Promise.resolve(window.Chart);
  if (!chartLib) {
    chartLib = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = CHART_JS;
      script.addEventListener("load", () => resolve(window.Chart));
      script.addEventListener("error", () => {
        chartLib = null;
        reject(new Error("Chart.js could not be loaded"));
      });
      document.head.append(script);
    });
  }
  return chartLib;
}

function query() {
  const params = new URLSearchParams({ from: $("reports-from").value, to: $("reports-to").value });
  const department = $("reports-department").value.trim().toUpperCase();
  if (department) params.set("department", department);
  return params;
}

/** Seconds as minutes to the tenth, as the tables, the CSV files and `optibot report` show them
    (bot/reports.py `minutes`: a half rounded up). */
function minutes(seconds) {
  const value = toMinutes(seconds ?? null);
  if (value === null) return "—";
  return `${value.toLocaleString("fr-FR", { maximumFractionDigits: 1 })} min`;
}

function percent(rate) {
  if (rate === null || rate === undefined) return "—";
  return `${(rate * 100).toLocaleString("fr-FR", { maximumFractionDigits: 1 })} %`;
}

function frenchDay(iso) {
  const [y, m, d] = iso.split("-");
  return `${d}/${m}/${y}`;
}

async function showReport() {
  const body = $("reports-body");
  const from = $("reports-from").value;
  const to = $("reports-to").value;
  if (!from || !to) {
    setError($("reports-error"), "Indiquez les deux dates de la période.");
    return;
  }
  if (abort) abort.abort();
  const mine = new AbortController();
  abort = mine;
  body.dataset.charts = "loading";
  setError($("reports-error"), "");
  const params = query();
  let data;
  try {
    [data] = await Promise.all([api("GET", `/reports?${params}`, { signal: mine.signal }), loadChartJs()]);
  } catch (error) {
    if (error && error.name === "AbortError") return;
    if (abort === mine) abort = null;
    if (error instanceof ApiError && error.status === 401) return;
    const text =
      error instanceof ApiError
        ? messageFor(error, "Le rapport n'a pas pu être établi :")
        : "Les graphiques n'ont pas pu être chargés.";
    setError($("reports-error"), text);
    body.dataset.charts = "failed";
    return;
  }
  if (abort !== mine) return;
  abort = null;
  render(data, params);
}

function render(data, params) {
  const report = data.report;
  const where = report.department
    ? `département ${report.department}${report.department_name ? ` (${report.department_name})` : ""}`
    : "toute la France";
  $("reports-heading").textContent = `Du ${frenchDay(report.start)} au ${frenchDay(report.end)}, ${where}`;
  renderCards(report);
  renderTables(data.tables, params);
  renderCharts(report);
}

function card(label, value, detail, testId) {
  const node = make("div", "reports-card");
  node.dataset.testid = testId;
  node.append(make("span", "reports-card-value", value), make("span", "reports-card-label", label));
  if (detail) node.append(make("span", "reports-card-detail", detail));
  return node;
}

function renderCards(report) {
  const [mobilised, others] = report.claim;
  const { acceptance, dispatch, visits, waitlist } = report;
  const cards = [
    card("dossiers transmis", String(report.cases), `${report.mobilised} mobilisés, ${report.others} autres`,
      "card-cases"),
    card("prise en charge, mobilisés", minutes(mobilised.p50_s), `médiane ; 90 % en ${minutes(mobilised.p90_s)}`,
      "card-claim-mobilised"),
    card("prise en charge, autres", minutes(others.p50_s), `médiane ; 90 % en ${minutes(others.p90_s)}`,
      "card-claim-others"),
    card("acceptation d'une visite", minutes(acceptance.p50_s), `médiane ; ${acceptance.accepted} acceptée(s)`,
      "card-acceptance"),
    card("visites faites", String(visits.done), `${visits.impossible} impossible(s)`, "card-visits"),
    card("sans preneur", percent(dispatch.no_taker_rate), `${dispatch.no_taker} sur ${dispatch.offered} proposée(s)`,
      "card-no-taker"),
    card("liste d'attente", String(waitlist.waiting_now), `en attente ; ${waitlist.joined} inscrit(s) sur la période`,
      "card-waitlist"),
  ];
  $("reports-cards").replaceChildren(...cards);
}

function renderTables(tables, params) {
  const sections = tables.map((table) => {
    const section = make("section", "reports-table");
    section.dataset.table = table.name;
    const head = make("div", "reports-table-head");
    const title = make("h4", "reports-table-title", table.title);
    const link = make("a", "reports-csv", "CSV");
    link.href = `${API}/reports/${encodeURIComponent(table.name)}.csv?${params}`;
    link.setAttribute("download", "");
    link.dataset.testid = "reports-csv";
    link.setAttribute("aria-label", `${table.title} : télécharger en CSV`);
    head.append(title, link);
    const wrap = make("div", "table-wrap");
    const grid = make("table", "reports-grid");
    const headRow = make("tr");
    for (const column of table.columns) headRow.append(make("th", null, column));
    const thead = make("thead");
    thead.append(headRow);
    const tbody = make("tbody");
    for (const row of table.rows) {
      const line = make("tr");
      for (const value of row) {
        const number = typeof value === "number";
        const text = value === null ? "—" : number ? value.toLocaleString("fr-FR") : String(value);
        line.append(make("td", number ? "num" : null, text));
      }
      tbody.append(line);
    }
    grid.append(thead, tbody);
    wrap.append(grid);
    section.append(head, wrap);
    return section;
  });
  $("reports-tables").replaceChildren(...sections);
}

function chartDrawn() {
  drawn += 1;
  if (drawn === CHART_COUNT) $("reports-body").dataset.charts = "drawn";
}

function renderCharts(report) {
  const Chart = window.Chart;
  for (const chart of charts) chart.destroy();
  drawn = 0;
  // Told once per chart, after its first full render (animation is off: drawn at once).
  const signal = {
    id: "optibotDrawn",
    afterRender: (chart) => {
      if (!chart.$optibotDrawn) {
        chart.$optibotDrawn = true;
        chartDrawn();
      }
    },
  };
  const common = { animation: false, responsive: true, maintainAspectRatio: false };
  const days = report.days;
  const groups = report.claim.filter((d) => d.group !== "all");
  charts = [
    new Chart($("reports-chart-days"), {
      type: "bar",
      data: {
        labels: days.map((d) => frenchDay(d.day).slice(0, 5)),
        datasets: [
          bars("Mobilisés", days.map((d) => d.mobilised), COLOURS.mobilised),
          bars("Autres", days.map((d) => d.others), COLOURS.others),
          {
            type: "line",
            label: "Inscrits liste d'attente",
            data: days.map((d) => d.waitlist_joins),
            borderColor: COLOURS.waitlist,
            backgroundColor: COLOURS.waitlist,
            stack: "waitlist", // a line of its own, not piled on another
            order: -1, // drawn over the bars
          },
          {
            type: "line",
            label: "dont demandes ordinaires",
            data: days.map((d) => d.requests),
            borderColor: COLOURS.requests,
            backgroundColor: COLOURS.requests,
            borderDash: [6, 4],
            stack: "requests",
            order: -1,
          },
        ],
      },
      options: {
        ...common,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      },
      plugins: [signal],
    }),
    new Chart($("reports-chart-needs"), {
      type: "bar",
      data: {
        labels: report.by_need.map((c) => c.label),
        datasets: [
          { label: "Dossiers", data: report.by_need.map((c) => c.cases), backgroundColor: COLOURS.others },
        ],
      },
      options: {
        ...common,
        indexAxis: "y",
        plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
      },
      plugins: [signal],
    }),
    new Chart($("reports-chart-claim"), {
      type: "bar",
      data: {
        labels: groups.map((d) => d.label),
        datasets: [
          { label: "Médiane", data: groups.map((d) => toMinutes(d.p50_s)), backgroundColor: COLOURS.p50 },
          { label: "90e centile", data: groups.map((d) => toMinutes(d.p90_s)), backgroundColor: COLOURS.p90 },
        ],
      },
      options: { ...common, scales: { y: { beginAtZero: true } } },
      plugins: [signal],
    }),
  ];
}

function bars(label, data, colour) {
  return { type: "bar", label, data, backgroundColor: colour, stack: "cases" };
}

function toMinutes(seconds) {
  return seconds === null ? null : Math.round(seconds / 6) / 10;
}

function openReports() {
  if (!$("reports-from").value || !$("reports-to").value) setLast(7);
  if (!panel.open) panel.showModal();
  showReport();
}

export function bindReports() {
  panel = $("reports-panel");
  form = $("reports-form");
  $("reports-open").addEventListener("click", openReports);
  $("reports-close").addEventListener("click", () => panel.close());
  $("reports-last-7").addEventListener("click", () => {
    setLast(7);
    showReport();
  });
  $("reports-last-30").addEventListener("click", () => {
    setLast(30);
    showReport();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    showReport();
  });
}
