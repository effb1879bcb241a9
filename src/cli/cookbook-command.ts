import { Args, type Command, Flags, type Interfaces } from '@oclif/core';
import { GalleyCommand, reportError } from './base.js';
import { type Cookbook } from '../core/cookbook.js';
import { EXIT_CODES_HELP } from '../core/errors.js';
import { runFlags } from './flags.js';

type AnyFlag = Interfaces.Flag<unknown>;
type AnyArg = Interfaces.Arg<unknown>;

/** oclif flags and args generated from a cookbook's argument definitions. */
export function cookbookParameters(cookbook: Cookbook): {
  flags: Record<string, AnyFlag>;
  args: Record<string, AnyArg>;
} {
  const flags: Record<string, AnyFlag> = {};
  const args: Record<string, AnyArg> = {};
  for (const [name, s] of Object.entries(cookbook.args)) {
    const summary = `${s.description}${s.default !== undefined && s.type !== 'boolean' ? ` (default: ${String(s.default)})` : ''}`;
    if (s.positional) {
      args[name] = Args.string({ description: summary, required: s.required }) as AnyArg;
    } else if (s.type === 'boolean') {
      flags[name] = Flags.boolean({
        summary,
        char: s.char as Interfaces.AlphabetLowercase | undefined,
      }) as AnyFlag;
    } else {
      flags[name] = Flags.string({
        summary,
        char: s.char as Interfaces.AlphabetLowercase | undefined,
        options: s.options ? [...s.options] : undefined,
        helpValue: s.options ? undefined : `<${s.type}>`,
      }) as AnyFlag;
    }
  }
  return { flags, args };
}

/** Builds the oclif command that runs one cookbook. */
export function cookbookCommand(name: string, cookbook: Cookbook): Command.Class {
  const params = cookbookParameters(cookbook);
  return class CookbookCommand extends GalleyCommand {
    static override id = name;
    static override summary = cookbook.title;
    static override description = `${cookbook.description ? `${cookbook.description}\n\n` : ''}${EXIT_CODES_HELP}`;
    static override examples = cookbook.examples ?? [];
    static override flags = { ...runFlags, ...params.flags };
    static override args = params.args;
    static override strict = true;

    async run(): Promise<void> {
      const { args, flags } = await this.parse(CookbookCommand);
      const f = flags as Record<string, unknown> & Interfaces.InferredFlags<typeof runFlags>;
      const a = args as Record<string, unknown>;
      let code: number;
      try {
        // Loaded here, not at start-up: `cookbook list` and --help stay fast.
        const { cliContext, terminalRunOptions } = await import('./context.js');
        const { runCookbook } = await import('../core/runner.js');
        const ctx = cliContext(f);
        const rawArgs: Record<string, string | undefined> = {};
        for (const [n, s] of Object.entries(cookbook.args)) {
          const v = s.positional ? a[n] : f[n];
          rawArgs[n] = v === undefined || v === false ? undefined : String(v);
        }
        const out = f.json ? process.stderr : process.stdout;
        const result = await runCookbook({
          name,
          cookbook,
          rawArgs,
          dryRun: f['dry-run'],
          yes: f.yes,
          onFailure: f['on-failure'],
          task: f.task,
          reason: f.reason,
          noLocks: !f.locks,
          planOut: f['plan-out'],
          planIn: f.plan,
          ...terminalRunOptions(ctx, out),
        });
        if (f.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        code = result.exitCode;
        await ctx.audit.flush(); // announcements still in flight (each bounded by its timeout)
      } catch (e) {
        code = reportError(e);
      }
      if (code !== 0) this.exit(code);
    }
  };
}
