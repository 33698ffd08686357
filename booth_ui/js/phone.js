// The phone page's script (the page itself is written by kiosk/download.py; the CSP allows no
// inline script). Three jobs: the Share button; the painting in the making, followed over the
// page's socket (the newest preview and the progress, then the final); and keeping a live
// page (a painting or an order still being made) up to date by fetching the page again and
// swapping in what changed, so it never reloads under the guest's thumb.

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

let timer = null;
/** The next look at the page, in `ms` (one pending look at a time). */
function schedule(ms) {
  clearTimeout(timer);
  timer = setTimeout(refresh, ms);
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
    schedule(refreshMs());
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
  if (live()) schedule(refreshMs());
}

const ACTIVE = new Set(["queued", "running"]);

/**
 * One message of the painting's socket: the sentence and the progress bar at once; a newer
 * picture once it has decoded (the old one stays until then). The final painting, or a
 * first picture the page has no place for yet, comes with the page itself (its Download).
 */
async function showMaking(making) {
  const status = document.querySelector("#making-status");
  if (status) status.textContent = making.text;
  const bar = document.querySelector("#making-progress");
  if (bar) bar.value = making.progress;
  const image = document.querySelector("#painting");
  const { picture } = making;
  if (!ACTIVE.has(making.status) || picture?.kind === "final" || (picture && !image)) {
    schedule(0);
    return;
  }
  if (!picture || image.getAttribute("src") === picture.url) return;
  const next = new Image();
  next.src = picture.url;
  try {
    await next.decode();
  } catch {
    return; // overtaken by a newer preview, or a blip: the next message brings another
  }
  const shown = document.querySelector("#painting"); // the page may have been swapped meanwhile
  if (!shown || shown.dataset.kind === "final") return;
  shown.src = picture.url;
  shown.dataset.kind = picture.kind;
}

/** Follow the painting in the making (the page names its socket only while it is made). */
function followMaking() {
  const path = document.body.dataset.ws;
  if (!path || !("WebSocket" in window)) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(new URL(path, `${scheme}://${location.host}`).href);
  socket.addEventListener("message", (event) => {
    try {
      showMaking(JSON.parse(event.data));
    } catch (error) {
      console.warn("bad painting message", error);
    }
  });
  // Over (the painting is done) or dropped: the page itself says what there is now, and
  // while it is live it keeps looking every few seconds.
  socket.addEventListener("close", () => schedule(0));
}

setUpShare();
followMaking();
if (live()) schedule(refreshMs());
