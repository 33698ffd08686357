// The painting appears (render), then the result: QR code to take it home, the products to
// order (each opens the order screen, js/screens/order.js). The panel comes with the fast
// picture ("finishing": the HQ painting is still being made, and the guest may leave with
// the QR code, order, or stay and watch it appear), then "result" once it is done. The
// states share one screen so the picture stays put while the panel slides in.

import { submitCapture, watchJob } from "../api.js";
import { $, el, fitFrame, sleep } from "../dom.js";
import { galleryOptOut } from "../gallery_optout.js";
import { t } from "../strings.js";
import { productIcon, productName } from "./order.js";
const STALL_S = 180; // a running job unchanged this long: the failsafe takes over
const FAST_ADMIRE_MS = 900; // the fast picture alone on screen, before the panel slides in

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

  /** A failed or cancelled painting: the failsafe, which sends the same photo again. */
  function failed(job) {
    if (job.status !== "failed" && job.status !== "cancelled") return false;
    booth.session.capture = null; // "try again" sends the same photo as a new capture
    const error = new Error(job.error || t("error.render_failed"));
    booth.machine.fail(error, () => booth.machine.go("render"), { kept: true });
    return true;
  }

  /** The newest picture of the job, faded in over the last (resolves once it is shown). */
  function showNewest(job) {
    if (job.final_url) return frame.show(job.final_url, "final");
    if (job.preview_url) return frame.show(job.preview_url, "preview"); // versioned by the server
    if (job.fast_url) return frame.show(job.fast_url, "fast");
    return Promise.resolve();
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

      let handedOver = false;
      const update = async (job) => {
        if (signal.aborted) return;
        watchdog(job);
        session.job = job;
        status.textContent = describe(job);
        screen.dataset.jobStatus = job.status;
        setProgress(job.status === "done" ? 1 : job.progress || 0);
        if (failed(job)) return;
        if (job.waiting_for_painter && !job.fast_url) {
          // No render worker is alive: say so, with the hint for the staff. The job stays
          // queued and keeps the photo, so "try again" follows this same job (session.capture
          // is kept), which runs as soon as a painter is back.
          booth.machine.fail(new Error(t("error.no_painter")), () => booth.machine.go("render"), {
            kept: true,
          });
          return;
        }
        const shown = showNewest(job);
        if (job.status === "done") {
          await sleep(1400); // a moment to admire it before the panel slides in
          if (!signal.aborted) booth.machine.go("result", { job });
        } else if (job.fast_url && !handedOver) {
          // The fast picture is the guest's to take: the panel (QR code, orders, "I'm done")
          // comes with it while the HQ painting goes on in the queue.
          handedOver = true;
          await shown;
          await sleep(FAST_ADMIRE_MS);
          if (!signal.aborted) booth.machine.go("finishing", { job: session.job });
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

  /**
   * The result panel beside the painting: the QR code with its sentence (the painting still
   * being finished, or finished), the products, the orders so far, "New photo", "I'm done".
   */
  function showPanel(job, signal, finished) {
    // The painting glides into its place as the panel arrives (once: finishing -> result
    // keeps it where it is).
    const reveal = () => {
      screen.dataset.phase = "result";
    };
    if (screen.dataset.phase !== "result") {
      if (document.startViewTransition) {
        // Skipped (say the screen rotates meanwhile): the page simply changes without it.
        document.startViewTransition(reveal).ready.catch(() => {});
      } else {
        reveal();
      }
    }
    title.textContent = t("result.title");
    $("#qr-title").textContent = t(finished ? "result.scan" : "result.finishing_scan");
    $("#qr-hint").textContent = t(finished ? "result.scan_hint" : "result.finishing_hint");
    $("#qr").src = job?.qr_url ?? "";
    galleryOptOut(booth, signal); // "Don't show me on the gallery"
    const numbers = booth.session.orders.map((order) => order.number);
    const note = $("#order-status");
    note.dataset.tone = "ok";
    note.textContent = numbers.length ? t("result.orders_so_far", { numbers: numbers.join(", ") }) : "";
    $("#orders").replaceChildren(...booth.config.products.map((product) => orderButton(product, signal)));
    $("#again").addEventListener("click", () => booth.machine.go("style"), { signal });
    // Leaving never cancels the painting: it goes on in the queue, to the phone page.
    $("#done").addEventListener("click", () => booth.machine.go("attract"), { signal });
  }

  /**
   * The fast picture with the panel while the HQ painting is still being made: the previews
   * fade in as they come, and the final one moves on to "result" when the guest is still
   * here. The idle clock runs: a guest who walks away sends the booth home, the painting
   * carries on in the queue.
   */
  const finishing = {
    screen: "art",
    step: "result",
    enter(data, signal) {
      const { session } = booth;
      const job = data.job ?? session.job; // back from ordering: the same painting
      showPanel(job, signal, false);
      const update = async (next) => {
        if (signal.aborted) return;
        session.job = next;
        status.textContent = describe(next);
        setProgress(next.status === "done" ? 1 : next.progress || 0);
        if (failed(next)) return;
        await showNewest(next);
        if (next.status === "done" && !signal.aborted) booth.machine.go("result", { job: next });
      };
      update(job);
      const watcher = watchJob(session.capture, update, (error) => {
        if (signal.aborted) return;
        booth.machine.fail(error, () => booth.machine.go("finishing"), { kept: true });
      });
      signal.addEventListener("abort", () => watcher.stop());
    },
  };

  const result = {
    screen: "art",
    step: "result",
    enter(data, signal) {
      const job = data.job ?? booth.session.job; // back from ordering: the same painting
      showPanel(job, signal, true);
      const style = booth.config.styles.find((item) => item.name === booth.session.style);
      status.textContent = style ? t("result.after", style) : "";
      if (job?.final_url) frame.show(job.final_url, "final");
    },
  };

  return { render, finishing, result };
}
