import { afterAll, describe, expect, test } from '@jest/globals';
import { deleteKey, getKey, setKey, addMember } from '../../../src/actions/etcd.js';
import { defineCookbook, step } from '../../../src/core/cookbook.js';
import { EtcdCompareFailedError } from '../../../src/etcd/index.js';
import { labConfig } from '../lab.js';
import { fail, labEnv, runAgainstLab } from './harness.js';

const config = labConfig();
const env = labEnv(config);
afterAll(() => env.close());

const key = (name: string) => `/galley-test/actions/${name}-${Date.now()}`;

describe('etcd actions on the lab', () => {
  test('set-key applies through the TLS proxy, and a rollback deletes a key that did not exist', async () => {
    const k = key('new');
    const cb = defineCookbook({
      title: 't',
      args: {},
      steps: () => [
        step('set', [setKey({ cluster: 'codfw', key: k, value: 'v1' })]),
        step('fail', [fail({ why: 'boom' })]),
      ],
    });
    const { result, output } = await runAgainstLab(config, cb);
    expect(result.outcome).toBe('rolled-back');
    expect(output).toContain(`codfw:${k}: absent → "v1"`);
    expect(await getKey(env, { cluster: 'codfw', key: k })).toBeUndefined();
  });

  test('set-key restores the previous value on rollback', async () => {
    const k = key('old');
    await setKey({ cluster: 'codfw', key: k, value: 'original' }).definition.apply(
      { cluster: 'codfw', key: k, value: 'original' },
      { exists: false },
      env,
    );
    const cb = defineCookbook({
      title: 't',
      args: {},
      steps: () => [
        step('set', [setKey({ cluster: 'codfw', key: k, value: 'changed' })]),
        step('fail', [fail({ why: 'boom' })]),
      ],
    });
    const { result } = await runAgainstLab(config, cb);
    expect(result.outcome).toBe('rolled-back');
    expect(await getKey(env, { cluster: 'codfw', key: k })).toBe('original');
  });

  test('a dry-run of set-key and delete-key changes nothing', async () => {
    const k = key('dry');
    await env.service('x', () => 0);
    const a = setKey({ cluster: 'codfw', key: k, value: 'present' });
    await a.definition.apply(a.params, { exists: false }, env);
    const cb = defineCookbook({
      title: 't',
      args: {},
      steps: () => [
        step('s', [
          setKey({ cluster: 'codfw', key: k, value: 'other' }),
          deleteKey({ cluster: 'codfw', key: k }),
        ]),
      ],
    });
    const { result, output } = await runAgainstLab(config, cb, { dryRun: true });
    expect(result.outcome).toBe('dry-run');
    expect(output).toContain(`codfw:${k}: "present" → absent`);
    expect(await getKey(env, { cluster: 'codfw', key: k })).toBe('present');
  });

  test('a concurrent change between observe and apply is detected, not overwritten', async () => {
    const k = key('race');
    const a = setKey({ cluster: 'codfw', key: k, value: 'mine' });
    const seed = setKey({ cluster: 'codfw', key: k, value: 'seed' });
    await seed.definition.apply(seed.params, { exists: false }, env);
    const before = await a.definition.observe(a.params, env);
    const other = setKey({ cluster: 'codfw', key: k, value: 'theirs' });
    await other.definition.apply(other.params, await other.definition.observe(other.params, env), env);
    await expect(a.definition.apply(a.params, before, env)).rejects.toBeInstanceOf(EtcdCompareFailedError);
    expect(await getKey(env, { cluster: 'codfw', key: k })).toBe('theirs');
  });

  test('delete-key is undone by writing the old value back', async () => {
    const k = key('del');
    const seed = setKey({ cluster: 'codfw', key: k, value: 'keep me' });
    await seed.definition.apply(seed.params, { exists: false }, env);
    const cb = defineCookbook({
      title: 't',
      args: {},
      steps: () => [
        step('delete', [deleteKey({ cluster: 'codfw', key: k })]),
        step('fail', [fail({ why: 'boom' })]),
      ],
    });
    const { result } = await runAgainstLab(config, cb);
    expect(result.outcome).toBe('rolled-back');
    expect(await getKey(env, { cluster: 'codfw', key: k })).toBe('keep me');
  });

  test('the read-only eqiad proxy refuses set-key with a clear read-only error', async () => {
    const k = key('ro');
    const cb = defineCookbook({
      title: 't',
      args: {},
      steps: () => [step('set', [setKey({ cluster: 'eqiad', key: k, value: 'x' })])],
    });
    const { result, output } = await runAgainstLab(config, cb);
    expect(result.exitCode).toBe(1);
    expect(output).toMatch(/read-only/);
  });

  test('add-member adds a peer to the cluster and a rollback removes it', async () => {
    const params = {
      cluster: 'eqiad',
      host: 'conf1010.eqiad.wmnet',
      peerUrl: `http://${config.hosts['conf1007.eqiad.wmnet']!.address.replace(/\.\d+$/, '.10')}:2380`,
    };
    const cb = defineCookbook({
      title: 't',
      args: {},
      steps: () => [step('add', [addMember(params)]), step('fail', [fail({ why: 'boom' })])],
    });
    const { result, output } = await runAgainstLab(config, cb);
    expect(output).toContain('eqiad members');
    expect(output).toContain('+ conf1010.eqiad.wmnet');
    expect(result.outcome).toBe('rolled-back');
    const members = await addMember(params).definition.observe(params, env);
    expect(members.members.flatMap((m) => m.peerURLs)).not.toContain(params.peerUrl);
    expect(members.members).toHaveLength(3);
  }, 60_000);
});
