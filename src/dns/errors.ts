import { GalleyError } from '../core/errors.js';
import type { DnsServer } from './types.js';

function where(server: DnsServer): string {
  return `${server.name} (${server.address}:${server.port})`;
}

/** Root of the DNS transport's errors. */
export class DnsError extends GalleyError {}

/** A server did not answer within the timeout, after every retry. */
export class DnsTimeoutError extends DnsError {
  constructor(
    readonly server: DnsServer,
    readonly qname: string,
    readonly attempts: number,
    timeoutMs: number,
  ) {
    super(
      `DNS server ${where(server)} did not answer for ${qname} (${attempts} attempts, ${timeoutMs} ms each)`,
      {
        suggestions: [
          `check that the server is running: dig +norec @${server.address} -p ${server.port} ${qname}`,
        ],
      },
    );
  }
}

/** The server could not be reached at all (connection refused over TCP, network error). */
export class DnsNetworkError extends DnsError {
  constructor(
    readonly server: DnsServer,
    readonly qname: string,
    detail: string,
  ) {
    super(`cannot reach DNS server ${where(server)} for ${qname}: ${detail}`, {
      suggestions: ['check that the server is running and listening on that address and port'],
    });
  }
}

/** An answer with a response code other than NOERROR (the base of the specific ones below). */
export class DnsRcodeError extends DnsError {
  constructor(
    readonly server: DnsServer,
    readonly qname: string,
    readonly rcode: string,
    message?: string,
    suggestions: string[] = [],
  ) {
    super(message ?? `DNS server ${where(server)} answered ${rcode} for ${qname}`, { suggestions });
  }
}

/** The name does not exist in the zone. */
export class DnsNxDomainError extends DnsRcodeError {
  constructor(server: DnsServer, qname: string) {
    super(server, qname, 'NXDOMAIN', `${qname} does not exist according to ${where(server)} (NXDOMAIN)`, [
      'check the spelling of the name, and that the zone on that server is the one you expect',
    ]);
  }
}

/** The server refuses to answer (the name is outside its zones, or an ACL). */
export class DnsRefusedError extends DnsRcodeError {
  constructor(server: DnsServer, qname: string) {
    super(server, qname, 'REFUSED', `DNS server ${where(server)} refused to answer for ${qname} (REFUSED)`, [
      'check that this server is authoritative for the zone of the name (dns.zones in the config)',
    ]);
  }
}

/** The server failed to answer (broken zone, internal failure). */
export class DnsServFailError extends DnsRcodeError {
  constructor(server: DnsServer, qname: string) {
    super(server, qname, 'SERVFAIL', `DNS server ${where(server)} failed to answer for ${qname} (SERVFAIL)`, [
      "look at the server's log: the zone may not be loaded",
    ]);
  }
}

/** A DNS UPDATE was refused for authentication reasons (no key, wrong key, bad signature, clock skew). */
export class DnsTsigError extends DnsRcodeError {
  constructor(server: DnsServer, zone: string, rcode: string, detail: string) {
    super(
      server,
      zone,
      rcode,
      `DNS server ${where(server)} refused the update of zone ${zone}: ${rcode} (${detail})`,
      [
        'check the TSIG key name, algorithm and secret of the zone in the config against the server',
        'check the clocks',
      ],
    );
  }
}

/** A record set changed since it was read (an RFC 2136 prerequisite failed, or the zone file differs): nothing was written. */
export class DnsConcurrentChangeError extends DnsError {
  constructor(
    readonly recordName: string,
    readonly type: string,
    where: string,
    detail: string,
  ) {
    super(`${recordName} ${type} changed on ${where} since it was read (${detail}): nothing was written`, {
      suggestions: ['someone else changed it at the same time: observe the record set again and decide'],
    });
  }
}

/** An UPDATE got no answer: it may or may not have been applied. */
export class DnsUpdateUnconfirmedError extends DnsError {
  constructor(server: DnsServer, name: string, type: string, zone: string, waitedMs: number) {
    super(
      `DNS server ${where(server)} did not answer the update of ${name} ${type} in zone ${zone} within ${waitedMs} ms: it may or may not have been applied`,
      {
        suggestions: [
          'observe the record set on every server before retrying',
          `check that the server is running: dig +norec @${server.address} -p ${server.port} ${zone} SOA`,
        ],
      },
    );
  }
}

/** The answer could not be used (malformed, wrong ID, unverifiable signature). */
export class DnsProtocolError extends DnsError {
  constructor(
    readonly server: DnsServer,
    detail: string,
  ) {
    super(`bad answer from DNS server ${where(server)}: ${detail}`);
  }
}

/** No zone of the config contains a name. */
export class DnsZoneNotConfiguredError extends DnsError {
  constructor(name: string, zones: string[]) {
    super(`no zone of the config contains ${name} (zones: ${zones.join(', ') || 'none'})`, {
      suggestions: ['add the zone under dns.zones in the environment file'],
    });
  }
}

/** The zone file could not be edited (unparseable line, SOA missing, file unreadable). */
export class ZoneFileError extends DnsError {}

/** The check or publish command refused the edited zone; the previous file was restored. */
export class ZonePublishError extends DnsError {
  constructor(
    readonly zone: string,
    readonly host: string,
    readonly stage: 'check' | 'publish',
    readonly command: string[],
    detail: string,
    readonly restored: boolean,
  ) {
    super(
      `the ${stage} command \`${command.join(' ')}\` refused the edited zone ${zone} on ${host}: ${detail}; ` +
        (restored
          ? 'the previous zone file was restored, nothing was published'
          : 'RESTORING THE PREVIOUS ZONE FILE FAILED'),
      {
        suggestions: restored
          ? ['fix the records you asked for (the zone does not load with them)']
          : [`restore the zone file on ${host} by hand and run \`${command.join(' ')}\``],
      },
    );
  }
}
