// Failsafe: a clear message, the way back home, and "try again" when there is something to
// retry. The guest's photo stays in the session (`kept`), so trying again loses nothing.

import { $ } from "../dom.js";

export function failsafeState(booth) {
  return {
    screen: "failsafe",
    enter({ error, retry, autoRetryS, kept }, signal) {
      $("#failsafe-message").textContent = booth.describe(error);
      $("#failsafe-kept").hidden = !kept;
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
