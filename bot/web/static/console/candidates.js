/* The candidates dialog (issue 15). */

function $(id) {
  return document.getElementById(id);
}

export function bindCandidates() {
  const panel = $("candidates-panel");
  $("candidates-open").addEventListener("click", () => {
    if (!panel.open) panel.showModal();
  });
  $("candidates-close").addEventListener("click", () => panel.close());
}
