// The gallery screen (/gallery, kiosk/gallery.py): the latest paintings, one at a time, each
// with its painting's title and the QR code to its guest's phone page. Nothing to touch.
//
// It asks GET /api/gallery every few seconds (If-None-Match: an unchanged answer is a 304),
// keeps one slide per painting and crossfades between them. A new painting goes to the front
// and is shown at once; one that left the answer (hidden, opted out, purged) goes at once.
// When the server is away (restarting, the network) it keeps what it shows and tries again,
// a little less often each time, without a word on screen.

import { $ } from "./dom.js";
import { applyStrings, loadStrings, t } from "./strings.js";

const params = new URLSearchParams(location.search);
// Each painting stays this long: 9 s, or /gallery?dwell=<seconds> (at least 2).
const DWELL_MS = Math.max(2, Number(params.get("dwell")) || 9) * 1000;
const FRESH_MS = 10 * 60_000; // "Just painted" on a painting that arrived while the screen was on
const MAX_RETRY_MS = 15_000;

const slides = $("#slides");
const template = $("#slide");
let etag = null;
let refreshMs = 3000;
let items = []; // newest first, as the server sends them
const shown = new Map(); // item id -> {item, node, arrived}
let current = null; // the id on screen
let timer = null;
let loaded = false;

function setState(state) {
  document.body.dataset.state = state;
}

function buildSlide(item) {
  const node = template.content.firstElementChild.cloneNode(true);
  applyStrings(node);
  node.dataset.item = item.id;
  node.querySelector(".slide-title").textContent = item.title;
  node.querySelector(".slide-artist").textContent = item.artist ? t("gallery.after", item) : "";
  node.querySelector(".slide-painting").alt = item.title;
  node.querySelector(".slide-qr-code").alt = t("gallery.scan");
  return node;
}

/** Load a slide's pictures (once, or again when the painting changed) before it is shown. */
function loadPictures(entry) {
  const { node, item } = entry;
  const painting = node.querySelector(".slide-painting");
  if (painting.getAttribute("src") === item.image_url) return entry.ready;
  painting.src = item.image_url;
  node.querySelector(".slide-backdrop").src = item.image_url;
  node.querySelector(".slide-qr-code").src = item.qr_url;
  const decode = (img) => img.decode().catch(() => {});
  const shaped = decode(painting).then(() => {
    if (painting.naturalWidth) {
      painting.style.setProperty("--aspect", `${painting.naturalWidth} / ${painting.naturalHeight}`);
    }
  });
  entry.ready = Promise.all([shaped, decode(node.querySelector(".slide-qr-code"))]);
  return entry.ready;
}

function drawDots() {
  const dots = $("#dots");
  dots.replaceChildren(
    ...items.map((item) => {
      const dot = document.createElement("li");
      dot.classList.toggle("is-current", item.id === current);
      return dot;
    }),
  );
}

/** Crossfade to the item `id` (its pictures decoded first: never a blank frame). */
async function show(id) {
  const entry = shown.get(id);
  if (!entry) return;
  clearTimeout(timer);
  current = id;
  await loadPictures(entry);
  if (current !== id || !shown.has(id)) return; // overtaken meanwhile
  const fresh = entry.arrived && Date.now() - entry.arrived < FRESH_MS;
  entry.node.classList.toggle("is-fresh", Boolean(fresh));
  for (const other of shown.values()) {
    other.node.classList.toggle("is-current", other === entry);
  }
  drawDots();
  setState("showing");
  schedule();
}

function schedule() {
  clearTimeout(timer);
  if (items.length > 1) timer = setTimeout(next, DWELL_MS);
}

function next() {
  const at = items.findIndex((item) => item.id === current);
  const following = items[(at + 1) % items.length];
  if (following) show(following.id);
}

/** Bring the slides in line with the server's answer. */
function update(view) {
  for (const node of document.querySelectorAll("#event-name, #empty-event")) {
    node.textContent = view.event_name;
  }
  document.title = `${view.event_name} · ${t("gallery.kicker")}`;
  const wanted = new Set(view.items.map((item) => item.id));
  const previous = items;
  items = view.items;
  for (const [id, entry] of shown) {
    if (!wanted.has(id)) {
      entry.node.remove(); // hidden, opted out or purged: gone now, not after a fade
      shown.delete(id);
    }
  }
  // New paintings come before every one already on screen; an older one coming back (the
  // operator showed it again) simply joins the round.
  const firstKnown = items.findIndex((item) => shown.has(item.id));
  const arrivedNow = [];
  items.forEach((item, index) => {
    const entry = shown.get(item.id);
    if (entry) {
      entry.item = item;
      return;
    }
    const isNew = loaded && (firstKnown === -1 || index < firstKnown);
    const node = buildSlide(item);
    slides.append(node);
    const added = { item, node, arrived: isNew ? Date.now() : 0, ready: null };
    shown.set(item.id, added);
    loadPictures(added);
    if (isNew) arrivedNow.push(item);
  });
  if (!items.length) {
    current = null;
    clearTimeout(timer);
    drawDots();
    setState("empty");
  } else if (arrivedNow.length) {
    show(arrivedNow[0].id); // the newest of those just finished jumps to the front
  } else if (!shown.has(current)) {
    // The one on screen left: the next one after where it stood.
    const at = previous.findIndex((item) => item.id === current);
    const after = previous.slice(at + 1).find((item) => wanted.has(item.id));
    show((after ?? items[0]).id);
  } else {
    drawDots();
    schedule();
  }
  loaded = true;
}

async function poll() {
  let wait = refreshMs;
  try {
    const headers = etag ? { "If-None-Match": etag } : {};
    const response = await fetch("/api/gallery", { cache: "no-store", headers });
    if (response.status === 200) {
      const view = await response.json();
      etag = response.headers.get("ETag");
      refreshMs = (view.refresh_s || 3) * 1000;
      wait = refreshMs;
      update(view);
    } else if (response.status !== 304) {
      throw new Error(`${response.status} ${response.statusText}`);
    }
    delete document.body.dataset.offline;
    poll.failures = 0;
  } catch (error) {
    // The server restarting, or the network: keep the paintings on screen, try again.
    poll.failures = (poll.failures || 0) + 1;
    wait = Math.min(MAX_RETRY_MS, refreshMs * 2 ** Math.min(poll.failures, 3));
    if (poll.failures >= 3) document.body.dataset.offline = "";
    console.warn("gallery: no answer from the booth, trying again", error);
  }
  setTimeout(poll, wait);
}

async function start() {
  const lang = params.get("lang") || "en";
  try {
    await loadStrings(lang);
  } catch (error) {
    console.error("strings could not be loaded", error);
  }
  applyStrings();
  // A tablet as a gallery should not dim; a TV's browser may not offer it, which is fine.
  navigator.wakeLock?.request("screen").catch(() => {});
  window.gallery = { get items() { return items; }, get current() { return current; } };
  poll();
}

start();
