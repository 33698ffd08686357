// The booth's explicit state machine (after pibooth): named states, allowed transitions, and a
// failsafe state any state may fall into.

export class Machine {
  /**
   * @param {Record<string, {screen: string, enter?: Function, exit?: Function}>} states
   * @param {Record<string, string[]>} transitions  state -> the states it may go to
   * @param {(name: string, state: object) => void} onChange  called after each state change
   */
  constructor(states, transitions, onChange = () => {}) {
    this.states = states;
    this.transitions = transitions;
    this.onChange = onChange;
    this.current = null;
    this.scope = null;
  }

  /** Leave the current state and enter `name`; `data` is handed to its enter(). */
  go(name, data = {}) {
    const allowed = this.current === null ? Object.keys(this.states) : this.transitions[this.current];
    if (name !== "failsafe" && !allowed?.includes(name)) {
      return this.fail(new Error(`the booth cannot go from ${this.current} to ${name}`));
    }
    this.scope?.abort();
    this.states[this.current]?.exit?.();
    const previous = this.current;
    this.current = name;
    // The scope ends when the state is left: listeners and late async results die with it.
    this.scope = new AbortController();
    const state = this.states[name];
    this.onChange(name, state, previous);
    try {
      const pending = state.enter?.(data, this.scope.signal);
      if (pending?.catch) pending.catch((error) => this.fail(error));
    } catch (error) {
      this.fail(error);
    }
  }

  /** Fall into the failsafe state with a message and, maybe, a way to retry. */
  fail(error, retry = null, extra = {}) {
    console.error("booth failsafe:", error);
    if (this.current === "failsafe") return;
    this.go("failsafe", { ...extra, error, retry, from: this.current });
  }
}
