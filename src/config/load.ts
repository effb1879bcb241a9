import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from '../base/errors.js';
import { parseThroughCache } from './parse-cache.js';
import { parseConfig, type GalleyConfig } from './schema.js';

/**
 * The YAML parser, loaded on first use: a config found in the parse cache needs none, and
 * loading it costs a fresh `cookbook exec` about 25 ms before its first handshake.
 */
function yaml(): typeof import('yaml') {
  return createRequire(import.meta.url)('yaml') as typeof import('yaml');
}

/** Where the CLI looks for its environment file when neither --config nor GALLEY_CONFIG is given. */
export function defaultConfigPaths(): string[] {
  const xdg = process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config');
  return [join(xdg, 'galley', 'config.yaml')];
}

/** Reads and validates an environment file; throws a ConfigError listing every problem with its path. */
export function loadConfig(path: string): GalleyConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(`cannot read config ${file}: ${code === 'ENOENT' ? 'no such file' : code}`, [
      'pass --config FILE or set GALLEY_CONFIG; `cookbook lab up` writes one for the local lab',
    ]);
  }
  let raw: unknown;
  try {
    raw = parseThroughCache(file, text, (t) => yaml().parse(t) as unknown);
  } catch (e) {
    const msg = e instanceof yaml().YAMLParseError ? `${(e as Error).message.split('\n')[0]}` : String(e);
    throw new ConfigError(`config ${file} is not valid YAML: ${msg}`);
  }
  const { config, problems } = parseConfig(raw, file);
  if (!config) {
    throw new ConfigError(
      `config ${file} has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`,
    );
  }
  return config;
}
