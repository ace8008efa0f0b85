/* The levels dialog (issue 15). */

function $(id) {
  return document.getElementById(id);
}

export function bindLevels() {
  const panel = $("levels-panel");
  $("levels-open").addEventListener("click", () => {
    if (!panel.open) panel.showModal();
  });
  $("levels-close").addEventListener("click", () => panel.close());
}
