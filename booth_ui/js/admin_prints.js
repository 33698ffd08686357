// The photo printer's panel on the operator page: the printer's state and reasons as CUPS
// reports them (out of paper, stopped, offline, or no CUPS at all, with what to do), the
// event setting "print automatically after each painting", and every print sent to it,
// newest first: the order's number, copies, CUPS's job id, state and reasons, and its age,
// with Cancel (a print CUPS has not finished) and Reprint (a finished one: a new print).
//
// Refreshed every few seconds; the server answers from the spooler's last look at CUPS, so
// a missing printer never slows this page down.

import { $, el } from "./dom.js";
import { call } from "./admin_api.js";

const REFRESH_MS = 3000;
const STATE_WORDS = {
  off: "No printer set",
  missing: "Printer missing",
  unreachable: "CUPS not answering",
  idle: "Ready",
  processing: "Printing",
  stopped: "Stopped",
};
const JOB_WORDS = {
  waiting: "waiting to be sent",
  pending: "pending",
  held: "held",
  processing: "processing",
  stopped: "stopped",
  canceled: "canceled",
  aborted: "aborted",
  completed: "completed",
  failed: "refused",
};

function say(text, bad = false) {
  const node = $("#prints-status");
  node.textContent = text;
  node.classList.toggle("bad", bad);
}

function age(seconds) {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

function showPrinter(printer) {
  const node = $("#printer-state");
  node.dataset.state = printer.state;
  const words = printer.reason_words.length ? ` — ${printer.reason_words.join(", ")}` : "";
  node.replaceChildren(
    el("strong", {}, `${STATE_WORDS[printer.state] ?? printer.state}${words}`),
    el("span", { class: "printer-message" }, printer.message),
  );
}

function action(print, name, label) {
  const button = el("button", { class: "small", type: "button", dataset: { action: name } }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await call(`/admin/api/prints/${print.id}/${name}`, { method: "POST" });
      say(name === "cancel" ? `${print.number}: print cancelled.` : `${print.number}: printing again.`);
    } catch (error) {
      say(error.message, true);
    }
    await showPrints();
  });
  return button;
}

/** CUPS's reasons for a print, as the operator needs them: a completed print's routine ones
 * left out, and why a held or pending print waits when the printer cannot print now. */
function reasonsOf(print, printer) {
  const shown = print.reasons.filter((reason) => print.state !== "completed" || /-(error|warning)$/.test(reason));
  if ((print.state === "pending" || print.state === "held") && !printer.usable) {
    shown.unshift(`waiting for the printer (${(STATE_WORDS[printer.state] ?? printer.state).toLowerCase()})`);
  }
  return shown;
}

function row(print, printer) {
  const buttons = [];
  if (print.can_cancel) buttons.push(action(print, "cancel", "Cancel"));
  if (print.can_reprint) buttons.push(action(print, "reprint", "Reprint"));
  const reasons = reasonsOf(print, printer);
  return el(
    "tr",
    { dataset: { print: print.id, number: print.number, state: print.state } },
    el("td", {}, print.number, print.reprint ? el("span", { class: "muted-inline" }, ` reprint ${print.seq - 1}`) : null),
    el("td", {}, String(print.copies)),
    el("td", {}, print.cups_job_id ? `#${print.cups_job_id}` : "—"),
    el("td", { class: "job-state", dataset: { state: print.state } }, JOB_WORDS[print.state] ?? print.state),
    el("td", { class: "reasons" }, reasons.join(", "), print.error ? el("span", { class: "error" }, print.error) : null),
    el("td", {}, age(print.age_s)),
    el("td", { class: "actions" }, ...buttons),
  );
}

let loading = null;

export function showPrints() {
  if (loading) return loading;
  loading = call("/admin/api/prints")
    .then(({ printer, prints }) => {
      showPrinter(printer);
      $("#prints-table tbody").replaceChildren(...prints.map((print) => row(print, printer)));
    })
    .catch((error) => say(`Print queue not loaded: ${error.message}`, true))
    .finally(() => { loading = null; });
  return loading;
}

async function startAutoPrint() {
  const box = $("#auto-print");
  try {
    box.checked = Boolean((await call("/admin/api/settings")).auto_print);
  } catch (error) {
    say(`Settings not loaded: ${error.message}`, true);
  }
  box.addEventListener("change", async () => {
    try {
      await call("/admin/api/settings", { method: "PUT", body: JSON.stringify({ auto_print: box.checked }) });
      say(box.checked ? "Every finished painting is printed from now on." : "Only ordered prints are printed.");
    } catch (error) {
      box.checked = !box.checked;
      say(`Not saved: ${error.message}`, true);
    }
  });
}

startAutoPrint();
showPrints();
setInterval(showPrints, REFRESH_MS);
