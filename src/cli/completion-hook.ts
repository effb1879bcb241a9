import type { Hook } from '@oclif/core';

/**
 * oclif's postrun hook: after `cookbook autocomplete …` (@oclif/plugin-autocomplete) has
 * written its setup files, appends Galley's completion of values to them (./completion.ts).
 * Every other command returns at once.
 */
const hook: Hook<'postrun'> = async function (opts) {
  if (!opts.Command?.id?.startsWith('autocomplete')) return;
  const { addValueCompletion } = await import('./completion.js');
  const ids = opts.config.commands.filter((c) => !c.hidden).map((c) => c.id);
  addValueCompletion(opts.config.cacheDir, opts.config.bin, ids);
};

export default hook;
