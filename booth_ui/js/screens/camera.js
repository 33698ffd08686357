// Camera: the live (mirrored) camera with the chosen scene hinted behind it, a countdown, the
// shot. No camera, or a guest who prefers: upload a photo file instead.

import { CameraError } from "../camera.js";
import { $, sleep } from "../dom.js";
import { label, t } from "../strings.js";

export function cameraState(booth) {
  const screen = $("#camera");
  const frame = $("#camera-frame");
  const message = $("#camera-message");
  const shoot = $("#shoot");
  const countdown = $("#countdown");
  const flash = $("#flash");
  const upload = $("#upload-input");
  const uploadButton = $("#upload-button");

  const showMessage = (text) => {
    message.textContent = text;
    frame.dataset.camera = text ? "off" : "on";
  };

  const setUploadFirst = (first) => {
    uploadButton.classList.toggle("btn-primary", first);
    uploadButton.classList.toggle("btn-secondary", !first);
  };

  async function countAndShoot(signal) {
    screen.classList.add("counting");
    shoot.disabled = true;
    try {
      for (let n = booth.config.countdown_s; n > 0; n--) {
        countdown.textContent = String(n);
        countdown.classList.remove("tick");
        void countdown.offsetWidth; // restart the pop animation
        countdown.classList.add("tick");
        await sleep(1000);
        if (signal.aborted) return;
      }
      countdown.textContent = t("camera.smile");
      flash.classList.remove("go");
      void flash.offsetWidth;
      flash.classList.add("go");
      const photo = await booth.camera.snapshot();
      if (signal.aborted) return;
      booth.setPhoto(photo, "camera", "camera.jpg");
      await sleep(250);
      if (!signal.aborted) booth.machine.go("review");
    } finally {
      countdown.textContent = "";
      countdown.classList.remove("tick");
      screen.classList.remove("counting");
      shoot.disabled = false;
    }
  }

  return {
    screen: "camera",
    step: "photo",
    back: "scene",
    async enter(_data, signal) {
      const scene = booth.config.scenes.find((item) => item.name === booth.session.scene);
      const own = !scene || scene.name === "own";
      $("#camera-scene-hint").textContent = own
        ? t("camera.own_hint")
        : t("camera.scene_hint", { scene: label(`scene.${scene.name}`, scene.title) });
      $("#backdrop").style.backgroundImage =
        !own && scene.thumb_url ? `url("${scene.thumb_url}")` : "none";

      upload.value = "";
      upload.addEventListener(
        "change",
        () => {
          const file = upload.files?.[0];
          if (!file) return;
          booth.setPhoto(file, "upload", file.name || "upload.jpg");
          booth.machine.go("review");
        },
        { signal },
      );
      shoot.addEventListener("click", () => countAndShoot(signal), { signal });
      // Without a camera the whole frame is an upload button too.
      frame.addEventListener("click", () => frame.dataset.camera === "none" && upload.click(), {
        signal,
      });

      shoot.hidden = true;
      setUploadFirst(false);
      showMessage(t("camera.starting"));
      try {
        await booth.camera.start();
      } catch (error) {
        if (signal.aborted) return;
        const reason = error instanceof CameraError ? error.reason : "none";
        showMessage(t(reason === "denied" ? "camera.denied" : "camera.none"));
        frame.dataset.camera = "none";
        setUploadFirst(true);
        return;
      }
      if (signal.aborted) return;
      showMessage("");
      shoot.hidden = false;
    },
  };
}
