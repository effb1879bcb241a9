import { describe, expect, test } from '@jest/globals';
import { ESLint } from 'eslint';
import { join } from 'node:path';

/** Lints `code` as if it were the file at `path` in this repository, with the project's own config. */
async function lintAs(path: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: process.cwd() });
  const [result] = await eslint.lintText(code, { filePath: join(process.cwd(), path) });
  return (result?.messages ?? []).map((m) => `${m.ruleId}: ${m.message}`);
}

describe('the layering rules of `npm run lint`', () => {
  test('a cookbook that imports src/dns fails the lint, naming the rule and what to do', async () => {
    const messages = await lintAs(
      'cookbooks/etcd/layering-probe.ts',
      "import { observeRRset } from '../../src/dns/index.js';\nexport const probe = observeRRset;\n",
    );
    expect(messages).toEqual([
      expect.stringMatching(/^no-restricted-imports: .*cookbooks talk to actions only/),
    ]);
  });

  test.each(['src/etcd/index.js', 'src/ssh/index.js', 'src/mirror/main.js'])(
    'a cookbook that imports %s fails the lint too',
    async (module) => {
      const messages = await lintAs(
        'cookbooks/etcd/layering-probe.ts',
        `import * as transport from '../../${module}';\nexport const probe = transport;\n`,
      );
      expect(messages.some((m) => m.startsWith('no-restricted-imports'))).toBe(true);
    },
  );

  test('a cookbook that imports the action layer passes', async () => {
    const messages = await lintAs(
      'cookbooks/etcd/layering-probe.ts',
      "import * as actions from '../../src/actions/index.js';\nexport const probe = actions;\n",
    );
    expect(messages).toEqual([]);
  });

  test('a transport that imports the CLI fails the lint', async () => {
    const messages = await lintAs(
      'src/dns/layering-probe.ts',
      "import * as cli from '../cli/context.js';\nexport const probe = cli;\n",
    );
    expect(messages).toEqual([
      expect.stringMatching(/^no-restricted-imports: .*a transport may not import the CLI/),
    ]);
  });
});
