// "Don't show me on the gallery" on the result screen: the guest's choice, remembered with
// the capture on the server (PUT /api/captures/{id}/gallery, kiosk/gallery.py), so every
// gallery screen in the room leaves the painting out from its next look (a few seconds).
// The switch shows what the server holds: read when the result screen appears, and set
// back with a sentence when a change did not go through.

import { $ } from "./dom.js";
import { t } from "./strings.js";

const path = (captureId) => `/api/captures/${encodeURIComponent(captureId)}/gallery`;

async function choice(captureId, options = {}) {
  const response = await fetch(path(captureId), { cache: "no-store", ...options });
  if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
  return (await response.json()).show;
}

/** Wire the switch for the session's capture; `signal` ends it when the screen goes. */
export function galleryOptOut(booth, signal) {
  const button = $("#gallery-optout");
  const note = $("#gallery-optout-note");
  const captureId = booth.session.capture?.capture_id;
  button.hidden = !captureId;
  note.textContent = "";
  if (!captureId) return;
  const draw = (show) => button.setAttribute("aria-checked", String(!show));
  const known = booth.session.gallery;
  const remembered = known?.captureId === captureId ? known.show : true;
  draw(remembered);
  choice(captureId)
    .then((show) => {
      if (signal.aborted) return;
      booth.session.gallery = { captureId, show };
      draw(show);
    })
    .catch(() => {}); // the switch keeps what this booth last knew

  button.addEventListener(
    "click",
    async () => {
      const show = button.getAttribute("aria-checked") === "true"; // on: opted out, so flip
      draw(show);
      note.textContent = "";
      button.disabled = true;
      try {
        const saved = await choice(captureId, {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ show }),
        });
        booth.session.gallery = { captureId, show: saved };
        draw(saved);
      } catch (error) {
        console.warn("gallery choice not saved", error);
        draw(!show);
        note.textContent = t("gallery.optout_failed");
      } finally {
        button.disabled = false;
      }
    },
    { signal },
  );
}
