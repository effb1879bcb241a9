import { describe, expect, test } from '@jest/globals';
import { CheckError } from '../../../src/core/errors.js';
import { RemoteExecutor } from '../../../src/ssh/executor.js';
import { ServiceControl, ServiceError } from '../../../src/ssh/services.js';
import { FakeTransport } from './fake-transport.js';

/** A transport whose hosts keep unit states and answer systemctl like the lab's stand-in. */
function systemctlHost(initial: Record<string, boolean>) {
  const active = { ...initial };
  const transport = new FakeTransport((_host, command) => {
    const m = /^systemctl '(\w[\w-]*)' '([^']+)'$|^systemctl (is-active|start|stop|restart) '([^']+)'$/.exec(
      command,
    );
    const action = m?.[1] ?? m?.[3];
    const unit = m?.[2] ?? m?.[4] ?? '';
    if (action === 'is-active')
      return active[unit] ? { stdout: 'active\n' } : { stdout: 'inactive\n', exitCode: 3 };
    if (action === 'start' || action === 'restart') active[unit] = true;
    else if (action === 'stop') active[unit] = false;
    else return { exitCode: 2, stderr: 'unsupported\n' };
    return {};
  });
  return { active, transport };
}

function control(transport: FakeTransport, dryRun = false) {
  return new ServiceControl(new RemoteExecutor(transport, { dryRun, defaultTimeoutMs: 1000 }), {
    sleep: async () => undefined,
  });
}

describe('service control over SSH', () => {
  test('is-active reads the state the host prints, even with a non-zero exit code', async () => {
    const { transport } = systemctlHost({ etcd: true });
    const services = control(transport);
    expect(await services.isActive('h1', 'etcd')).toBe('active');
    expect(await services.isActive('h1', 'nginx')).toBe('inactive');
  });

  test('stop returns the previous state and restore starts the unit again', async () => {
    const { active, transport } = systemctlHost({ etcd: true });
    const services = control(transport);
    const change = await services.stop('h1', 'etcd');
    expect(change).toEqual({ host: 'h1', unit: 'etcd', action: 'stop', previous: 'active', wouldRun: false });
    expect(active.etcd).toBe(false);
    await services.restore(change);
    expect(active.etcd).toBe(true);
  });

  test('restore does nothing when the unit is already in its previous state', async () => {
    const { transport } = systemctlHost({ etcd: true });
    const services = control(transport);
    const change = await services.restart('h1', 'etcd');
    transport.sent.length = 0;
    expect(await services.restore(change)).toBeUndefined();
    expect(transport.sent.map((s) => s.command)).toEqual(["systemctl is-active 'etcd'"]);
  });

  test('in dry-run the state is read but nothing is changed', async () => {
    const { active, transport } = systemctlHost({ etcd: true });
    const change = await control(transport, true).stop('h1', 'etcd');
    expect(change).toMatchObject({ previous: 'active', wouldRun: true });
    expect(active.etcd).toBe(true);
    expect(transport.sent.map((s) => s.command)).toEqual(["systemctl is-active 'etcd'"]);
  });

  test('a failed systemctl is an error naming the host, unit and exit code', async () => {
    const transport = new FakeTransport((_h, c) =>
      c.startsWith('systemctl start')
        ? { exitCode: 5, stderr: 'Unit nope.service not found.\n' }
        : { exitCode: 3, stdout: 'inactive\n' },
    );
    await expect(control(transport).start('h1', 'nope')).rejects.toThrow(
      new ServiceError('systemctl start nope failed on h1: exit code 5: Unit nope.service not found.'),
    );
  });

  test('a unit name that is not a unit name is refused before anything is sent', async () => {
    const transport = new FakeTransport();
    await expect(control(transport).restart('h1', 'etcd; reboot')).rejects.toThrow('invalid unit name');
    await expect(control(transport).restart('h1', '--all')).rejects.toThrow('invalid unit name');
    expect(transport.sent).toEqual([]);
  });

  test('waiting for a state polls until it holds', async () => {
    let calls = 0;
    const transport = new FakeTransport(() =>
      ++calls >= 3 ? { stdout: 'active\n' } : { stdout: 'activating\n', exitCode: 3 },
    );
    await control(transport).waitForState('h1', 'etcd', 'active', { timeoutMs: 60_000, intervalMs: 1 });
    expect(calls).toBe(3);
  });

  test('waiting past the deadline is a check error with the last state seen', async () => {
    const transport = new FakeTransport(() => ({ stdout: 'failed\n', exitCode: 3 }));
    const wait = control(transport).waitForState('h1', 'etcd', 'active', { timeoutMs: 0 });
    await expect(wait).rejects.toThrow(CheckError);
    await expect(control(transport).waitForState('h1', 'etcd', 'active', { timeoutMs: 0 })).rejects.toThrow(
      'etcd on h1 is failed, expected active',
    );
  });

  test('an unreachable host is an error, not a state', async () => {
    const transport = new FakeTransport(() => ({ exitCode: null, error: 'cannot connect to h1' }));
    await expect(control(transport).isActive('h1', 'etcd')).rejects.toThrow(
      'cannot read the state of etcd on h1: cannot connect to h1',
    );
  });
});
