/**
 * Every cookbook dry-run against in-memory fakes of the transports (fake-world.ts), its plan
 * compared with the one stored under __plans__/: a change to a cookbook, or to an action it
 * uses, shows up in review as a diff of that JSON file. After an intended change, rewrite the
 * stored plans with GALLEY_UPDATE_PLANS=1 and review the diff.
 */
import { describe, expect, test } from '@jest/globals';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listCookbookFiles, loadCookbook } from '../../../src/cli/catalog.js';
import type { Plan } from '../../../src/core/plan.js';
import { runCookbook } from '../../../src/core/runner.js';
import { options } from '../core/fakes.js';
import { FakeWorld } from './fake-world.js';

const here = dirname(fileURLToPath(import.meta.url));
const plansDir = join(here, '__plans__');
const update = process.env.GALLEY_UPDATE_PLANS === '1';

interface Case {
  args: Record<string, string>;
  /** How the world differs from the healthy lab for this cookbook. */
  world?: (w: FakeWorld) => void;
}

/**
 * Cookbooks whose dry-run needs more of the world than the fakes have yet, each with what is
 * missing. A known gap, listed here so that it shows; any other cookbook without a case fails.
 */
const WITHOUT_FAKES = new Map([
  [
    'etcd.reimage',
    "the lab's client hosts (their status files and connections) and the trusted host-key source are not in FakeWorld",
  ],
]);

/** One dry-run per cookbook, with the arguments of its runbook. */
const cases: Record<string, Case> = {
  'examples.files': { args: { dir: '/nonexistent/galley-plan-test', count: '2' } },
  'etcd.status': { args: {} },
  'etcd.switchover': { args: { from: 'codfw', to: 'eqiad' } },
  'etcd.member-remove': { args: { host: 'conf2006.codfw.wmnet' } },
  'etcd.member-add': {
    args: { host: 'conf2006.codfw.wmnet' },
    world: (w) => {
      // conf2006 was removed: not a member, etcd stopped, in no SRV record.
      const codfw = w.etcd.get('codfw')!;
      codfw.members.splice(
        codfw.members.findIndex((m) => m.name === 'conf2006.codfw.wmnet'),
        1,
      );
      w.hosts.get('conf2006.codfw.wmnet')!.units.set('etcd', false);
      for (const [k, records] of w.dns)
        w.dns.set(
          k,
          records.filter((r) => JSON.stringify(r.data).indexOf('conf2006') < 0),
        );
    },
  },
  'etcd.bootstrap': { args: { cluster: 'kubetcd' } },
  'etcd.backup': { args: { cluster: 'codfw' } },
  'etcd.disaster-recovery': {
    args: { cluster: 'eqiad', backup: 'latest' },
    world: (w) => {
      // Two of three members lost: no quorum.
      const eqiad = w.etcd.get('eqiad')!;
      eqiad.down.add('conf1008.eqiad.wmnet');
      eqiad.down.add('conf1009.eqiad.wmnet');
      eqiad.leader = undefined;
      for (const h of ['conf1008.eqiad.wmnet', 'conf1009.eqiad.wmnet'])
        w.hosts.get(h)!.units.set('etcd', false);
    },
  },
  'etcd.replication-reload': { args: {} },
};

/** The reviewed part of a plan: steps, actions, parameters and changes (not times, people or the fingerprint). */
function reviewed(plan: Plan | undefined): unknown {
  return plan?.steps.map((s) => ({
    step: s.title,
    kind: s.kind,
    ...(s.note !== undefined ? { note: s.note } : {}),
    actions: s.actions.map((a) => ({
      kind: a.kind,
      summary: a.summary,
      params: a.params,
      changes: a.changes.map(({ subject, from, to }) => ({ subject, from, to })),
      ...(a.irreversible ? { irreversible: a.irreversible } : {}),
      ...(a.atRunTime ? { atRunTime: a.atRunTime } : {}),
    })),
  }));
}

describe('every cookbook has a stored plan', () => {
  test('each cookbook of the project is dry-run here', () => {
    const own = listCookbookFiles()
      .filter((c) => !c.file.includes('fixtures'))
      .filter((c) => !WITHOUT_FAKES.has(c.name))
      .map((c) => c.name)
      .sort();
    expect(Object.keys(cases).sort()).toEqual(own);
  });
});

describe.each(Object.entries(cases))('%s dry-run against in-memory transports', (name, c) => {
  test('plans what the stored plan says, changing nothing', async () => {
    const world = new FakeWorld();
    c.world?.(world);
    const cookbook = await loadCookbook(name);
    const { o, text } = options(cookbook, {
      name,
      rawArgs: c.args,
      dryRun: true,
      loadConfig: () => world.config,
      services: world.services,
    });
    // Child cookbooks (ctx.runCookbook) come from the project's catalog, as in the CLI.
    const r = await runCookbook({ ...o, resolveCookbook: loadCookbook });
    if (process.env.GALLEY_PLAN_DEBUG) process.stderr.write(`${name}: ${text()}\n`);
    // The run id (in probe keys, silence comments) is the one thing that differs between runs.
    const got: unknown = JSON.parse(
      JSON.stringify({
        cookbook: name,
        args: c.args,
        exitCode: r.exitCode,
        outcome: r.outcome,
        steps: reviewed(r.plan),
      })
        .replaceAll(r.runId, 'RUN-ID')
        // and the names of what it creates now (a backup named after the time it is taken)
        .replace(/\b\d{8}-\d{6}\b/g, (t) => (t >= r.runId.slice(0, 15) ? 'YYYYMMDD-HHMMSS' : t)),
    );
    // Nothing but read-only commands reached the hosts, and the fake etcd refused every write.
    expect(world.unknown).toEqual([]);
    expect(
      world.ssh.sent.map((s) => s.command).filter((cmd) => /^'?(rm|mv|find|systemctl' 'st)/.test(cmd)),
    ).toEqual([]);
    const file = join(plansDir, `${name}.json`);
    if (update) {
      mkdirSync(plansDir, { recursive: true });
      writeFileSync(file, `${JSON.stringify(got, null, 2)}\n`);
    }
    if (!existsSync(file))
      throw new Error(
        `no stored plan ${file}: run GALLEY_UPDATE_PLANS=1 on this test, then review it\n${text()}`,
      );
    expect(got).toEqual(JSON.parse(readFileSync(file, 'utf8')));
  });
});
