// The phone page's script (the page itself is written by kiosk/download.py; the CSP allows no
// inline script). Two jobs: the Share button, and keeping a live page (a painting or an order
// still being made) up to date by fetching the page again and swapping in what changed, so
// it never reloads under the guest's thumb.

const live = () => document.body.dataset.live === "1";
const refreshMs = () => 1000 * (Number(document.body.dataset.refreshS) || 4);

/** Copy text without the Clipboard API, which phones only offer on https. */
function copyText(text) {
  if (navigator.clipboard?.writeText) return navigator.clipboard.writeText(text);
  const area = Object.assign(document.createElement("textarea"), { value: text, readOnly: true });
  document.body.append(area);
  area.select();
  const copied = document.execCommand("copy");
  area.remove();
  return copied ? Promise.resolve() : Promise.reject(new Error("copy refused"));
}

/**
 * Share the painting itself where the phone can (Web Share with files: the file is fetched
 * beforehand, as a share must start within the tap), else share the link, else copy it.
 */
async function setUpShare() {
  const button = document.querySelector("#share");
  if (!button) return;
  const { file: url, name, type } = button.dataset;
  let share = null;
  if (navigator.canShare) {
    try {
      const blob = await (await fetch(url)).blob();
      const file = new File([blob], name, { type });
      if (navigator.canShare({ files: [file] })) share = { files: [file], title: document.title };
    } catch (error) {
      console.warn("the painting could not be fetched for sharing", error);
    }
  }
  if (!share && navigator.share) share = { title: document.title, url: location.href };
  if (share) {
    button.addEventListener("click", () => navigator.share(share).catch(() => {}));
  } else {
    button.textContent = "Copy link";
    button.addEventListener("click", () =>
      copyText(location.href).then(
        () => (button.textContent = "Link copied"),
        () => (button.textContent = location.href),
      ),
    );
  }
  button.dataset.mode = share?.files ? "file" : share ? "link" : "copy";
  button.hidden = false;
}

/** What identifies the painting part of a page: a new picture or offer replaces it whole. */
function paintingKey(doc) {
  const picture = doc.querySelector("#painting")?.getAttribute("src");
  const offer = doc.querySelector("#download")?.getAttribute("href");
  return `${picture} ${offer}`;
}

async function refresh() {
  let next;
  try {
    const response = await fetch(location.href, { cache: "no-store" });
    if (!response.ok && response.status !== 404) throw new Error(`${response.status}`);
    next = new DOMParser().parseFromString(await response.text(), "text/html");
    if (!next.querySelector("main")) throw new Error("not the phone page");
  } catch (error) {
    console.warn("the page could not be refreshed; trying again", error);
    setTimeout(refresh, refreshMs());
    return;
  }
  const liveNow = next.querySelector("#live");
  if (paintingKey(next) !== paintingKey(document) || !liveNow) {
    document.querySelector("main").replaceWith(document.adoptNode(next.querySelector("main")));
    setUpShare();
  } else {
    document.querySelector("#live").replaceWith(document.adoptNode(liveNow));
  }
  document.body.dataset.live = next.body.dataset.live ?? "";
  if (live()) setTimeout(refresh, refreshMs());
}

setUpShare();
if (live()) setTimeout(refresh, refreshMs());
