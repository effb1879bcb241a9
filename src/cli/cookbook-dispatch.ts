import type { Hook } from '@oclif/core';
import { loadCookbook } from './catalog.js';
import { reportError } from './base.js';
import { cookbookCommand } from './cookbook-command.js';

/**
 * oclif's command_not_found hook: `cookbook etcd.switchover …` is not an oclif command, so it
 * lands here and runs the cookbook of that name; an unknown name exits 98 with suggestions.
 */
const hook: Hook<'command_not_found'> = async function (opts) {
  // With topicSeparator ' ', oclif joins the leading words into the id ("examples.files:/tmp/x");
  // the cookbook's name is the first word, the others are its positional arguments.
  const [name = '', ...joined] = opts.id.split(':');
  const tail = opts.argv ?? [];
  const words = process.argv.slice(2);
  const at = words.indexOf(name);
  const positional =
    at >= 0 && words.length - tail.length > at ? words.slice(at + 1, words.length - tail.length) : joined;
  let Cmd;
  try {
    Cmd = cookbookCommand(name, await loadCookbook(name));
  } catch (e) {
    const code = reportError(e);
    this.exit(code);
    return;
  }
  return Cmd.run([...positional, ...tail], opts.config);
};

export default hook;
