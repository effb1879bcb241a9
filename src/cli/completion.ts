/**
 * Shell completion of values from the environment file. @oclif/plugin-autocomplete completes
 * command names and flag names from oclif's manifest; it cannot complete a flag's value from
 * anything but a static list. Galley adds, on top of the scripts it writes:
 * - `cookbook complete-values -- WORDS…` (hidden): given the words typed after `cookbook`, the
 *   last being the one completed, prints the config's datacenters, hosts or etcd clusters when
 *   that word is the value of a flag or argument of that kind (exit 0), else exits 1;
 * - a wrapper around the plugin's bash and zsh functions that asks it first, appended to the
 *   setup files the plugin writes (a postrun hook on `cookbook autocomplete`), which also
 *   completes dotted cookbook names and the flags after positional arguments in bash.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GalleyConfig } from '../config/schema.js';
import { type ValueKind, type ValueKinds, isValueKind } from './value-kinds.js';

/** What completion needs of one command: its flags and arguments (oclif's manifest entry). */
export interface CompletableCommand {
  flags?: Record<string, { type?: string; char?: string; aliases?: string[] }>;
  args?: Record<string, unknown>;
  valueKinds?: unknown;
}

/** The word being completed is a value of this kind; `config` is the --config typed on the line, if any. */
export interface ValueSlot {
  kind: ValueKind;
  config?: string;
}

/** bash splits `--from=co` into `--from`, `=`, `co` (COMP_WORDBREAKS): joined again here. */
function joinEquals(words: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === '=' && out.length && out[out.length - 1]!.startsWith('-')) {
      out[out.length - 1] += `=${i + 1 < words.length ? words[++i]! : ''}`;
    } else out.push(w);
  }
  return out;
}

/**
 * Which value the last of `words` (the words after `cookbook`; the last may be empty) is, if
 * it names a datacenter, a host or an etcd cluster; `find` looks a command up by oclif id.
 */
export function valueSlotAt(
  rawWords: readonly string[],
  find: (id: string) => CompletableCommand | undefined,
): ValueSlot | undefined {
  const words = joinEquals(rawWords);
  if (words.length < 2) return undefined;
  const current = words[words.length - 1]!;
  const before = words.slice(0, -1);
  // The command: the longest run of leading words that names one ("lab ssh" is lab:ssh).
  let command: CompletableCommand | undefined;
  let used = 0;
  for (let n = 1; n <= before.length && !before[n - 1]!.startsWith('-'); n++) {
    const found = find(before.slice(0, n).join(':'));
    if (found) [command, used] = [found, n];
  }
  if (!command) return undefined;
  const kinds: ValueKinds = {};
  if (command.valueKinds && typeof command.valueKinds === 'object')
    for (const [k, v] of Object.entries(command.valueKinds)) if (isValueKind(v)) kinds[k] = v;
  const flags = command.flags ?? {};
  const flagNamed = (word: string): string | undefined => {
    if (word.startsWith('--')) {
      const name = word.slice(2);
      return flags[name] ? name : Object.keys(flags).find((f) => flags[f]!.aliases?.includes(name));
    }
    return Object.keys(flags).find((f) => flags[f]!.char === word.slice(1));
  };
  const takesValue = (name: string | undefined) => name !== undefined && flags[name]!.type !== 'boolean';
  let config: string | undefined;
  let pending: string | undefined;
  let positional = 0;
  let afterDashes = false;
  for (const w of before.slice(used)) {
    if (pending !== undefined) {
      if (pending === 'config') config = w;
      pending = undefined;
    } else if (afterDashes || !w.startsWith('-') || w === '-') positional++;
    else if (w === '--') afterDashes = true;
    else if (w.includes('=') && w.startsWith('--')) {
      if (flagNamed(w.slice(0, w.indexOf('='))) === 'config') config = w.slice(w.indexOf('=') + 1);
    } else if (w.startsWith('--') || w.length === 2) {
      const name = flagNamed(w);
      if (takesValue(name)) pending = name;
    }
  }
  const slot = (name: string | undefined): ValueSlot | undefined => {
    const kind = name === undefined ? undefined : kinds[name];
    return kind ? { kind, ...(config !== undefined ? { config } : {}) } : undefined;
  };
  if (pending !== undefined) return slot(pending);
  if (!afterDashes && current.startsWith('--') && current.includes('='))
    return slot(flagNamed(current.slice(0, current.indexOf('='))));
  if (!afterDashes && current.startsWith('-')) return undefined;
  return slot(Object.keys(command.args ?? {})[positional]);
}

/** The config's values of a kind, sorted. */
export function valuesOf(kind: ValueKind, config: GalleyConfig): string[] {
  switch (kind) {
    case 'datacenter':
      return [...config.datacenters];
    case 'host':
      return Object.keys(config.hosts).sort();
    case 'cluster':
      return Object.keys(config.etcd.clusters).sort();
  }
}

const MARK = '# Galley: values from the environment file';

/**
 * The bash part, after the plugin's setup line (which sources its `_BIN_autocomplete`):
 * values first (`BIN complete-values`), then dotted cookbook names at the first word (the
 * plugin's list keeps only `[a-zA-Z0-9_-]` of them), and flags after positional arguments
 * (the plugin looks the command up from every word typed).
 */
export function bashAddition(bin: string, ids: readonly string[]): string {
  const fn = `_${bin}_autocomplete`;
  const top = [...new Set(ids.map((id) => id.split(':')[0]!))].sort();
  return `
${MARK} (datacenters, hosts and etcd clusters, through
# \`${bin} complete-values\`), then the plugin's completion (${fn}).
_${bin}_galley_ids="
${[...ids].sort().join('\n')}
"
_${bin}_galley_autocomplete() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" values id="" try i n=0
  if ((COMP_CWORD > 1)) && [[ "$cur" != -* ]] &&
    values="$(${bin} complete-values -- "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)"; then
    [[ "$cur" == "=" ]] && cur=""
    local IFS=$'\\n'
    COMPREPLY=($(compgen -W "$values" -- "$cur"))
    return 0
  fi
  if ((COMP_CWORD == 1)) && [[ "$cur" != -* ]]; then
    COMPREPLY=($(compgen -W "${top.join(' ')}" -- "$cur"))
    return 0
  fi
  if [[ "$cur" == -* ]]; then
    for ((i = 1; i < COMP_CWORD; i++)); do
      try="\${id:+$id:}\${COMP_WORDS[i]}"
      [[ "$_${bin}_galley_ids" == *$'\\n'"$try"$'\\n'* || "$_${bin}_galley_ids" == *$'\\n'"$try:"* ]] || break
      id="$try"
      n=$i
    done
    if ((n > 0 && n < COMP_CWORD - 1)); then
      local -a COMP_WORDS=("\${COMP_WORDS[@]:0:n+1}" "$cur")
      local COMP_CWORD=$((n + 1))
      ${fn}
      return 0
    fi
  fi
  ${fn}
}
complete -F _${bin}_galley_autocomplete ${bin}
`;
}

/** The zsh part, after the plugin's compinit: values first, then the plugin's `_BIN`. */
export function zshAddition(bin: string): string {
  return `
${MARK} (datacenters, hosts and etcd clusters, through
# \`${bin} complete-values\`), then the plugin's completion (_${bin}).
_${bin}_galley() {
  local cur="\${words[CURRENT]}" out
  if (( CURRENT > 2 )) && [[ "$cur" != -* || "$cur" == --*=* ]] &&
    out="$(${bin} complete-values -- "\${(@)words[2,CURRENT]}" 2>/dev/null)"; then
    [[ "$cur" == --*=* ]] && compset -P '*='
    local -a values
    values=(\${(f)out})
    compadd -- "\${values[@]}"
    return 0
  fi
  _${bin} "$@"
}
compdef _${bin}_galley ${bin}
`;
}

/**
 * Appends Galley's parts to the setup files that `cookbook autocomplete` wrote in
 * `<cacheDir>/autocomplete` (the plugin rewrites them each time). Returns the files changed.
 */
export function addValueCompletion(cacheDir: string, bin: string, ids: readonly string[]): string[] {
  const changed: string[] = [];
  for (const [file, text] of [
    ['bash_setup', bashAddition(bin, ids)],
    ['zsh_setup', zshAddition(bin)],
  ] as const) {
    const path = join(cacheDir, 'autocomplete', file);
    if (!existsSync(path)) continue;
    const old = readFileSync(path, 'utf8');
    if (old.includes(MARK)) continue;
    writeFileSync(path, `${old.trimEnd()}\n${text}`);
    changed.push(path);
  }
  return changed;
}
