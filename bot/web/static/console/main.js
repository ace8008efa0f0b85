/* optibot operator console — plain ES2020 modules, no framework, no build step. This one boots it.
 *
 * Rules the console's modules keep on purpose:
 * - Client and server text is only ever put in the page with textContent (never innerHTML):
 *   names, addresses, messages and file names are untrusted and must show as text.
 * - No inline handlers or styles, so the page works under a strict Content-Security-Policy.
 * - The API contract is docs/CONSOLE.md; the session cookie is HttpOnly, the CSRF token lives in
 *   memory only and goes with every POST/DELETE as X-CSRF-Token.
 * - A module runs nothing when it is loaded: it declares, and main.js binds and boots. So the modules
 *   may import each other both ways (the open case and the live stream call each other).
 */

import { bindActions } from "./actions.js";
import { api, ApiError } from "./api.js";
import { bindAnnouncements } from "./announcements.js";
import { bindCandidates } from "./candidates.js";
import { bindCanned } from "./canned.js";
import { bindCase, scheduleCase, current } from "./case.js";
import { bindComposer } from "./composer.js";
import { el, show } from "./dom.js";
import { bindLevels } from "./levels.js";
import { bindLogin, enterConsole, showLogin } from "./login.js";
import { bindMap } from "./map.js";
import { bindMemberKits } from "./member-kits.js";
import { bindMembers } from "./members.js";
import { bindNotes } from "./notes.js";
import { bindOpticians } from "./opticians.js";
import { bindPrivacy } from "./privacy.js";
import { bindQueue, fetchQueue } from "./queue.js";
import { bindReports } from "./reports.js";
import { servesClients } from "./session.js";
import { bindSlotReminders } from "./slot-reminders.js";
import { bindSlots } from "./slots.js";
import { bindTransfer } from "./transfer.js";
import { bindVisit } from "./visit.js";
import { bindWaitlist } from "./waitlist.js";

function sleep(ms) {
  return new Promise((resolve) => window.setTimeout(resolve, ms));
}

async function boot() {
  try {
    const data = await api("GET", "/me");
    enterConsole(data);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      showLogin("");
    } else {
      show(el.booting, true);
      el.booting.textContent = "Serveur injoignable. Nouvelle tentative…";
      await sleep(3000);
      boot();
    }
  }
}

function bind() {
  bindLogin();
  bindQueue();
  bindCase();
  bindActions();
  bindTransfer();
  bindComposer();
  bindNotes();
  bindCanned();
  bindVisit();
  bindPrivacy();
  bindOpticians();
  bindLevels();
  bindWaitlist();
  bindReports();
  bindMap();
  bindCandidates();
  bindMembers();
  bindMemberKits();
  bindSlots();
  bindSlotReminders();
  bindAnnouncements();
  // Back from sleep or another tab: the clock moved on and events may have been missed.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && servesClients()) {
      fetchQueue();
      if (current.caseId) scheduleCase();
    }
  });
}

bind();
boot();
