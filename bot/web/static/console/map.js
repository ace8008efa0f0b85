/* The map dialog (issue 15). */

function $(id) {
  return document.getElementById(id);
}

export function bindMap() {
  const panel = $("map-panel");
  $("map-open").addEventListener("click", () => {
    if (!panel.open) panel.showModal();
  });
  $("map-close").addEventListener("click", () => panel.close());
}
