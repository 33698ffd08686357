// The operator's page: the print desk (js/print_desk.js), health and queue (refreshed every
// few seconds), the render fleet and the queue per booth (js/admin_fleet.js), retry/cancel,
// event settings, and the guests' data purge. Its calls go
// through js/admin_api.js (the session cookie and the CSRF token).

import { call } from "./admin_api.js";
import { $, el } from "./dom.js";
import { showFleet } from "./admin_fleet.js";
import { showDesk, startDesk } from "./print_desk.js";

const REFRESH_MS = 3000;
const ACTIVE = new Set(["queued", "running"]);
const LANES = { fast: "first picture", hq: "painting", print: "print size" };

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");

function say(node, text, bad = false) {
  node.textContent = text;
  node.classList.toggle("bad", bad);
}

// --- health and queue ------------------------------------------------------------------

async function showHealth() {
  const badge = $("#health");
  try {
    const health = await call("/healthz");
    badge.dataset.status = health.status;
    const workers = health.workers.length;
    badge.textContent = health.status === "ok"
      ? `Booth ${health.booth} · ${workers} render worker${workers === 1 ? "" : "s"} in the fleet`
      : "Needs attention";
    $("#problems").replaceChildren(...health.problems.map((text) => el("li", {}, text)));
    const { fast, hq, print } = health.queue;
    $("#queue-summary").textContent =
      `Waiting: ${fast.queued} first pictures, ${hq.queued} paintings, ` +
      `${print.queued} print renders · in progress: ${fast.running + hq.running + print.running}` +
      " (every booth)";
    showFleet(health);
  } catch (error) {
    badge.dataset.status = "down";
    badge.textContent = `Server unreachable: ${error.message}`;
  }
}

function jobRow(job) {
  const actions = el("td");
  const act = (label, path) => {
    const button = el("button", { class: "small", type: "button" }, label);
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await call(`/admin/api/jobs/${job.id}/${path}`, { method: "POST" });
      } catch (error) {
        actions.append(el("span", { class: "error" }, ` ${error.message}`));
      }
      await showJobs();
    });
    return button;
  };
  if (ACTIVE.has(job.status)) actions.append(act("Cancel", "cancel"));
  else if (job.status !== "done") actions.append(act("Retry", "retry"));
  if (job.mode === "hq" && job.status === "done") {
    actions.append(el("a", { href: `/api/jobs/${job.id}/images/final.jpg`, target: "_blank" }, "Painting"));
  }
  const status = el("td", { dataset: { status: job.status } }, job.status);
  if (job.error) status.append(el("div", { class: "error" }, job.error));
  return el(
    "tr",
    { dataset: { job: job.id } },
    el("td", {}, when(job.created_at)),
    el("td", {}, job.booth),
    el("td", {}, LANES[job.mode] || job.mode),
    el("td", {}, job.style),
    el("td", {}, job.scene),
    status,
    el("td", {}, `${Math.round(job.progress * 100)} %`),
    el("td", {}, String(job.attempts)),
    actions,
  );
}

async function showJobs() {
  try {
    const { jobs } = await call("/admin/api/jobs?limit=50");
    $("#jobs tbody").replaceChildren(...jobs.map(jobRow));
  } catch (error) {
    $("#jobs tbody").replaceChildren(el("tr", {}, el("td", { class: "error" }, error.message)));
  }
}

// --- event settings ---------------------------------------------------------------------

function checkboxes(container, name, choices, enabled) {
  container.replaceChildren(
    ...choices.map((choice) => {
      const box = el("input", { type: "checkbox", name, value: choice.name });
      box.checked = enabled === null || enabled.includes(choice.name);
      return el("label", {}, box, choice.title);
    }),
  );
}

async function loadEvent() {
  const form = $("#event");
  const [settings, choices] = await Promise.all([
    call("/admin/api/settings"),
    call("/admin/api/choices"),
  ]);
  form.event_name.value = settings.event_name;
  form.countdown_s.value = settings.countdown_s;
  form.idle_timeout_s.value = settings.idle_timeout_s;
  checkboxes($("#styles"), "styles", choices.styles, settings.styles);
  checkboxes($("#scenes"), "scenes", choices.scenes, settings.scenes);
  form.order_prefix.value = settings.order_prefix;
  form.print_masters_for_all.checked = settings.print_masters_for_all;
}

function checked(form, name) {
  const boxes = [...form.querySelectorAll(`input[name="${name}"]`)];
  const on = boxes.filter((box) => box.checked).map((box) => box.value);
  return on.length === boxes.length ? null : on; // null: every one, new presets included
}

async function saveEvent(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const status = $("#event-status");
  try {
    await call("/admin/api/settings", {
      method: "PUT",
      body: JSON.stringify({
        event_name: form.event_name.value,
        countdown_s: Number(form.countdown_s.value),
        idle_timeout_s: Number(form.idle_timeout_s.value),
        styles: checked(form, "styles"),
        scenes: checked(form, "scenes"),
        order_prefix: form.order_prefix.value.trim().toUpperCase(),
        print_masters_for_all: form.print_masters_for_all.checked,
      }),
    });
    say(status, "Saved. The booth uses them from its next guest.");
  } catch (error) {
    say(status, `Not saved: ${error.message}`, true);
  }
}

// --- purge ------------------------------------------------------------------------------

async function purge(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const hours = Number(form.older_than_hours.value);
  const what = hours === 0 ? "every guest's" : `older than ${form.older_than_hours.selectedOptions[0].text}`;
  if (!window.confirm(`Delete ${what} photos, paintings and print files? This cannot be undone.`)) {
    return;
  }
  const status = $("#purge-status");
  try {
    const report = await call("/admin/api/purge", {
      method: "POST",
      body: JSON.stringify({ older_than_hours: hours }),
    });
    let text = `Deleted ${report.deleted} guest${report.deleted === 1 ? "" : "s"}' data.`;
    if (report.skipped_active) text += ` Kept ${report.skipped_active} still being painted.`;
    if (report.orphans_removed) {
      text += ` Also removed ${report.orphans_removed} folder(s) of photos with no record.`;
    }
    if (report.failed_folders.length) text += ` Could not remove: ${report.failed_folders.join(", ")}.`;
    say(status, text, report.failed_folders.length > 0);
  } catch (error) {
    say(status, `Nothing deleted: ${error.message}`, true);
  }
  await Promise.all([showJobs(), showDesk()]);
}

// --- start --------------------------------------------------------------------------------

async function refresh() {
  await Promise.all([showHealth(), showJobs(), showDesk()]);
}

startDesk();
$("#event").addEventListener("submit", saveEvent);
$("#purge").addEventListener("submit", purge);
loadEvent().catch((error) => say($("#event-status"), error.message, true));
refresh();
setInterval(refresh, REFRESH_MS);
