// The operator page's calls to the admin API. The browser signs in once with the admin
// password (HTTP Basic); the server answers with a session cookie that these calls ride on.
// Every change (POST, PUT) also carries the session's CSRF token in a header, which no other
// site's page can read or send; a token refused because the session ended (expired, or the
// server restarted) is fetched anew and the call sent once more.

const SAFE = new Set(["GET", "HEAD"]);

let token = null; // a promise of {csrf_token, header}

function csrf(renew = false) {
  if (renew || token === null) {
    token = fetch("/admin/api/session", { cache: "no-store" }).then(async (response) => {
      const body = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
      return body;
    });
    token.catch(() => { token = null; });
  }
  return token;
}

async function send(path, options, renew) {
  const method = (options.method || "GET").toUpperCase();
  const headers = options.body ? { "Content-Type": "application/json" } : {};
  if (!SAFE.has(method)) {
    const { csrf_token: value, header } = await csrf(renew);
    headers[header] = value;
  }
  return fetch(path, { ...options, method, headers });
}

async function failure(response) {
  const body = await response.json().catch(() => ({}));
  return new Error(body.error || `${response.status} ${response.statusText}`);
}

/** The response of an admin call, the CSRF token renewed once if the session had ended. */
async function request(path, options = {}) {
  const response = await send(path, options, false);
  if (response.status !== 403) return response;
  const body = await response.clone().json().catch(() => ({}));
  return body.code === "csrf" ? send(path, options, true) : response;
}

/** An admin call's JSON answer; its error message (in words) when it fails. */
export async function call(path, options = {}) {
  const response = await request(path, options);
  if (!response.ok) throw await failure(response);
  return response.json().catch(() => ({}));
}

/** POST ``body`` and save the file the server answers with (a ZIP) under its own name. */
export async function download(path, body) {
  const response = await request(path, { method: "POST", body: JSON.stringify(body) });
  if (!response.ok) throw await failure(response);
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] || "download";
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return name;
}
