/**
 * The heartbeat of a lock holder: `refresh` runs every third of the lock's TTL (at least every
 * 200 ms), never two at once, without keeping the process alive. `refresh` gets `lost`, to call
 * when the lock is gone (the beat stops, the holder still releases). `stop` ends the beat and
 * waits for a refresh in flight, so that a release never races its own refresh.
 */
export interface KeepAlive {
  /** Ends the heartbeat; resolves once a refresh in flight has finished. */
  stop(): Promise<void>;
  /** True once `stop` was called: a refresh that fails after it has nothing to say. */
  readonly stopped: boolean;
}

export function keepAlive(refresh: (lost: () => void) => Promise<void>, ttlMs: number): KeepAlive {
  let stopped = false;
  let inFlight: Promise<void> | undefined;
  const lost = () => clearInterval(timer);
  const timer = setInterval(
    () => {
      if (!inFlight && !stopped) inFlight = refresh(lost).finally(() => (inFlight = undefined));
    },
    Math.max(200, Math.floor(ttlMs / 3)),
  );
  timer.unref();
  return {
    get stopped() {
      return stopped;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await inFlight;
    },
  };
}
