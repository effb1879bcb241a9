/**
 * The lab's operator hosts: cumin-like hosts that run the CLI (production has one per
 * datacenter), each with its own hostname and state directory (journals, audit log). A
 * command runs "on" one in a UTS namespace of its own (`unshare --uts`, as the lab's conf
 * hosts), so `hostname` and os.hostname() are that host's name there; the network and the
 * rest of the file system are shared, as two cumin hosts share the network and the etcd
 * clusters. Runs are shared between them through etcd (the config's `runs`).
 */
import { join } from 'node:path';
import type { LabLayout } from './layout.js';

export const OPERATOR_HOSTS = ['cumin1002.eqiad.wmnet', 'cumin2002.codfw.wmnet'] as const;
export type OperatorHost = (typeof OPERATOR_HOSTS)[number];

export function operatorDir(layout: LabLayout, host: string): string {
  return join(layout.dir, 'operators', host);
}

/** Where that host keeps journals and its audit log. */
export function operatorStateDir(layout: LabLayout, host: string): string {
  return join(operatorDir(layout, host), 'state');
}

/** The environment file of that host (the lab's, with its own state_dir and audit_log). */
export function operatorConfigFile(layout: LabLayout, host: string): string {
  return join(operatorDir(layout, host), 'galley.yaml');
}

/** The host of a name or unique prefix (`cumin2002`), or undefined. */
export function findOperatorHost(name: string): OperatorHost | undefined {
  const found = OPERATOR_HOSTS.filter((h) => h === name || h.startsWith(`${name}.`));
  return found.length === 1 ? found[0] : undefined;
}

/**
 * The argv that runs `command` as that operator host: in a new UTS namespace whose hostname
 * is the host's, with its config and state directory in the environment (see {@link operatorEnv}).
 */
export function operatorArgv(host: string, command: readonly string[]): string[] {
  return ['unshare', '--uts', '--', 'sh', '-c', 'hostname "$0" && exec "$@"', host, ...command];
}

/** The environment of a command run as that operator host. */
export function operatorEnv(layout: LabLayout, host: string): Record<string, string> {
  return {
    GALLEY_CONFIG: operatorConfigFile(layout, host),
    GALLEY_STATE_DIR: operatorStateDir(layout, host),
  };
}
