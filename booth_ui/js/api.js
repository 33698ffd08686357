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

async function request(url, options = {}) {
  let response;
  try {
    response = await fetch(url, { cache: "no-store", ...options });
  } catch {
    throw new ApiError("network unreachable", { code: "network" });
  }
  const isJson = (response.headers.get("content-type") || "").includes("json");
  const body = isJson ? await response.json().catch(() => null) : null;
  if (!response.ok) {
    const message = body?.error || `${response.status} ${response.statusText}`;
    throw new ApiError(message, { status: response.status, code: body?.code || "http" });
  }
  return body;
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

/** Order a product print of a capture; resolves to {export_id, product, files}. */
export function placeOrder(captureId, product, options = {}) {
  return request(`/api/captures/${encodeURIComponent(captureId)}/orders`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ product, options }),
  });
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
