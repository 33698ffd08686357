// Choose a painting, then a scene: big cards, one touch picks and moves on.

import { $, el, fitGrid, icon, sleep } from "../dom.js";
import { label, t } from "../strings.js";

function card({ name, image, title, subtitle, selected, onPick }) {
  const picture = image
    ? el("img", {
        src: image,
        alt: "",
        draggable: "false",
        onload: (event) => event.target.classList.add("loaded"),
      })
    : el("div", { class: "card-own" }, icon(["circle", { cx: 12, cy: 8, r: 4 }], "M4 21c1-4.5 4.5-7 8-7s7 2.5 8 7"));
  const button = el(
    "button",
    { class: "card", type: "button", dataset: { name }, "aria-pressed": String(selected) },
    el("div", { class: "card-picture" }, picture),
    el("div", { class: "card-caption" }, el("strong", {}, title), subtitle ? el("span", {}, subtitle) : null),
  );
  button.addEventListener("click", () => onPick(name, button));
  return button;
}

/** Fill each empty `<section data-pick>`: a heading, a hint and the grid its cards go in,
 * the same markup for every pick screen (`#style-choices`, `#scene-choices`). */
export function buildPickScreens(root = document) {
  for (const section of root.querySelectorAll("section[data-pick]")) {
    const key = section.dataset.screen;
    section.replaceChildren(
      el(
        "div",
        { class: "screen-head" },
        el("h2", { dataset: { i18n: `${key}.title` } }),
        el("p", { dataset: { i18n: `${key}.hint` } }),
      ),
      el("div", { class: "choices-wrap" }, el("div", { class: "choices", id: `${key}-choices` })),
    );
  }
}

function pickState(booth, { screen, list, next, choices, key }) {
  const container = $(list);
  return {
    screen,
    async enter(_data, signal) {
      const pick = async (name, button) => {
        if (container.classList.contains("picked")) return;
        booth.session[key] = name;
        for (const other of container.children) other.setAttribute("aria-pressed", String(other === button));
        container.classList.add("picked");
        await sleep(220); // let the guest see the choice light up
        if (!signal.aborted) booth.machine.go(next);
      };
      const items = choices();
      container.classList.remove("picked");
      container.replaceChildren(
        ...items.map((item) => card({ ...item, selected: booth.session[key] === item.name, onPick: pick })),
      );
      // width / height of a card, caption included: taller in portrait, wider in landscape
      const aspect = () => parseFloat(getComputedStyle(container).getPropertyValue("--card-aspect")) || 1;
      const resize = () => fitGrid(container, items.length, aspect());
      window.addEventListener("resize", resize, { signal });
      requestAnimationFrame(resize);
    },
  };
}

export function styleState(booth) {
  return pickState(booth, {
    screen: "style",
    list: "#style-choices",
    next: "scene",
    key: "style",
    choices: () =>
      booth.config.styles.map((style) => ({
        name: style.name,
        image: style.thumb_url,
        title: style.title,
        subtitle: style.artist,
      })),
  });
}

export function sceneState(booth) {
  return pickState(booth, {
    screen: "scene",
    list: "#scene-choices",
    next: "camera",
    key: "scene",
    choices: () =>
      booth.config.scenes.map((scene) =>
        scene.name === "own"
          ? { name: "own", image: scene.thumb_url, title: t("scene.own"), subtitle: t("scene.own_hint") }
          : { name: scene.name, image: scene.thumb_url, title: label(`scene.${scene.name}`, scene.title) },
      ),
  });
}
