// Attract: the event name, the paintings drifting by, "touch to start" (the whole screen).

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
  let builtFor = null;
  return {
    screen: "attract",
    enter(_data, signal) {
      booth.newSession();
      if (builtFor !== booth.config) {
        $("#event-name").textContent = booth.config.event_name;
        buildWall($("#attract-wall"), booth.config.styles);
        builtFor = booth.config;
      }
      screen.addEventListener("click", () => booth.machine.go("style"), { signal });
    },
  };
}
