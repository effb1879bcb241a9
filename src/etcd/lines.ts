import type { Readable } from 'node:stream';

/**
 * Splits a byte stream into lines. Chunks do not follow line boundaries (an etcd watch stream
 * sends one JSON event per line, but a chunk may hold half an event or several).
 */
export class LineSplitter {
  #rest = '';
  readonly #decoder = new TextDecoder();

  /** Feeds a chunk; returns the complete, non-empty lines it finished. */
  push(chunk: Uint8Array): string[] {
    const text = this.#rest + this.#decoder.decode(chunk, { stream: true });
    const lines = text.split('\n');
    this.#rest = lines.pop() ?? '';
    return lines.map((l) => l.trim()).filter((l) => l !== '');
  }

  /** What is left after the stream ended (a last line without newline). */
  end(): string[] {
    const last = (this.#rest + this.#decoder.decode()).trim();
    this.#rest = '';
    return last ? [last] : [];
  }
}

/**
 * Reads a stream eagerly into memory and hands its lines out one at a time. Reading as fast as
 * data comes matters for etcd: a watcher whose socket backs up is dropped silently.
 */
export class EagerLineReader {
  readonly #lines: string[] = [];
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(stream: Readable) {
    const splitter = new LineSplitter();
    stream.on('data', (chunk: Buffer) => {
      this.#lines.push(...splitter.push(chunk));
      this.#notify();
    });
    stream.on('end', () => {
      this.#lines.push(...splitter.end());
      this.#ended = true;
      this.#notify();
    });
    stream.on('error', (e) => {
      this.#error = e;
      this.#ended = true;
      this.#notify();
    });
    stream.on('close', () => {
      this.#ended = true;
      this.#notify();
    });
  }

  /** Lines waiting to be read. */
  get buffered(): number {
    return this.#lines.length;
  }

  /** The next line, or undefined once the stream ended (an error ends it too; see {@link error}). */
  async next(): Promise<string | undefined> {
    for (;;) {
      const line = this.#lines.shift();
      if (line !== undefined) return line;
      if (this.#ended) return undefined;
      await new Promise<void>((r) => (this.#wake = r));
    }
  }

  /** The error that ended the stream, if any. */
  get error(): Error | undefined {
    return this.#error;
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }
}
