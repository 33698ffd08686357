// The print desk: the guests' orders newest first, each with its painting, number, product
// and options, status (with the print render's progress), print files, slip and the changes
// its status allows (the server says which); a status filter; and the batch hand-off, a ZIP
// of the selected orders' print files with their manifest for a print shop.
//
// The list is refreshed every few seconds. A card is rebuilt only when its order changed, so
// thumbnails are not fetched again and a selection survives the refresh.

import { $, el } from "./dom.js";
import { call, download } from "./admin_api.js";

const BUTTONS = {
  printed: "Mark printed",
  collected: "Mark collected",
  reprint: "Reprint",
  retry: "Retry",
};
const LIST_LIMIT = 200;

const selected = new Set(); // order numbers ticked for the batch
const cards = new Map(); // number → {signature, node}
let shown = []; // the orders on screen, newest first

function say(text, bad = false) {
  const node = $("#desk-status");
  node.textContent = text;
  node.classList.toggle("bad", bad);
}

const selectable = () => shown.filter((order) => order.files.length > 0);

function updateBatch() {
  const button = $("#desk-batch");
  button.disabled = selected.size === 0;
  button.textContent = selected.size ? `Download batch (${selected.size})` : "Download batch";
  const all = $("#desk-all");
  const candidates = selectable();
  all.disabled = candidates.length === 0;
  all.checked = candidates.length > 0 && candidates.every((order) => selected.has(order.number));
}

function actionButton(order, action) {
  const button = el("button", { class: "small", type: "button", dataset: { action } }, BUTTONS[action]);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const changed = await call(`/admin/api/orders/${order.number}/${action}`, { method: "POST" });
      say(`${changed.number}: ${changed.status_label.toLowerCase()}.`);
    } catch (error) {
      say(error.message, true);
    }
    await showDesk();
  });
  return button;
}

function statusLine(order) {
  const line = el("p", { class: "order-status", dataset: { status: order.status } }, order.status_label);
  if (order.status === "received" || order.status === "painting") {
    const percent = Math.round(order.progress * 100);
    line.append(
      el("progress", { max: "1", value: String(order.progress), "aria-label": `${percent} % painted` }),
      el("span", { class: "percent" }, `${percent} %`),
    );
  }
  if (order.error) line.append(el("span", { class: "error" }, order.error));
  return line;
}

function card(order) {
  const pick = el("input", {
    type: "checkbox",
    class: "pick",
    "aria-label": `Hand off ${order.number}`,
    disabled: order.files.length === 0,
  });
  pick.checked = selected.has(order.number);
  pick.addEventListener("change", () => {
    if (pick.checked) selected.add(order.number);
    else selected.delete(order.number);
    updateBatch();
  });
  const picture = order.thumbnail_url
    ? el("img", { class: "thumb", src: order.thumbnail_url, alt: `Painting of order ${order.number}` })
    : el("div", { class: "thumb none" }, "no picture");
  const links = [
    ...order.files.map((file) => el("a", { href: file.url }, file.role.toUpperCase())),
    el("a", { href: order.slip_url, target: "_blank", rel: "noopener" }, "Slip"),
  ];
  return el(
    "li",
    { class: "order", dataset: { number: order.number, status: order.status } },
    pick,
    picture,
    el(
      "div",
      { class: "order-body" },
      el(
        "h3",
        {},
        el("span", { class: "number" }, order.number),
        el("span", { class: "product" }, `${order.product_title} × ${order.quantity}`),
      ),
      el("p", { class: "options" }, order.option_words.join(" · ")),
      el("p", { class: "when" }, `Ordered ${new Date(order.created_at).toLocaleString()}`),
      statusLine(order),
      el("p", { class: "files" }, ...links),
      el("p", { class: "actions" }, ...order.actions.map((action) => actionButton(order, action))),
    ),
  );
}

function render(orders) {
  shown = orders;
  const keep = new Set(selectable().map((order) => order.number));
  for (const number of [...selected]) if (!keep.has(number)) selected.delete(number);
  const nodes = orders.map((order) => {
    const signature = JSON.stringify(order);
    const known = cards.get(order.number);
    if (known && known.signature === signature) return known.node;
    const node = card(order);
    cards.set(order.number, { signature, node });
    return node;
  });
  for (const number of [...cards.keys()]) {
    if (!orders.some((order) => order.number === number)) cards.delete(number);
  }
  $("#desk-orders").replaceChildren(...nodes);
  syncPicks();
}

function syncPicks() {
  for (const { node } of cards.values()) {
    node.querySelector(".pick").checked = selected.has(node.dataset.number);
  }
  updateBatch();
}

let loading = null;

/** Fetch and show the orders (one fetch at a time; a call meanwhile waits for it). */
export function showDesk() {
  if (loading) return loading;
  const status = $("#desk-filter").value;
  const query = new URLSearchParams({ limit: String(LIST_LIMIT), ...(status ? { status } : {}) });
  loading = call(`/admin/api/orders?${query}`)
    .then(({ orders }) => render(orders))
    .catch((error) => say(`Orders not loaded: ${error.message}`, true))
    .finally(() => { loading = null; });
  return loading;
}

async function downloadBatch() {
  const numbers = shown.map((order) => order.number).filter((number) => selected.has(number));
  const button = $("#desk-batch");
  button.disabled = true;
  say(`Packing ${numbers.length} order${numbers.length === 1 ? "" : "s"}…`);
  try {
    const name = await download("/admin/api/orders/batch", { numbers });
    say(`Saved ${name}: ${numbers.join(", ")} with manifest.csv and manifest.json.`);
  } catch (error) {
    say(`No batch: ${error.message}`, true);
  }
  updateBatch();
}

export function startDesk() {
  $("#desk-filter").addEventListener("change", () => {
    if (loading) loading.then(showDesk); // the list asked for before the change is stale
    else showDesk();
  });
  $("#desk-all").addEventListener("change", (event) => {
    if (event.currentTarget.checked) for (const order of selectable()) selected.add(order.number);
    else selected.clear();
    syncPicks();
  });
  $("#desk-batch").addEventListener("click", downloadBatch);
}
