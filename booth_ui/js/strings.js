// Guest-facing strings: strings/en.json, overlaid by strings/<lang>.json when ?lang=<lang> is set.

let table = {};

async function fetchTable(lang) {
  const response = await fetch(`/ui/strings/${encodeURIComponent(lang)}.json`, { cache: "no-cache" });
  if (!response.ok) throw new Error(`strings/${lang}.json: ${response.status}`);
  return response.json();
}

/** Load English, then the requested language on top (missing keys stay English). */
export async function loadStrings(lang = "en") {
  table = await fetchTable("en");
  if (lang && lang !== "en") {
    try {
      Object.assign(table, await fetchTable(lang));
      document.documentElement.lang = lang;
    } catch (error) {
      console.warn(`no translation for ${lang}, using English`, error);
    }
  }
}

/** The string for `key`, with {placeholders} filled from `vars`. */
export function t(key, vars = {}) {
  const text = table[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in vars ? String(vars[name]) : match));
}

/** An optional translation of a name the server gives (a product, a scene), else the name. */
export function label(key, fallback) {
  return table[key] ?? fallback;
}

/** Fill every element carrying data-i18n="key" below `root`. */
export function applyStrings(root = document) {
  for (const element of root.querySelectorAll("[data-i18n]")) {
    element.textContent = t(element.dataset.i18n);
  }
}
