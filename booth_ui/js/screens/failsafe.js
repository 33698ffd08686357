// Failsafe: a clear message, the way back home, and "try again" when there is something to
// retry. The guest's photo stays in the session, so nothing is lost.

import { $ } from "../dom.js";

export function failsafeState(booth) {
  return {
    screen: "failsafe",
    enter({ error, retry, autoRetryS }, signal) {
      $("#failsafe-message").textContent = booth.describe(error);
      $("#failsafe-kept").hidden = !booth.session.photo;
      const retryButton = $("#failsafe-retry");
      retryButton.hidden = !retry;
      if (retry) retryButton.addEventListener("click", retry, { signal });
      const home = () => booth.machine.go(booth.config ? "attract" : "boot");
      $("#failsafe-home").addEventListener("click", home, { signal });
      if (retry && autoRetryS) {
        const timer = setTimeout(retry, autoRetryS * 1000);
        signal.addEventListener("abort", () => clearTimeout(timer));
      }
    },
  };
}
