// Idle timeout: after `timeoutS` without a touch the booth goes home; the last `warnS`
// seconds show a warning the guest can dismiss.

export class IdleTimer {
  constructor({ timeoutS, warnS, onWarn, onTimeout, onActive }) {
    this.timeoutS = timeoutS;
    this.warnS = warnS;
    this.onWarn = onWarn;
    this.onTimeout = onTimeout;
    this.onActive = onActive;
    this.armed = false;
    this.warning = false;
    this.last = Date.now();
    this.timer = null;
    const poke = () => this.poke();
    for (const type of ["pointerdown", "touchstart", "keydown"]) {
      document.addEventListener(type, poke, { capture: true, passive: true });
    }
  }

  arm() {
    this.armed = true;
    this.poke();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.check(), 250);
  }

  disarm() {
    this.armed = false;
    clearInterval(this.timer);
    this.endWarning();
  }

  poke() {
    this.last = Date.now();
    this.endWarning();
  }

  endWarning() {
    if (!this.warning) return;
    this.warning = false;
    this.onActive();
  }

  check() {
    if (!this.armed) return;
    const left = this.timeoutS - (Date.now() - this.last) / 1000;
    if (left <= 0) {
      this.disarm();
      this.onTimeout();
    } else if (left <= Math.min(this.warnS, this.timeoutS / 2)) {
      this.warning = true;
      this.onWarn(Math.ceil(left));
    }
  }
}
