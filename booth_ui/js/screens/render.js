// The painting appears (render), then the result: QR code to take it home, the products to
// order (each opens the order screen, js/screens/order.js). Both states share one screen so
// the picture stays put while the panel slides in.

import { submitCapture, watchJob } from "../api.js";
import { $, el, fitFrame, sleep } from "../dom.js";
import { galleryOptOut } from "../gallery_optout.js";
import { t } from "../strings.js";
import { productIcon, productName } from "./order.js";
const STALL_S = 180; // a running job unchanged this long: the failsafe takes over

/**
 * Two stacked <img> layers: a new picture decodes in the hidden one, then fades in on top
 * while the old one stays opaque beneath it (no dark frame in between).
 */
class ArtFrame {
  constructor(root) {
    this.root = root;
    this.layers = [...root.querySelectorAll(".art-layer")];
    this.front = 0;
    this.wanted = null;
  }

  clear() {
    this.wanted = null;
    for (const layer of this.layers) {
      layer.classList.remove("is-front", "is-under");
      layer.removeAttribute("src");
    }
    delete this.root.dataset.kind;
  }

  async show(url, kind) {
    if (!url || url === this.wanted) return;
    this.wanted = url;
    const next = this.layers[1 - this.front];
    next.classList.remove("is-front", "is-under");
    next.src = url;
    try {
      await next.decode();
    } catch {
      return; // a preview that failed to load, or one overtaken by a newer one
    }
    if (this.wanted !== url) return;
    fitFrame(this.root, next);
    const current = this.layers[this.front];
    current.classList.replace("is-front", "is-under");
    next.classList.add("is-front");
    this.front = 1 - this.front;
    this.root.dataset.kind = kind;
  }
}

export function artStates(booth) {
  const screen = $("#art");
  const frame = new ArtFrame($("#art-frame"));
  const title = $("#art-title");
  const status = $("#art-status");
  const bar = $("#art-progress");
  const setProgress = (value) => {
    bar.style.transform = `scaleX(${Math.max(0, Math.min(1, value))})`;
  };

  // What the guest reads while waiting: the queue, then what the painter is doing.
  function describe(job) {
    if (job.status === "done") return t("render.done");
    if (job.status === "queued" && job.queue_position > 1) {
      return t("render.queued_many", { n: job.queue_position });
    }
    if (job.status === "queued" && job.queue_position === 1) return t("render.queued_one");
    if (job.stage === "painting" || (job.fast_url && job.status === "running")) {
      return t(job.fast_url ? "render.refining" : "render.painting");
    }
    const stages = {
      cutout: "render.cutout",
      compose: "render.compose",
      saving: "render.saving",
      interrupted: "render.interrupted",
    };
    if (stages[job.stage]) return t(stages[job.stage]);
    return job.fast_url ? t("render.refining") : t("render.next");
  }

  const render = {
    screen: "art",
    step: "result",
    idle: false, // the guest is watching; the idle clock starts again at the result
    async enter(_data, signal) {
      const { session } = booth;
      screen.dataset.phase = "render";
      title.textContent = t("render.title");
      status.textContent = t("render.sending");
      setProgress(0);
      frame.clear();
      frame.show(session.photoUrl, "photo");

      if (!session.capture) {
        try {
          session.capture = await submitCapture({
            photo: session.photo,
            filename: session.filename,
            style: session.style,
            scene: session.scene,
            source: session.source,
          });
        } catch (error) {
          if (signal.aborted) return;
          // A refused photo (4xx: the server's reason) needs another photo; a busy booth or a
          // full disk (503, 507, 408) says so and keeps the photo to try again; anything else
          // may be tried again as is.
          const again = () => booth.machine.go("render");
          if (error.isBadInput) {
            const refused = new Error(`${t("error.bad_photo")} ${error.message}`);
            booth.machine.fail(refused, () => booth.machine.go("camera"));
          } else if (error.isTemporary) {
            const reason = { 507: "error.disk_full", 408: "error.too_slow" }[error.status];
            booth.machine.fail(new Error(t(reason || "error.busy")), again, { kept: true });
          } else booth.machine.fail(error, again, { kept: true });
          return;
        }
        if (signal.aborted) return;
      }

      // A running job whose state stands still this long is stuck: tell the guest rather than
      // wait forever. (Waiting in the queue is not stuck; the server's heartbeats watch that.)
      let stall = null;
      const watchdog = (job) => {
        clearTimeout(stall);
        if (job?.status !== "running") return;
        stall = setTimeout(() => {
          booth.machine.fail(new Error(t("error.stalled")), () => booth.machine.go("render"), {
            kept: true,
          });
        }, STALL_S * 1000);
      };
      signal.addEventListener("abort", () => clearTimeout(stall));

      const update = async (job) => {
        if (signal.aborted) return;
        watchdog(job);
        session.job = job;
        status.textContent = describe(job);
        screen.dataset.jobStatus = job.status;
        setProgress(job.status === "done" ? 1 : job.progress || 0);
        if (job.status === "failed" || job.status === "cancelled") {
          session.capture = null; // "try again" sends the same photo as a new capture
          const error = new Error(job.error || t("error.render_failed"));
          booth.machine.fail(error, () => booth.machine.go("render"), { kept: true });
          return;
        }
        if (job.waiting_for_painter) {
          // No render worker is alive: say so, with the hint for the staff. The job stays
          // queued and keeps the photo, so "try again" follows this same job (session.capture
          // is kept), which runs as soon as a painter is back.
          booth.machine.fail(new Error(t("error.no_painter")), () => booth.machine.go("render"), {
            kept: true,
          });
          return;
        }
        if (job.final_url) frame.show(job.final_url, "final");
        else if (job.preview_url) frame.show(job.preview_url, "preview"); // versioned by the server
        else if (job.fast_url) frame.show(job.fast_url, "fast");
        if (job.status === "done") {
          await sleep(1400); // a moment to admire it before the panel slides in
          if (!signal.aborted) booth.machine.go("result", { job });
        }
      };
      const watcher = watchJob(session.capture, update, (error) => {
        if (signal.aborted) return;
        if (error.status === 404) session.capture = null; // gone: send the photo again
        booth.machine.fail(error, () => booth.machine.go("render"), { kept: true });
      });
      signal.addEventListener("abort", () => watcher.stop());
    },
  };

  function orderButton(product, signal) {
    const button = el(
      "button",
      { class: "order", type: "button", dataset: { product: product.name } },
      productIcon(product.name),
      el("span", {}, productName(product)),
    );
    button.addEventListener("click", () => booth.machine.go("order", { product: product.name }), {
      signal,
    });
    return button;
  }

  const result = {
    screen: "art",
    step: "result",
    enter(data, signal) {
      const job = data.job ?? booth.session.job; // back from ordering: the same painting
      // The painting glides into its place as the panel arrives.
      const reveal = () => {
        screen.dataset.phase = "result";
      };
      if (document.startViewTransition) {
        // Skipped (say the screen rotates meanwhile): the page simply changes without it.
        document.startViewTransition(reveal).ready.catch(() => {});
      } else {
        reveal();
      }
      title.textContent = t("result.title");
      const style = booth.config.styles.find((item) => item.name === booth.session.style);
      status.textContent = style ? t("result.after", style) : "";
      if (job?.final_url) frame.show(job.final_url, "final");
      $("#qr").src = job?.qr_url ?? "";
      galleryOptOut(booth, signal); // "Don't show me on the gallery"
      const numbers = booth.session.orders.map((order) => order.number);
      const note = $("#order-status");
      note.dataset.tone = "ok";
      note.textContent = numbers.length ? t("result.orders_so_far", { numbers: numbers.join(", ") }) : "";
      $("#orders").replaceChildren(...booth.config.products.map((product) => orderButton(product, signal)));
      $("#again").addEventListener("click", () => booth.machine.go("style"), { signal });
      $("#done").addEventListener("click", () => booth.machine.go("attract"), { signal });
    },
  };

  return { render, result };
}
