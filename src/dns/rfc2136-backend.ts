import type { Secret } from '../core/secrets.js';
import type { ZoneBackend } from './types.js';
import { ConfigError } from '../core/errors.js';
import type { TsigKey } from './tsig.js';
import type { DnsServer, QueryOptions, RecordType, RecordValue } from './types.js';
import { sendUpdate } from './update.js';
import { normalizeName } from './wire.js';

/** Changes a zone with RFC 2136 UPDATE messages signed with TSIG, sent to its primary server. */
export class Rfc2136Backend implements ZoneBackend {
  readonly zone: string;
  readonly description: string;
  readonly #server: DnsServer;
  readonly #key: { name: string; algorithm: 'hmac-sha256'; secret: Secret };
  readonly #options: QueryOptions;

  constructor(params: {
    zone: string;
    server: DnsServer;
    key: { name: string; algorithm: 'hmac-sha256'; secret: Secret };
    options: QueryOptions;
  }) {
    this.zone = normalizeName(params.zone);
    this.#server = params.server;
    this.#key = params.key;
    this.#options = params.options;
    this.description = `RFC 2136 update of ${this.zone} on ${params.server.name} (${params.server.address}:${params.server.port}) with TSIG key ${params.key.name}`;
  }

  #tsigKey(): TsigKey {
    let text: string;
    try {
      text = this.#key.secret.reveal();
    } catch (e) {
      throw new ConfigError(`cannot read the TSIG secret of zone ${this.zone}: ${(e as Error).message}`);
    }
    const secret = Buffer.from(text.trim(), 'base64');
    if (secret.length === 0)
      throw new ConfigError(
        `the TSIG secret of zone ${this.zone} (${this.#key.secret.origin}) is empty or not base64`,
      );
    return { name: this.#key.name, algorithm: this.#key.algorithm, secret };
  }

  async replaceRRset(
    name: string,
    type: RecordType,
    records: readonly RecordValue[],
    expected?: readonly RecordValue[],
  ): Promise<void> {
    await sendUpdate(
      this.#server,
      this.#tsigKey(),
      { zone: this.zone, name, type, records, expected },
      this.#options,
    );
  }
}
