// Attract: the event name, the paintings drifting by, "touch to start" (the whole screen).

import { getConfig } from "../api.js";
import { $, el } from "../dom.js";

function buildWall(wall, styles) {
  wall.replaceChildren();
  const thumbs = styles.filter((style) => style.thumb_url);
  if (!thumbs.length) return;
  for (let row = 0; row < 3; row++) {
    // Each row holds the paintings twice so the drift loops seamlessly.
    const shifted = [...thumbs.slice(row * 2), ...thumbs.slice(0, row * 2)];
    const strip = el("div", { class: "wall-strip" });
    for (const style of [...shifted, ...shifted]) {
      strip.append(el("img", { src: style.thumb_url, alt: "", draggable: "false" }));
    }
    wall.append(el("div", { class: `wall-row wall-row-${row}` }, strip));
  }
}

export function attractState(booth) {
  const screen = $("#attract");
  let shownJson = null;
  const show = () => {
    const json = JSON.stringify(booth.config);
    if (json === shownJson) return;
    $("#event-name").textContent = booth.config.event_name;
    buildWall($("#attract-wall"), booth.config.styles);
    shownJson = json;
  };
  return {
    screen: "attract",
    enter(_data, signal) {
      booth.newSession();
      show();
      screen.addEventListener("click", () => booth.machine.go("style"), { signal });
      // Between guests, pick up what the operator changed (event name, paintings, timeouts).
      getConfig()
        .then((config) => {
          booth.config = config;
          if (!signal.aborted) show();
        })
        .catch(() => {}); // keep the config we have; the next guest tries again
    },
  };
}
