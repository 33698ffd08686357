// Tiny DOM helpers shared by the screens.

export const $ = (selector, root = document) => root.querySelector(selector);

/** Create an element: el("div", {class: "x", onclick: f}, child, "text"). */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.filter((child) => child !== null && child !== undefined));
  return element;
}

const SVG = "http://www.w3.org/2000/svg";

/** An inline line icon from path data ("M..." strings or [tag, attrs] pairs). */
export function icon(...shapes) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  for (const shape of shapes) {
    const [tag, attributes] = typeof shape === "string" ? ["path", { d: shape }] : shape;
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    svg.append(node);
  }
  return svg;
}

/** Shape a .frame like its picture. */
export function fitFrame(frame, image) {
  if (image.naturalWidth && image.naturalHeight) {
    frame.style.setProperty("--aspect", `${image.naturalWidth} / ${image.naturalHeight}`);
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Pick columns so `count` cards of width/height `aspect` fill the container's parent as large
 * as they can without scrolling; sets --cols and --card-w on the container.
 */
export function fitGrid(container, count, aspect) {
  const gap = parseFloat(getComputedStyle(container).columnGap) || 0;
  const width = container.parentElement.clientWidth;
  const height = container.parentElement.clientHeight;
  let best = { cols: 1, size: 0 };
  for (let cols = 1; cols <= count; cols++) {
    const rows = Math.ceil(count / cols);
    const cellW = (width - gap * (cols - 1)) / cols;
    const cellH = (height - gap * (rows - 1)) / rows;
    const cardW = Math.min(cellW, cellH * aspect);
    if (cardW > best.size) best = { cols, size: cardW };
  }
  container.style.setProperty("--cols", best.cols);
  container.style.setProperty("--card-w", `${Math.floor(best.size)}px`);
}
