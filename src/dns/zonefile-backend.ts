import type { CommandResult, RemoteRunner } from '../ssh/types.js';
import type { ZoneBackend } from './types.js';
import { DnsConcurrentChangeError, ZoneFileError, ZonePublishError } from './errors.js';
import type { RecordType, RecordValue } from './types.js';
import { describeRecords, isInZone, normalizeName, sameRecords } from './wire.js';
import { bumpSoaSerial, recordsInZoneFile, replaceRRsetInZoneFile } from './zonefile.js';

/** Writes stdin to the file named by $1, in place (keeps its owner, mode and inode). The content never touches the shell. */
const WRITE_STDIN_TO_FILE = ['sh', '-c', 'cat > "$1"', 'sh'];

function failure(r: CommandResult): string {
  if (r.error) return r.error;
  const out = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-5).join(' / ');
  return `exit code ${r.exitCode}${out ? `: ${out}` : ''}`;
}

/**
 * Changes a zone by editing its zone file on the authdns host over SSH, bumping the SOA
 * serial, then running the check command (if any) and the publish command (`authdns-update`).
 * When either refuses the zone, the previous file content is written back, so a bad edit
 * never reaches the servers.
 */
export class ZonefileBackend implements ZoneBackend {
  readonly zone: string;
  readonly description: string;
  readonly #host: string;
  readonly #file: string;
  readonly #checkCommand: string[] | undefined;
  readonly #publishCommand: string[];
  readonly #runner: RemoteRunner;

  constructor(params: {
    zone: string;
    host: string;
    file: string;
    checkCommand?: string[];
    publishCommand: string[];
    runner: RemoteRunner;
  }) {
    this.zone = normalizeName(params.zone);
    this.#host = params.host;
    this.#file = params.file;
    this.#checkCommand = params.checkCommand;
    this.#publishCommand = params.publishCommand;
    this.#runner = params.runner;
    this.description = `zone file ${params.host}:${params.file}, published with \`${params.publishCommand.join(' ')}\``;
  }

  /** Reads the zone file from the authdns host. Read-only. */
  async readZoneFile(): Promise<string> {
    const r = await this.#runner.run(this.#host, ['cat', '--', this.#file], { isSafe: true });
    if (r.exitCode !== 0)
      throw new ZoneFileError(`cannot read zone file ${this.#file} on ${this.#host}: ${failure(r)}`, {
        suggestions: ['check dns.zones.*.backend.file in the config'],
      });
    return r.stdout;
  }

  async #write(content: string): Promise<CommandResult> {
    return this.#runner.run(this.#host, [...WRITE_STDIN_TO_FILE, this.#file], { stdin: content });
  }

  async replaceRRset(
    name: string,
    type: RecordType,
    records: readonly RecordValue[],
    expected?: readonly RecordValue[],
  ): Promise<void> {
    if (!isInZone(name, this.zone)) throw new ZoneFileError(`${name} is not in zone ${this.zone}`);
    const before = await this.readZoneFile();
    if (expected) {
      const current = recordsInZoneFile(before, this.zone, name, type);
      if (!sameRecords(type, current, expected)) {
        throw new DnsConcurrentChangeError(
          normalizeName(name),
          type,
          `${this.#host}:${this.#file}`,
          `the file has ${describeRecords(type, current)}, expected ${describeRecords(type, expected)}`,
        );
      }
    }
    const after = bumpSoaSerial(
      replaceRRsetInZoneFile(before, this.zone, name, type, records),
      this.zone,
    ).text;
    const written = await this.#write(after);
    // Dry-run (the runner did not send the write): nothing to check or publish.
    if (written.wouldRun) return;
    if (written.exitCode !== 0) {
      // `cat >` truncates first: put the old content back whatever happened.
      await this.#write(before);
      throw new ZoneFileError(`cannot write zone file ${this.#file} on ${this.#host}: ${failure(written)}`);
    }
    for (const [stage, command] of [
      ['check', this.#checkCommand],
      ['publish', this.#publishCommand],
    ] as const) {
      if (!command) continue;
      const r = await this.#runner.run(this.#host, command);
      if (r.exitCode === 0) continue;
      const restored = (await this.#write(before)).exitCode === 0;
      // A publish command may have pushed part of the change before failing: publish the restored file again.
      if (restored && stage === 'publish') await this.#runner.run(this.#host, command);
      throw new ZonePublishError(this.zone, this.#host, stage, command, failure(r), restored);
    }
  }
}
