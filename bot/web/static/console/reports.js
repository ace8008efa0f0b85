/* The reports dialog (issue 15). */

function $(id) {
  return document.getElementById(id);
}

export function bindReports() {
  const panel = $("reports-panel");
  $("reports-open").addEventListener("click", () => {
    if (!panel.open) panel.showModal();
  });
  $("reports-close").addEventListener("click", () => panel.close());
}
