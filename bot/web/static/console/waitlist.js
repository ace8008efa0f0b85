/* The waitlist dialog (issue 15). */

function $(id) {
  return document.getElementById(id);
}

export function bindWaitlist() {
  const panel = $("waitlist-panel");
  $("waitlist-open").addEventListener("click", () => {
    if (!panel.open) panel.showModal();
  });
  $("waitlist-close").addEventListener("click", () => panel.close());
}
