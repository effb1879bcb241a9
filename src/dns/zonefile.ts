import { ZoneFileError } from './errors.js';
import type { RecordData, RecordType, RecordValue } from './types.js';
import { dataText, normalizeName } from './wire.js';

/**
 * Pure functions over the text of an RFC 1035 zone file (the format gdnsd reads): find the
 * records of a name and type, replace them, bump the SOA serial. Every line that is not part
 * of the changed record set is kept byte for byte.
 */

/** gdnsd's default TTL when neither the record nor a $TTL gives one. */
export const DEFAULT_ZONE_TTL = 86400;

interface Token {
  text: string;
  line: number;
  column: number;
}

/** One logical entry of the file: a directive or a record, possibly spanning lines with parentheses. */
export interface ZoneEntry {
  kind: 'directive' | 'record';
  firstLine: number;
  lastLine: number;
  /** Absolute owner name (normalised), for records. */
  owner: string;
  /** The owner was written on the line (not inherited from the previous record). */
  ownerExplicit: boolean;
  ttl: number;
  type: string;
  rdata: Token[];
  tokens: Token[];
}

const TTL_RE = /^(\d+[smhdw]?)+$/i;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Parses a zone-file TTL such as `300`, `1h` or `1h30m` into seconds. */
export function parseTtl(text: string): number {
  if (!TTL_RE.test(text)) throw new ZoneFileError(`"${text}" is not a TTL`);
  if (/^\d+$/.test(text)) return Number(text);
  let total = 0;
  for (const m of text.matchAll(/(\d+)([smhdw]?)/gi))
    total += Number(m[1]) * UNIT_SECONDS[(m[2] || 's').toLowerCase()]!;
  return total;
}

function tokenizeLine(line: string, lineIndex: number): { tokens: Token[]; opens: number } {
  const tokens: Token[] = [];
  let opens = 0;
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === ';') break;
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '(' || c === ')') {
      opens += c === '(' ? 1 : -1;
      i++;
      continue;
    }
    const start = i;
    if (c === '"') {
      i++;
      while (i < line.length && line[i] !== '"') i += line[i] === '\\' ? 2 : 1;
      i++;
    } else {
      while (i < line.length && !' \t\r;()'.includes(line[i]!)) i++;
    }
    tokens.push({ text: line.slice(start, i), line: lineIndex, column: start });
  }
  return { tokens, opens };
}

function absoluteName(token: string, origin: string): string {
  if (token === '@') return origin;
  if (token.endsWith('.')) return normalizeName(token);
  return normalizeName(origin === '' ? token : `${token}.${origin}`);
}

/** Splits a zone file into its directives and records (blank and comment-only lines are not entries). */
export function parseZoneFile(text: string, zone: string): ZoneEntry[] {
  const lines = text.split('\n');
  const entries: ZoneEntry[] = [];
  let origin = normalizeName(zone);
  let defaultTtl: number | undefined;
  let lastOwner: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const first = i;
    const startsBlank = /^[ \t]/.test(lines[i]!);
    let { tokens, opens } = tokenizeLine(lines[i]!, i);
    while (opens > 0 && i + 1 < lines.length) {
      i++;
      const more = tokenizeLine(lines[i]!, i);
      tokens = tokens.concat(more.tokens);
      opens += more.opens;
    }
    if (opens > 0)
      throw new ZoneFileError(`unbalanced parenthesis in the zone file, starting at line ${first + 1}`);
    if (tokens.length === 0) continue;
    const head = tokens[0]!.text;
    if (!startsBlank && head.startsWith('$')) {
      const directive = head.toUpperCase();
      if (directive === '$ORIGIN' && tokens[1]) origin = absoluteName(tokens[1].text, origin);
      if (directive === '$TTL' && tokens[1]) defaultTtl = parseTtl(tokens[1].text);
      entries.push({
        kind: 'directive',
        firstLine: first,
        lastLine: i,
        owner: '',
        ownerExplicit: true,
        ttl: 0,
        type: directive,
        rdata: [],
        tokens,
      });
      continue;
    }
    let k = 0;
    let owner: string;
    if (startsBlank) {
      if (lastOwner === undefined)
        throw new ZoneFileError(`line ${first + 1} has no owner name and no record precedes it`);
      owner = lastOwner;
    } else {
      owner = absoluteName(head, origin);
      k = 1;
    }
    let ttl: number | undefined;
    while (k < tokens.length) {
      const t = tokens[k]!.text;
      if (TTL_RE.test(t)) ttl = parseTtl(t);
      else if (/^(IN|CH|HS|CS)$/i.test(t)) {
        // class: only IN exists in practice
      } else break;
      k++;
    }
    if (k >= tokens.length) throw new ZoneFileError(`line ${first + 1} has no record type`);
    lastOwner = owner;
    entries.push({
      kind: 'record',
      firstLine: first,
      lastLine: i,
      owner,
      ownerExplicit: !startsBlank,
      ttl: ttl ?? defaultTtl ?? DEFAULT_ZONE_TTL,
      type: tokens[k]!.text.toUpperCase(),
      rdata: tokens.slice(k + 1),
      tokens,
    });
  }
  return entries;
}

function rdataOf(entry: ZoneEntry, type: RecordType, origin: string): RecordData {
  const t = entry.rdata.map((x) => x.text);
  const int = (s: string | undefined) => {
    if (s === undefined || !/^\d+$/.test(s))
      throw new ZoneFileError(`bad ${type} record at line ${entry.firstLine + 1}`);
    return Number(s);
  };
  if (type === 'SRV')
    return {
      priority: int(t[0]),
      weight: int(t[1]),
      port: int(t[2]),
      target: absoluteName(t[3] ?? '', origin),
    };
  if (type === 'SOA') {
    return {
      mname: absoluteName(t[0] ?? '', origin),
      rname: absoluteName(t[1] ?? '', origin),
      serial: int(t[2]),
      refresh: parseTtl(t[3] ?? ''),
      retry: parseTtl(t[4] ?? ''),
      expire: parseTtl(t[5] ?? ''),
      minimum: parseTtl(t[6] ?? ''),
    };
  }
  if (t.length !== 1) throw new ZoneFileError(`bad ${type} record at line ${entry.firstLine + 1}`);
  return t[0]!;
}

/** Origin in effect at each entry (follows $ORIGIN). */
function originsOf(entries: ZoneEntry[], zone: string): string[] {
  let origin = normalizeName(zone);
  return entries.map((e) => {
    if (e.kind === 'directive' && e.type === '$ORIGIN' && e.tokens[1])
      origin = absoluteName(e.tokens[1].text, origin);
    return origin;
  });
}

/** The records of one name and type in a zone file, with their effective TTLs. */
export function recordsInZoneFile(text: string, zone: string, name: string, type: RecordType): RecordValue[] {
  const entries = parseZoneFile(text, zone);
  const origins = originsOf(entries, zone);
  const owner = normalizeName(name);
  return entries.flatMap((e, i) =>
    e.kind === 'record' && e.owner === owner && e.type === type
      ? [{ ttl: e.ttl, data: rdataOf(e, type, origins[i]!) }]
      : [],
  );
}

/** The zone-file line of one record, with an absolute owner and an explicit TTL so that it means the same under any $ORIGIN or $TTL. */
export function recordLine(name: string, type: RecordType, record: RecordValue): string {
  return `${normalizeName(name)}. ${record.ttl} ${type} ${dataText(type, record.data)}`;
}

/**
 * Replaces every record of `name`/`type` by `records` (written where the first old one was,
 * or at the end of the file). Other lines are kept byte for byte, except that a record whose
 * owner was inherited from a removed line gets its owner written out.
 */
export function replaceRRsetInZoneFile(
  text: string,
  zone: string,
  name: string,
  type: RecordType,
  records: readonly RecordValue[],
): string {
  const lines = text.split('\n');
  const entries = parseZoneFile(text, zone);
  const owner = normalizeName(name);
  const newLines = records.map((r) => recordLine(owner, type, r));
  const out: string[] = [];
  let inserted = false;
  let lastOwner: string | undefined;
  let next = 0;
  for (const e of entries) {
    for (; next < e.firstLine; next++) out.push(lines[next]!);
    next = e.lastLine + 1;
    const entryLines = lines.slice(e.firstLine, e.lastLine + 1);
    if (e.kind === 'record' && e.owner === owner && e.type === type) {
      if (!inserted) {
        out.push(...newLines);
        inserted = true;
        if (newLines.length) lastOwner = owner;
      }
      continue;
    }
    if (e.kind === 'record') {
      if (!e.ownerExplicit && e.owner !== lastOwner) entryLines[0] = `${e.owner}.${entryLines[0]}`;
      lastOwner = e.owner;
    }
    out.push(...entryLines);
  }
  for (; next < lines.length; next++) out.push(lines[next]!);
  if (!inserted && newLines.length) {
    while (out.length && out[out.length - 1] === '') out.pop();
    out.push(...newLines, '');
  }
  return out.join('\n');
}

/**
 * The serial after `current`: the date form YYYYMMDDnn of `now` when the serial already uses
 * that form and is older, otherwise current + 1 (modulo 2^32, RFC 1982).
 */
export function nextSerial(current: number, now: Date = new Date()): number {
  const today = Number(
    `${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, '0')}${String(now.getUTCDate()).padStart(2, '0')}00`,
  );
  const dateLike = current >= 1970010100 && current <= 2099123199;
  if (dateLike && current < today) return today;
  return (current + 1) % 2 ** 32;
}

/** Bumps the serial of the zone's SOA record in place (only its digits change). */
export function bumpSoaSerial(
  text: string,
  zone: string,
  now: Date = new Date(),
): { text: string; oldSerial: number; newSerial: number } {
  const soa = parseZoneFile(text, zone).find(
    (e) => e.kind === 'record' && e.type === 'SOA' && e.owner === normalizeName(zone),
  );
  const token = soa?.rdata[2];
  if (!soa || !token || !/^\d+$/.test(token.text))
    throw new ZoneFileError(`no SOA record with a numeric serial for ${zone} in the zone file`);
  const oldSerial = Number(token.text);
  const newSerial = nextSerial(oldSerial, now);
  const lines = text.split('\n');
  const line = lines[token.line]!;
  lines[token.line] =
    line.slice(0, token.column) + String(newSerial) + line.slice(token.column + token.text.length);
  return { text: lines.join('\n'), oldSerial, newSerial };
}
