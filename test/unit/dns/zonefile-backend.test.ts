import { describe, expect, test } from '@jest/globals';
import { DnsConcurrentChangeError, ZonePublishError } from '../../../src/dns/errors.js';
import { ZonefileBackend } from '../../../src/dns/zonefile-backend.js';
import type { CommandResult, RemoteRunner } from '../../../src/ssh/types.js';

const FILE = '/etc/gdnsd/zones/example.test';
const ZONE =
  '$TTL 300\n@ SOA ns1.example.test. hostmaster.example.test. 5 3600 600 86400 60\nsrv 60 SRV 0 1 4001 conf1001.example.test.\n';

/** An in-memory authdns host: one file, `cat`, the stdin writer, and commands whose exit codes the test chooses. */
function fakeHost(exitCodes: Record<string, number> = {}) {
  const state = {
    content: ZONE,
    published: [] as string[],
    calls: [] as { argv: string[]; stdin?: string }[],
  };
  const runner: RemoteRunner = {
    async run(host, argv, options): Promise<CommandResult> {
      state.calls.push({ argv, stdin: options?.stdin });
      const result = (exitCode: number, stdout = ''): CommandResult => ({
        host,
        command: argv.join(' '),
        exitCode,
        stdout,
        stderr: exitCode ? 'zone does not load' : '',
        durationMs: 1,
      });
      if (argv[0] === 'cat' && argv[2] === FILE) return result(0, state.content);
      if (argv[0] === 'sh' && argv[4] === FILE) {
        state.content = options?.stdin ?? '';
        return result(0);
      }
      const code = exitCodes[argv[0]!] ?? 0;
      if (argv[0] === 'authdns-update' && code === 0) state.published.push(state.content);
      return result(code);
    },
  };
  return { state, runner };
}

const newSrv = [{ ttl: 10, data: { priority: 0, weight: 1, port: 4001, target: 'conf2001.example.test' } }];
const oldSrv = [{ ttl: 60, data: { priority: 0, weight: 1, port: 4001, target: 'conf1001.example.test' } }];

function backend(runner: RemoteRunner, checkCommand?: string[]) {
  return new ZonefileBackend({
    zone: 'example.test',
    host: 'authdns1',
    file: FILE,
    checkCommand,
    publishCommand: ['authdns-update'],
    runner,
  });
}

describe('the zone-file backend', () => {
  test('writes the edited file through stdin, with the serial bumped, then publishes it', async () => {
    const { state, runner } = fakeHost();
    await backend(runner).replaceRRset('srv.example.test', 'SRV', newSrv, oldSrv);
    expect(state.content).toBe(
      ZONE.replace(' 5 ', ' 6 ').replace(
        'srv 60 SRV 0 1 4001 conf1001.example.test.',
        'srv.example.test. 10 SRV 0 1 4001 conf2001.example.test.',
      ),
    );
    expect(state.published).toEqual([state.content]);
    const write = state.calls.find((c) => c.argv[0] === 'sh')!;
    expect(write.argv).toEqual(['sh', '-c', 'cat > "$1"', 'sh', FILE]);
    expect(write.stdin).toBe(state.content);
  });

  test('a zone the publish command refuses is put back as it was, and the error says nothing was published', async () => {
    const { state, runner } = fakeHost({ 'authdns-update': 1 });
    const error = await backend(runner)
      .replaceRRset('srv.example.test', 'SRV', newSrv)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ZonePublishError);
    expect((error as Error).message).toMatch(
      /refused the edited zone example.test on authdns1: exit code 1: zone does not load; the previous zone file was restored, nothing was published/,
    );
    expect(state.content).toBe(ZONE);
  });

  test('a zone the check command refuses is put back and the publish command never runs', async () => {
    const { state, runner } = fakeHost({ 'check-zone': 3 });
    await expect(
      backend(runner, ['check-zone']).replaceRRset('srv.example.test', 'SRV', newSrv),
    ).rejects.toThrow(ZonePublishError);
    expect(state.content).toBe(ZONE);
    expect(state.calls.some((c) => c.argv[0] === 'authdns-update')).toBe(false);
  });

  test('a record set that differs from the expected one is not touched', async () => {
    const { state, runner } = fakeHost();
    const expected = [{ ttl: 300, data: oldSrv[0]!.data }];
    await expect(backend(runner).replaceRRset('srv.example.test', 'SRV', newSrv, expected)).rejects.toThrow(
      DnsConcurrentChangeError,
    );
    expect(state.content).toBe(ZONE);
    expect(state.calls.map((c) => c.argv[0])).toEqual(['cat']);
  });
});
