// Ordering, three states on one screen (like render and result): "order" picks the product and
// its options under a live preview, "confirm" shows what will be ordered (nothing is ordered
// before it), "ordered" shows the number to take to the print desk. The preview stays put
// while the panel beside it changes. The guest's choices live in the session, so Back, an
// error or a second order loses none of them.

import { ApiError, getPreview, placeOrder, previewUrl } from "../api.js";
import { $, el, icon } from "../dom.js";
import { label, t } from "../strings.js";

const PRODUCT_ICONS = {
  tee: ["M8 3l-5 3 2 4 3-1.5V21h8V8.5L19 10l2-4-5-3c-.5 1.5-2 2.5-4 2.5S8.5 4.5 8 3z"],
  sticker: ["M4 4h16v9l-7 7H4z", "M13 20v-7h7"],
  mug: ["M4 6h12v11a3 3 0 0 1-3 3H7a3 3 0 0 1-3-3z", "M16 9h2a3 3 0 0 1 0 6h-2"],
  photo: ["M3 5h18v14H3z", "M6 15l4-4 3 3 2-2 3 3"],
};
const FALLBACK_ICON = ["M5 7h14v13H5z", "M9 7a3 3 0 0 1 6 0"];

/** The line icon of a product (the result panel's buttons and the product tabs). */
export const productIcon = (name) => icon(...(PRODUCT_ICONS[name] ?? FALLBACK_ICON));

/** A product's name for the guest: a translation (`product.<name>`) or the server's title. */
export const productName = (product) => label(`product.${product.name}`, product.title);

/**
 * An option's choices and default from /api/config: a list with the default first, or
 * {choices, default} when the server keeps the choices in their natural order (sizes XS–3XL).
 */

const optionName = (option) => label(`option.${option}`, option);
const choiceName = (option, value) => label(`choice.${option}.${value}`, String(value));

/** "T-shirt · M · White · Whole picture": a product and its options in one line. */
export function describeOrder(product, options) {
  const values = Object.entries(options).map(([option, value]) => choiceName(option, value));
  return [productName(product), ...values].join(" · ");
}

/**
 * The preview image: fetched as a Blob (so a refusal is the server's sentence, not a broken
 * image), shown when decoded; while the next one is drawn the last one stays, dimmed, under a
 * spinner. A newer request overtakes an older one; previews already seen are kept for the
 * capture, so flipping an option back is instant.
 */
class Preview {
  constructor(root) {
    this.root = root;
    this.image = $("img", root);
    this.message = $(".preview-message", root);
    this.cache = new Map(); // url -> object URL
    this.captureId = null;
    this.wanted = null;
    this.loading = null;
  }

  forCapture(captureId) {
    if (captureId === this.captureId) return;
    for (const objectUrl of this.cache.values()) URL.revokeObjectURL(objectUrl);
    this.cache.clear();
    this.image.removeAttribute("src");
    this.captureId = captureId;
  }

  async show(url, describe) {
    if (url === this.wanted) return;
    this.wanted = url;
    this.loading?.abort();
    this.root.dataset.loading = "";
    delete this.root.dataset.failed;
    this.message.textContent = t("order.preview_loading");
    let objectUrl = this.cache.get(url);
    if (!objectUrl) {
      const loading = new AbortController();
      this.loading = loading;
      try {
        objectUrl = URL.createObjectURL(await getPreview(url, loading.signal));
      } catch (error) {
        if (loading.signal.aborted || this.wanted !== url) return;
        this.wanted = null; // the same choice may be tried again
        delete this.root.dataset.loading;
        this.root.dataset.failed = "";
        this.message.textContent = t("order.preview_failed", { error: describe(error) });
        return;
      }
      this.cache.set(url, objectUrl);
    }
    if (this.wanted !== url) return;
    this.image.src = objectUrl;
    await this.image.decode().catch(() => {});
    if (this.wanted !== url) return;
    this.root.dataset.shown = url; // what is on screen (the browser tests read it)
    delete this.root.dataset.loading;
    this.message.textContent = "";
  }
}

export function orderStates(booth) {
  const screen = $("#order");
  const preview = new Preview($("#preview"));
  const title = $("#order-title");
  const hint = $("#order-hint");
  const products = () => booth.config.products;
  const productOf = (name) => products().find((item) => item.name === name);

  /** The guest's choice for each product so far, each option at its default until touched. */
  function draftOf(name) {
    const { drafts } = booth.session;
    if (!drafts[name]) {
      const specs = Object.entries(productOf(name).options);
      drafts[name] = Object.fromEntries(specs.map(([option, spec]) => [option, spec.default]));
    }
    return drafts[name];
  }

  /** Copies of a product printed at the booth (the photo print: 1 to its copies_max), kept
   * beside the drafts (not an option: the order's quantity). */
  const copiesKey = (name) => `${name}.copies`;
  const copiesOf = (name) => booth.session.drafts[copiesKey(name)] ?? 1;

  const current = () => {
    const product = productOf(booth.session.product) ?? products()[0];
    return { product, options: draftOf(product.name) };
  };

  function refreshPreview() {
    const { product, options } = current();
    const captureId = booth.session.capture.capture_id;
    preview.forCapture(captureId);
    preview.show(previewUrl(captureId, product.name, options), describe);
  }

  /** A refused order or preview in a sentence: what happened and what the guest can do. */
  function describe(error) {
    if (error instanceof ApiError && error.status === 409) return t("order.not_ready");
    if (error instanceof ApiError && error.isBadInput) return t("order.refused", { error: error.message });
    return booth.describe(error);
  }

  function pressed(container, button) {
    for (const other of container.children) other.setAttribute("aria-pressed", String(other === button));
  }

  function buildTabs(signal) {
    const tabs = $("#product-tabs");
    tabs.replaceChildren(
      ...products().map((product) => {
        const tab = el(
          "button",
          {
            class: "product-tab",
            type: "button",
            role: "radio",
            dataset: { product: product.name },
            "aria-pressed": String(product.name === current().product.name),
          },
          productIcon(product.name),
          el("span", {}, productName(product)),
        );
        tab.addEventListener(
          "click",
          () => {
            booth.session.product = product.name;
            pressed(tabs, tab);
            buildOptions(signal);
            refreshPreview();
          },
          { signal },
        );
        return tab;
      }),
    );
  }

  function buildOptions(signal) {
    const { product, options } = current();
    const groups = Object.entries(product.options).map(([option, spec]) => {
      const row = el("div", { class: "choices-row", role: "radiogroup" });
      for (const value of spec.choices) {
        const chip = el(
          "button",
          {
            class: "choice",
            type: "button",
            role: "radio",
            dataset: { option, value: String(value) },
            "aria-pressed": String(options[option] === value),
          },
          choiceName(option, value),
        );
        if (option === "colour") chip.dataset.swatch = String(value);
        chip.addEventListener(
          "click",
          () => {
            options[option] = value;
            pressed(row, chip);
            refreshPreview();
          },
          { signal },
        );
        row.append(chip);
      }
      const name = el("span", { class: "option-name", id: `option-${option}` }, optionName(option));
      row.setAttribute("aria-labelledby", name.id);
      return el("div", { class: "option", dataset: { option } }, name, row);
    });
    if (product.copies_max > 1) groups.push(copiesGroup(product, signal));
    $("#option-groups").replaceChildren(...groups);
  }

  function copiesGroup(product, signal) {
    const row = el("div", { class: "choices-row", role: "radiogroup" });
    for (let count = 1; count <= product.copies_max; count += 1) {
      const chip = el(
        "button",
        {
          class: "choice",
          type: "button",
          role: "radio",
          dataset: { option: "copies", value: String(count) },
          "aria-pressed": String(copiesOf(product.name) === count),
        },
        String(count),
      );
      chip.addEventListener(
        "click",
        () => {
          booth.session.drafts[copiesKey(product.name)] = count;
          pressed(row, chip);
        },
        { signal },
      );
      row.append(chip);
    }
    const name = el("span", { class: "option-name", id: "option-copies" }, optionName("copies"));
    row.setAttribute("aria-labelledby", name.id);
    return el("div", { class: "option", dataset: { option: "copies" } }, name, row);
  }

  const order = {
    screen: "order",
    step: "result",
    back: "result",
    enter({ product } = {}, signal) {
      if (product) booth.session.product = product;
      screen.dataset.phase = "choose";
      title.textContent = t("order.title");
      hint.textContent = t("order.hint");
      buildTabs(signal);
      buildOptions(signal);
      refreshPreview();
      $("#order-next").addEventListener("click", () => booth.machine.go("confirm"), { signal });
    },
  };

  const confirm = {
    screen: "order",
    step: "result",
    back: "order",
    enter(_data, signal) {
      const { product, options } = current();
      screen.dataset.phase = "confirm";
      title.textContent = t("order.confirm_title");
      hint.textContent = t("order.confirm_hint");
      const rows = [
        [t("order.product"), productName(product)],
        ...Object.entries(options).map(([option, value]) => [optionName(option), choiceName(option, value)]),
        [product.copies_max ? optionName("copies") : t("order.quantity"), String(copiesOf(product.name))],
      ];
      $("#order-summary").replaceChildren(
        ...rows.map(([name, value]) => el("div", {}, el("dt", {}, name), el("dd", {}, value))),
      );
      const note = $("#order-error");
      const button = $("#confirm-order");
      note.textContent = "";
      delete note.dataset.tone;
      button.disabled = false;
      $("#confirm-back").addEventListener("click", () => booth.machine.go("order"), { signal });
      button.addEventListener(
        "click",
        async () => {
          button.disabled = true;
          note.dataset.tone = "info";
          note.textContent = t("order.sending");
          let placed;
          try {
            const quantity = copiesOf(product.name);
            placed = await placeOrder(booth.session.capture.capture_id, product.name, { ...options }, quantity);
          } catch (error) {
            if (signal.aborted) return;
            button.disabled = false; // the same choice may be sent again
            note.dataset.tone = "error";
            note.textContent = t("order.failed", { error: describe(error) });
            return;
          }
          // Recorded even if the guest has left meanwhile: the order exists on the server.
          booth.session.orders.push(placed.order);
          if (!signal.aborted) booth.machine.go("ordered", { order: placed.order, product });
        },
        { signal },
      );
    },
  };

  const ordered = {
    screen: "order",
    step: "result",
    enter({ order: placed, product }, signal) {
      screen.dataset.phase = "done";
      title.textContent = t("order.done_title");
      hint.textContent = describeOrder(product, placed.options);
      $("#ticket-number").textContent = placed.number;
      // A photo print comes out of the booth's printer: queued, or (printer stopped, missing
      // or off) the host hands it over; the server says which, without waiting on CUPS.
      const note = placed.print_note
        ? t(`order.print_${placed.print_note}`)
        : t("order.painting_note", { product: productName(product) });
      $("#ticket-note").textContent = note;
      screen.dataset.printNote = placed.print_note ?? "";
      $("#ticket-qr").src = booth.session.job?.qr_url ?? "";
      $("#order-another").addEventListener("click", () => booth.machine.go("order"), { signal });
      $("#order-finish").addEventListener("click", () => booth.machine.go("attract"), { signal });
    },
  };

  return { order, confirm, ordered };
}
