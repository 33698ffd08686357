// The operator page's "Gallery screen" panel (kiosk/admin_gallery.py): the latest finished
// paintings with a thumbnail and whether the venue's gallery screen shows them. Hide takes
// one off every screen at its next look; Show again puts it back. A guest who opted out
// stays off: the panel says so and offers nothing to undo it.

import { call } from "./admin_api.js";
import { $, el } from "./dom.js";

const REFRESH_MS = 5000;

const when = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "");

function say(text, bad = false) {
  const status = $("#gallery-status");
  status.textContent = text;
  status.classList.toggle("bad", bad);
}

function state(item) {
  if (item.opted_out) return ["opted_out", "The guest asked not to be shown"];
  if (item.hidden) return ["hidden", "Hidden by the operator"];
  return ["shown", "On the gallery"];
}

function itemCard(item) {
  const [key, words] = state(item);
  const actions = el("div", { class: "actions" });
  if (!item.opted_out) {
    const hide = !item.hidden;
    const button = el(
      "button",
      { class: "small", type: "button", dataset: { action: hide ? "hide" : "show" } },
      hide ? "Hide" : "Show again",
    );
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await call(`/admin/api/gallery/${encodeURIComponent(item.id)}`, {
          method: "PUT",
          body: JSON.stringify({ hidden: hide }),
        });
        const at = item.finished_at ? `, finished ${when(item.finished_at)}` : "";
        say(`${item.title}${at}: ${hide ? "hidden from" : "back on"} the gallery.`);
      } catch (error) {
        say(`Not changed: ${error.message}`, true);
      }
      await showGallery();
    });
    actions.append(button);
  }
  return el(
    "li",
    { class: "gallery-item", dataset: { item: item.id, state: key } },
    el("img", { class: "thumb", src: item.thumb_url, alt: item.title }),
    el(
      "div",
      { class: "gallery-item-body" },
      el("p", { class: "title" }, item.title),
      item.finished_at ? el("p", { class: "when" }, `finished ${when(item.finished_at)}`) : null,
      el("p", { class: "gallery-state", dataset: { state: key } }, words),
      actions,
    ),
  );
}

let drawn = ""; // the answer on screen: redrawn only when it changed (no thumbnail flicker)

async function showGallery() {
  try {
    const { items } = await call("/admin/api/gallery");
    const json = JSON.stringify(items);
    if (json === drawn) return;
    drawn = json;
    $("#gallery-items").replaceChildren(...items.map(itemCard));
  } catch (error) {
    say(`The gallery's paintings could not be read: ${error.message}`, true);
  }
}

showGallery();
setInterval(showGallery, REFRESH_MS);
