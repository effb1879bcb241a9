import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { arg, check, defineCookbook, step } from '../../src/core/cookbook.js';
import { CheckError } from '../../src/core/errors.js';
import { ensureDirectory, readText, removeFile, writeFile } from '../../src/actions/files.js';

/**
 * A sample that needs no server: makes sure DIR holds COUNT numbered files with the given
 * text, removes numbered files beyond COUNT (left by an earlier, larger run), and checks the
 * result. Run it twice: the second run has nothing to do. Make one of the targets a
 * directory and watch the Runner roll the others back.
 */
export default defineCookbook({
  title: 'Keep numbered files in a directory (a sample that needs no server)',
  description:
    'Creates DIR if needed, writes COUNT numbered files, removes numbered files beyond COUNT, and checks that they read back. Every action is reversible: a failure rolls back what was applied, and `cookbook rollback RUN` undoes a finished run.',
  examples: [
    'cookbook examples.files /tmp/demo --dry-run',
    'cookbook examples.files /tmp/demo --count 5',
    'cookbook examples.files /tmp/demo --count 2 -y -t T1234 -r "demo"',
  ],
  args: {
    dir: arg.path({ description: 'directory to write into (created if missing)', positional: true }),
    count: arg.integer({ description: 'how many numbered files to keep', default: 3, min: 0, max: 100 }),
    message: arg.string({ description: 'text written into each file', default: 'hello from galley' }),
  },
  lock: (args) => ({ name: `examples.files:${args.dir}` }),
  steps: ({ args }) => {
    const numbered = (n: number) => join(args.dir, `file${n}.txt`);
    const wanted = Array.from({ length: args.count }, (_, i) => numbered(i + 1));
    return [
      step('Create the directory', [ensureDirectory({ path: args.dir })]),
      step(
        `Write ${args.count} numbered files`,
        wanted.map((path) => writeFile({ path, content: `${args.message}\n` })),
      ),
      step('Remove numbered files beyond the count', async () =>
        (await numberedFiles(args.dir))
          .filter((n) => n > args.count)
          .map((n) => removeFile({ path: numbered(n) })),
      ),
      check('Every file reads back', async () => {
        for (const f of wanted) {
          if ((await readText(f)) !== `${args.message}\n`)
            throw new CheckError(`${f} does not hold the expected text`);
        }
        return `${wanted.length} files hold the expected text`;
      }),
    ];
  },
});

/** Numbers of the fileN.txt files in a directory (none if it does not exist yet). */
async function numberedFiles(dir: string): Promise<number[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .map((n) => /^file(\d+)\.txt$/.exec(n)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}
