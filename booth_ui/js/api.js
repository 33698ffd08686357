// The booth HTTP API (see the contract in the README): JSON in, JSON out, readable errors.

const LATER = new Set([408, 429]); // client errors that are worth retrying as they are

export class ApiError extends Error {
  /** @param {string} message  @param {{status?: number, code?: string}} details */
  constructor(message, { status = 0, code = "network" } = {}) {
    super(message);
    this.status = status;
    this.code = code;
  }

  /**
   * The guest's input was refused (a bad or damaged photo, too large, too many pixels): the
   * same photo would be refused again, so the guest needs another. 408 (the upload was too
   * slow) and 429 (too many requests) are about the moment, not the photo.
   */
  get isBadInput() {
    return this.status >= 400 && this.status < 500 && !LATER.has(this.status);
  }

  /** The booth cannot take it right now (busy, disk full, too slow): the same photo may go again. */
  get isTemporary() {
    return LATER.has(this.status) || this.status === 503 || this.status === 507;
  }
}

/** fetch(), with an unreachable server as an ApiError (an abort stays an AbortError). */
async function send(url, options) {
  try {
    return await fetch(url, options);
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new ApiError("network unreachable", { code: "network" });
  }
}

/** The error of a refused response, in the server's words when it sent JSON. */
async function refusal(response) {
  const isJson = (response.headers.get("content-type") || "").includes("json");
  const body = isJson ? await response.json().catch(() => null) : null;
  const message = body?.error || `${response.status} ${response.statusText}`;
  return new ApiError(message, { status: response.status, code: body?.code || "http" });
}

async function request(url, options = {}) {
  const response = await send(url, { cache: "no-store", ...options });
  if (!response.ok) throw await refusal(response);
  return response.json().catch(() => null);
}

export const getConfig = () => request("/api/config");

export const getJob = (statusUrl) => request(statusUrl);

/** POST the photo; resolves to {capture_id, job_id, status_url, ws_url}. */
export function submitCapture({ photo, filename, style, scene, source }) {
  const form = new FormData();
  form.append("photo", photo, filename);
  form.append("style", style);
  form.append("scene", scene);
  form.append("source", source);
  return request("/api/captures", { method: "POST", body: form });
}

const capturePath = (captureId) => `/api/captures/${encodeURIComponent(captureId)}`;

/**
 * Order one product of a capture (docs/print-orders.md); resolves to {order, title}, the
 * order with its number (`A-042`). 409: the painting is not finished; 400: a bad option.
 */
export function placeOrder(captureId, product, options, quantity = 1) {
  return request(`${capturePath(captureId)}/orders`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ product, options, quantity }),
  });
}

/** The capture's orders with their status and progress: {orders: [...]}. */
export const getOrders = (captureId) => request(`${capturePath(captureId)}/orders`);

/** Where the preview of `product` with `options` is drawn (the design on the product). */
export function previewUrl(captureId, product, options) {
  const query = new URLSearchParams(Object.entries(options).map(([k, v]) => [k, String(v)]));
  return `${capturePath(captureId)}/preview/${encodeURIComponent(product)}.png?${query}`;
}

/**
 * The preview PNG as a Blob. Fetched rather than set as an <img> src so that a refusal
 * (409 not painted yet, 400 a bad option) reaches the guest as the server's sentence.
 */
export async function getPreview(url, signal) {
  const response = await send(url, { signal });
  if (!response.ok) throw await refusal(response);
  return response.blob();
}

const FINISHED = new Set(["done", "failed", "cancelled"]);

/**
 * Follow a job: WebSocket pushes, with polling as the safety net (no socket, a dropped
 * socket, or a quiet one). Calls onUpdate(job) for every new state until it is finished, and
 * onError(error) when the job is gone (404) or the server was unreachable for `offlineMs`.
 */
export function watchJob(
  { status_url, ws_url },
  onUpdate,
  onError,
  { pollMs = 1000, offlineMs = 20_000 } = {},
) {
  let stopped = false;
  let socket = null;
  let timer = null;
  let lastSeen = Date.now();
  let lastJson = "";

  const deliver = (job) => {
    if (stopped || !job) return;
    lastSeen = Date.now();
    const json = JSON.stringify(job);
    if (json === lastJson) return;
    lastJson = json;
    if (FINISHED.has(job.status)) stop();
    onUpdate(job);
  };

  const poll = async () => {
    if (stopped) return;
    try {
      deliver(await getJob(status_url));
    } catch (error) {
      // A blip is retried (the job lives on the server); a gone job or a long silence is not.
      if (!stopped && (error.status === 404 || Date.now() - lastSeen > offlineMs)) {
        stop();
        onError(error);
      }
    }
  };

  const tick = () => {
    const socketOpen = socket && socket.readyState === WebSocket.OPEN;
    if (!socketOpen || Date.now() - lastSeen > 4 * pollMs) poll();
  };

  function stop() {
    stopped = true;
    clearInterval(timer);
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close();
  }

  if (ws_url && "WebSocket" in window) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(new URL(ws_url, `${scheme}://${location.host}`).href);
    socket.addEventListener("message", (event) => {
      try {
        deliver(JSON.parse(event.data));
      } catch (error) {
        console.warn("bad job message", error);
      }
    });
    socket.addEventListener("close", () => poll());
  }
  poll();
  timer = setInterval(tick, pollMs);
  return { stop };
}
