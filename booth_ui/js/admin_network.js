// The operator page's "Phones" panel, from GET /admin/api/network (kiosk/network.py): the
// address every QR code carries, the booth screen's and this page's, and, when phones cannot
// reach the booth (bound to loopback only, no network, a public_url on loopback…), a warning
// per problem with its fix, so it is seen before the first guest scans a code. Loaded by
// admin.html as a module of its own.

import { call } from "./admin_api.js";
import { $, el } from "./dom.js";

const REFRESH_MS = 30000; // the network rarely changes; a changed one is reported

const sentence = (text) => `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;

function link(url) {
  return el("a", { href: url, target: "_blank", rel: "noopener" }, url);
}

async function showNetwork() {
  const panel = $("#network");
  try {
    const reach = await call("/admin/api/network");
    panel.dataset.state = reach.problems.length ? "warning" : "ok";
    $("#network-summary").replaceChildren(
      "QR codes carry ", link(reach.phone_base),
      " · booth screen ", link(reach.booth_url),
      ...(reach.admin_url ? [" · this page ", link(reach.admin_url)] : []),
    );
    $("#network-lead").textContent = reach.problems.length
      ? "Phones cannot reach the booth: guests' QR codes will not open. Fix this before the doors open."
      : "";
    $("#network-problems").replaceChildren(
      ...reach.problems.map((problem) =>
        el("li", {}, el("strong", {}, sentence(problem.what)), el("span", { class: "fix" }, `Fix: ${problem.fix}.`)),
      ),
    );
  } catch (error) {
    panel.dataset.state = "unknown";
    $("#network-summary").textContent = `The network check failed: ${error.message}`;
  }
}

showNetwork();
setInterval(showNetwork, REFRESH_MS);
