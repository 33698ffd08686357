// The booth: wires the state machine, the screens, the camera and the idle timer together.

import { ApiError, getConfig } from "./api.js";
import { Camera } from "./camera.js";
import { $ } from "./dom.js";
import { IdleTimer } from "./idle.js";
import { Machine } from "./machine.js";
import { artStates } from "./screens/render.js";
import { attractState } from "./screens/attract.js";
import { cameraState } from "./screens/camera.js";
import { failsafeState } from "./screens/failsafe.js";
import { orderStates } from "./screens/order.js";
import { buildPickScreens, sceneState, styleState } from "./screens/pick.js";
import { reviewState } from "./screens/review.js";
import { applyStrings, loadStrings, t } from "./strings.js";

// Where each state may go. Any state may also fall into "failsafe"; the idle timeout goes home.
const TRANSITIONS = {
  boot: ["attract"],
  attract: ["style"],
  style: ["scene", "attract"],
  scene: ["camera", "style", "attract"],
  camera: ["review", "scene", "attract"],
  review: ["render", "camera", "attract"],
  render: ["finishing", "result", "attract"],
  // The fast picture with the panel while the HQ painting is still being made: the guest may
  // leave (attract: the painting goes on in the queue), order, or stay until it is done.
  finishing: ["result", "style", "attract", "order"],
  result: ["style", "attract", "order"],
  order: ["confirm", "finishing", "result", "attract"],
  confirm: ["ordered", "order", "attract"],
  ordered: ["order", "attract"],
  failsafe: ["boot", "attract", "style", "scene", "camera", "review", "render", "finishing", "result"],
};
const CAMERA_STATES = new Set(["camera", "review"]);
const IDLE_WARNING_S = 10;
const BOOT_RETRY_S = 5;

/** No zoom, no selection, no context menu, no drag: a kiosk, not a web page. */
function lockKiosk() {
  const block = (event) => event.preventDefault();
  for (const type of ["contextmenu", "selectstart", "dragstart", "gesturestart", "dblclick"]) {
    document.addEventListener(type, block);
  }
  document.addEventListener("wheel", (event) => event.ctrlKey && event.preventDefault(), {
    passive: false,
  });
  document.addEventListener("touchmove", (event) => event.touches.length > 1 && event.preventDefault(), {
    passive: false,
  });
}

/** A capture's ordering: the product on screen, the options chosen per product, the orders placed. */
const noOrders = () => ({ product: null, drafts: {}, orders: [] });

function createBooth() {
  const booth = {
    config: null,
    session: {},
    camera: new Camera($("#camera-video")),
    newSession() {
      if (booth.session.photoUrl) URL.revokeObjectURL(booth.session.photoUrl);
      booth.session = { style: null, scene: null, photo: null, photoUrl: null, ...noOrders() };
    },
    /** A new photo (camera or upload) replaces the old one and anything made from it. */
    setPhoto(photo, source, filename) {
      if (booth.session.photoUrl) URL.revokeObjectURL(booth.session.photoUrl);
      Object.assign(booth.session, {
        photo,
        source,
        filename,
        photoUrl: URL.createObjectURL(photo),
        capture: null,
        job: null,
        ...noOrders(),
      });
    },
    /** The sentence a guest sees for an error. */
    describe(error) {
      if (error instanceof ApiError && error.code === "network") return t("error.network");
      if (error instanceof ApiError && error.status >= 500) return t("error.server");
      return error?.message || t("error.render_failed");
    },
  };
  booth.newSession();

  const { render, finishing, result } = artStates(booth);
  const { order, confirm, ordered } = orderStates(booth);
  const states = {
    boot: {
      screen: "attract",
      async enter() {
        try {
          booth.config = await getConfig();
        } catch (error) {
          booth.machine.fail(new Error(t("error.config")), () => booth.machine.go("boot"), {
            autoRetryS: BOOT_RETRY_S,
          });
          console.error(error);
          return;
        }
        // Warm the browser cache so the choice screens show their pictures at once.
        for (const item of [...booth.config.styles, ...booth.config.scenes]) {
          if (item.thumb_url) new Image().src = item.thumb_url;
        }
        booth.machine.go("attract");
      },
    },
    attract: attractState(booth),
    style: { step: "style", back: "attract", ...styleState(booth) },
    scene: { step: "scene", back: "style", ...sceneState(booth) },
    camera: cameraState(booth),
    review: reviewState(booth),
    render,
    finishing,
    result,
    // Back from ordering: to the panel as the painting now is (still being finished, or done).
    order: { ...order, back: () => (booth.session.job?.status === "done" ? "result" : "finishing") },
    confirm,
    ordered,
    failsafe: failsafeState(booth),
  };

  const idleOverlay = $("#idle");
  booth.idle = new IdleTimer({
    timeoutS: 60,
    warnS: IDLE_WARNING_S,
    onWarn: (secondsLeft) => {
      $("#idle-body").textContent = t("idle.body", { s: secondsLeft });
      idleOverlay.hidden = false;
    },
    onActive: () => {
      idleOverlay.hidden = true;
    },
    onTimeout: () => {
      idleOverlay.hidden = true;
      booth.machine.go("attract");
    },
  });
  $("#idle-stay").addEventListener("click", () => booth.idle.poke());

  const back = $("#back");
  back.addEventListener("click", () => {
    const wanted = states[booth.machine.current]?.back;
    const target = typeof wanted === "function" ? wanted() : wanted;
    if (target) booth.machine.go(target);
  });

  booth.machine = new Machine(states, TRANSITIONS, (name, state) => {
    document.body.dataset.state = name;
    for (const screen of document.querySelectorAll(".screen")) {
      screen.classList.toggle("is-active", screen.dataset.screen === state.screen);
    }
    document.body.dataset.step = state.step ?? "";
    const steps = [...document.querySelectorAll("#steps li")];
    const current = steps.findIndex((item) => item.dataset.step === state.step);
    steps.forEach((item, index) => {
      item.classList.toggle("is-current", index === current);
      item.classList.toggle("is-done", index < current);
    });
    back.classList.toggle("is-hidden", !state.back);
    if (!CAMERA_STATES.has(name)) booth.camera.stop();
    const idle = booth.config && name !== "attract" && name !== "boot" && state.idle !== false;
    if (idle) {
      booth.idle.timeoutS = booth.config.idle_timeout_s;
      booth.idle.arm();
    } else {
      booth.idle.disarm();
    }
  });
  return booth;
}

async function start() {
  lockKiosk();
  const lang = new URLSearchParams(location.search).get("lang") || "en";
  try {
    await loadStrings(lang);
  } catch (error) {
    console.error("strings could not be loaded", error);
  }
  buildPickScreens();
  applyStrings();
  const booth = createBooth();
  window.booth = booth; // for the operator's console and the browser tests
  booth.machine.go("boot");
}

start();
