// Review: the photo as taken (or uploaded); retake it or use it.

import { $, fitFrame } from "../dom.js";
import { t } from "../strings.js";

export function reviewState(booth) {
  const photo = $("#review-photo");
  return {
    screen: "review",
    step: "photo",
    back: "camera",
    enter(_data, signal) {
      photo.addEventListener("load", () => fitFrame($("#review-frame"), photo), { signal });
      photo.src = booth.session.photoUrl;
      $("#review-note").textContent = booth.session.source === "upload" ? t("review.uploaded") : "";
      $("#retake").addEventListener("click", () => booth.machine.go("camera"), { signal });
      $("#use").addEventListener("click", () => booth.machine.go("render"), { signal });
    },
  };
}
