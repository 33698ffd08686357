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
      // A file the browser cannot even show is no photo: say so before sending anything.
      photo.addEventListener(
        "error",
        () => booth.machine.fail(new Error(t("error.not_a_photo")), () => booth.machine.go("camera")),
        { signal },
      );
      photo.src = booth.session.photoUrl;
      $("#review-note").textContent = booth.session.source === "upload" ? t("review.uploaded") : "";
      $("#retake").addEventListener("click", () => booth.machine.go("camera"), { signal });
      $("#use").addEventListener("click", () => booth.machine.go("render"), { signal });
    },
  };
}
