// The operator page's "Render fleet" panel, drawn from /healthz: every live render worker of
// the fleet (any host sharing the database: host, device, the lanes it takes, its device
// slots, the jobs in its hands, its last beat) and the jobs queued and running per booth.
// Job ids come cut short from the server: a full id is a key to a guest's photo.

import { $, el } from "./dom.js";

const LANE_NAMES = { fast: "first pictures", hq: "paintings", print: "print renders" };
const LANE_ORDER = ["fast", "hq", "print"];
const JOB_NAMES = { fast: "first picture", hq: "painting", print: "print render" };

const laneList = (lanes) =>
  (Array.isArray(lanes) ? lanes : LANE_ORDER).map((lane) => LANE_NAMES[lane] || lane).join(", ");

function deviceText(worker) {
  const name = worker.device_name && worker.device_name !== worker.device ? ` (${worker.device_name})` : "";
  return `${worker.device}${name}`;
}

function inHand(jobs) {
  const cell = el("td", { class: "in-hand" });
  if (!jobs || jobs.length === 0) {
    cell.append(el("span", { class: "muted-inline" }, "idle"));
    return cell;
  }
  for (const job of jobs) {
    const stage = job.stage ? `${job.stage}, ` : "";
    const what = JOB_NAMES[job.lane] || job.lane;
    cell.append(
      el(
        "div",
        { dataset: { job: job.job } },
        el("code", {}, job.job),
        ` ${what} for ${job.booth}: ${stage}${Math.round(job.progress * 100)} %`,
      ),
    );
  }
  return cell;
}

function workerRow(worker) {
  const beat = el("td", {}, `${worker.seen_s.toFixed(1)} s ago`);
  return el(
    "tr",
    { dataset: { worker: worker.worker } },
    el("td", {}, worker.host, el("div", { class: "muted-inline" }, `pid ${worker.pid}`)),
    el("td", {}, deviceText(worker)),
    el("td", {}, laneList(worker.lanes)),
    el("td", {}, String(worker.device_slots ?? 1)),
    inHand(worker.jobs),
    beat,
  );
}

const countText = ({ queued, running }) =>
  queued === 0 && running === 0 ? "–" : `${queued} waiting · ${running} in progress`;

function boothRow(booth, lanes, own) {
  const name = el("td", {}, booth);
  if (own) name.append(el("span", { class: "muted-inline" }, " (this server)"));
  return el(
    "tr",
    { dataset: { booth } },
    name,
    ...LANE_ORDER.map((lane) => el("td", {}, countText(lanes[lane] || { queued: 0, running: 0 }))),
  );
}

/** Draw the fleet and the per-booth queue from a /healthz answer. */
export function showFleet(health) {
  const workers = health.workers || [];
  const hosts = new Set(workers.map((worker) => worker.host));
  $("#fleet-summary").textContent = workers.length
    ? `${workers.length} render worker${workers.length === 1 ? "" : "s"} alive on ` +
      `${hosts.size} host${hosts.size === 1 ? "" : "s"}`
    : "No render worker is alive anywhere in the fleet.";
  $("#fleet tbody").replaceChildren(...workers.map(workerRow));
  const booths = (health.queue && health.queue.booths) || {};
  $("#booths tbody").replaceChildren(
    ...Object.entries(booths).map(([booth, lanes]) => boothRow(booth, lanes, booth === health.booth)),
  );
}
