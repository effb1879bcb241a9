import { InterruptedError } from './errors.js';

/** The signals that stop a run: Ctrl-C, a polite kill, and a closed terminal. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** Where stop signals come from (the process by default; tests pass an emitter). */
export interface InterruptSource {
  on(event: StopSignal, listener: () => void): unknown;
  off(event: StopSignal, listener: () => void): unknown;
}

/**
 * A run's stop signals. The first one lets the action in flight finish (its apply and
 * verify), ends every wait and check at once (`waits`), and makes the run stop; a second
 * one abandons the action in flight too (`inFlight`). A signal during a rollback is counted
 * the same way by the rollback's own instance.
 */
export class Interrupts {
  readonly #waits = new AbortController();
  readonly #inFlight = new AbortController();
  #signal: StopSignal | undefined;
  #count = 0;
  #abandon: (() => void) | undefined;
  readonly #listeners = new Map<StopSignal, () => void>();

  constructor(
    private readonly source: InterruptSource,
    private readonly say: (line: string) => void,
    private readonly messages = {
      first: (s: StopSignal) =>
        `${s === 'SIGINT' ? '^C' : s}: finishing the action in flight, then stopping (press Ctrl-C again to abandon it)`,
      second: (s: StopSignal) => `${s === 'SIGINT' ? '^C' : s} again: abandoning the action in flight`,
    },
  ) {}

  /** Starts listening. */
  listen(): this {
    for (const s of STOP_SIGNALS) {
      const l = () => this.#receive(s);
      this.#listeners.set(s, l);
      this.source.on(s, l);
    }
    return this;
  }

  /** Stops listening. */
  close(): void {
    for (const [s, l] of this.#listeners) this.source.off(s, l);
    this.#listeners.clear();
  }

  #receive(s: StopSignal): void {
    this.#count++;
    if (this.#count === 1) {
      this.#signal = s;
      this.say(`\n${this.messages.first(s)}`);
      this.#waits.abort();
      return;
    }
    this.say(this.messages.second(s));
    this.#inFlight.abort();
    this.#abandon?.();
  }

  /** The first stop signal received, if any. */
  get received(): StopSignal | undefined {
    return this.#signal;
  }

  /** Fires at the first signal: ends waits, checks and questions. */
  get waits(): AbortSignal {
    return this.#waits.signal;
  }

  /** Fires at the second signal: abandons the action in flight. */
  get inFlight(): AbortSignal {
    return this.#inFlight.signal;
  }

  /** Throws InterruptedError once a signal was received. */
  check(): void {
    if (this.#signal) throw new InterruptedError();
  }

  /** `p`, or InterruptedError as soon as a second signal abandons it. */
  abandonable<T>(p: Promise<T>): Promise<T> {
    if (this.#inFlight.signal.aborted) return Promise.reject(new InterruptedError());
    return new Promise<T>((resolve, reject) => {
      this.#abandon = () => reject(new InterruptedError());
      p.then(resolve, reject).finally(() => (this.#abandon = undefined));
    });
  }
}
