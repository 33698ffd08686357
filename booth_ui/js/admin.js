// The operator's page: health and queue (refreshed every few seconds), retry/cancel,
// orders and their print files (reprints), event settings, and the guests' data purge.
// The browser signs in once with the admin password (HTTP Basic); the server answers with a
// session cookie that the page's API calls ride on. Every change (POST, PUT) also carries the
// session's CSRF token in a header, which no other site's page can read or send.

import { $, el } from "./dom.js";

const REFRESH_MS = 3000;
const ACTIVE = new Set(["queued", "running"]);
const SAFE = new Set(["GET", "HEAD"]);

let token = null; // a promise of {csrf_token, header}

function csrf(renew = false) {
  if (renew || token === null) {
    token = fetch("/admin/api/session", { cache: "no-store" }).then(async (response) => {
      const body = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
      return body;
    });
    token.catch(() => { token = null; });
  }
  return token;
}

async function send(path, options, renew) {
  const method = (options.method || "GET").toUpperCase();
  const headers = options.body ? { "Content-Type": "application/json" } : {};
  if (!SAFE.has(method)) {
    const { csrf_token: value, header } = await csrf(renew);
    headers[header] = value;
  }
  return fetch(path, { ...options, method, headers });
}

async function call(path, options = {}) {
  let response = await send(path, options, false);
  let body = await response.json().catch(() => ({}));
  if (response.status === 403 && body.code === "csrf") {
    // The session ended (expired, or the server restarted): a new one, a new token, once.
    response = await send(path, options, true);
    body = await response.json().catch(() => ({}));
  }
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

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
      ? `Running · ${workers} render worker${workers === 1 ? "" : "s"} on ${health.device}`
      : "Needs attention";
    $("#problems").replaceChildren(...health.problems.map((text) => el("li", {}, text)));
    const { fast, hq } = health.queue;
    $("#queue-summary").textContent =
      `Waiting: ${fast.queued} first pictures, ${hq.queued} paintings · ` +
      `in progress: ${fast.running + hq.running}`;
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
    el("td", {}, job.mode === "hq" ? "painting" : "first picture"),
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

// --- orders -----------------------------------------------------------------------------

function optionText(options) {
  return Object.entries(options).map(([key, value]) => `${key} ${value}`).join(", ");
}

async function showOrders() {
  try {
    const { exports } = await call("/admin/api/exports?limit=50");
    $("#orders tbody").replaceChildren(
      ...exports.map((order) =>
        el(
          "tr",
          {},
          el("td", {}, when(order.created_at)),
          el("td", {}, order.product),
          el("td", {}, optionText(order.options)),
          el("td", {}, ...order.files.map((file) => el("a", { href: file.url }, file.role.toUpperCase()))),
        ),
      ),
    );
  } catch (error) {
    $("#orders tbody").replaceChildren(el("tr", {}, el("td", { class: "error" }, error.message)));
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
  await Promise.all([showJobs(), showOrders()]);
}

// --- start --------------------------------------------------------------------------------

async function refresh() {
  await Promise.all([showHealth(), showJobs(), showOrders()]);
}

$("#event").addEventListener("submit", saveEvent);
$("#purge").addEventListener("submit", purge);
loadEvent().catch((error) => say($("#event-status"), error.message, true));
refresh();
setInterval(refresh, REFRESH_MS);
