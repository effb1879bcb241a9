import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * `npm pack` makes a package that installs `cookbook` and `etcdmirror` where there is no
 * repository: the tarball is installed into a directory of its own, outside the repository,
 * and its commands run from there.
 *
 * The machine reaches no registry during the tests, so the install is offline, from npm's
 * cache: a plain `npm install --offline TARBALL` would need the registry's metadata of every
 * dependency to resolve their versions (npm ci keeps only the tarballs, by integrity). The
 * install directory gets a lockfile instead: the tarball itself, and the production subset of
 * the repository's lockfile (the very versions the package's `dependencies` resolve to here),
 * with each tarball's URL (this repository's npmrc omits them) on the configured registry, so
 * that `npm ci --offline` takes every dependency from the cache by its integrity. Nothing of
 * the repository's node_modules is used.
 */
const repo = process.cwd();
const work = mkdtempSync(join(tmpdir(), 'galley-pack-'));
const project = join(work, 'install');

function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env, timeout: 480_000 });
  if (r.error) throw r.error;
  return r;
}

/** The environment of an operator's shell that knows nothing of the repository. */
function cleanEnv(): NodeJS.ProcessEnv {
  return {
    PATH: `${join(project, 'node_modules', '.bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: work,
    XDG_STATE_HOME: join(work, 'state'),
  };
}

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dev?: boolean;
  devOptional?: boolean;
  optional?: boolean;
  [key: string]: unknown;
}

/** The install directory's lockfile: the tarball, and the repository's production packages with their URLs. */
function installLock(tarball: string, registry: string): object {
  const pjson = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as Record<string, unknown>;
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const integrity = `sha512-${createHash('sha512')
    .update(readFileSync(join(project, tarball)))
    .digest('base64')}`;
  const packages: Record<string, LockEntry> = {
    '': { name: 'galley-install', dependencies: { galley: `file:${tarball}` } },
    'node_modules/galley': {
      version: String(pjson.version),
      resolved: `file:${tarball}`,
      integrity,
      dependencies: pjson.dependencies,
      bin: pjson.bin,
      engines: pjson.engines,
    },
  };
  const base = registry.replace(/\/$/, '');
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (!path.startsWith('node_modules/') || entry.dev) continue; // the root, and what only development needs
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const { devOptional, ...rest } = entry;
    packages[path] = {
      ...rest,
      ...(devOptional ? { optional: true } : {}),
      resolved: entry.resolved ?? `${base}/${name}/-/${name.split('/').pop()}-${entry.version}.tgz`,
    };
  }
  return { name: 'galley-install', lockfileVersion: 3, requires: true, packages };
}

let tarball = '';
let files: string[] = [];

beforeAll(() => {
  // The build of `npm test` (npm pack's prepack would build again, rewriting dist/ under the
  // other integration tests and the lab's units that run it: --ignore-scripts packs this one).
  if (
    !existsSync(join(repo, 'oclif.manifest.json')) ||
    !existsSync(join(repo, 'dist', 'src', 'cli', 'commands.js'))
  )
    throw new Error('no build to pack: run `npm run build` first');
  const pack = run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], repo);
  expect(pack.status).toBe(0);
  const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as {
    filename: string;
    files: { path: string }[];
  }[];
  tarball = info!.filename;
  files = info!.files.map((f) => f.path);
  run('mkdir', ['-p', project], work);
  run('cp', [join(work, tarball), project], work);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'galley-install', private: true, dependencies: { galley: `file:${tarball}` } }),
  );
  const registry = run('npm', ['config', 'get', 'registry'], project).stdout.trim();
  writeFileSync(join(project, 'package-lock.json'), JSON.stringify(installLock(tarball, registry), null, 2));
  // --ignore-scripts: no dependency's install script may reach for the network (node-gyp headers).
  const install = run('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], project);
  if (install.status !== 0) throw new Error(`npm ci --offline failed:\n${install.stderr}`);
}, 600_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  test('holds the built CLI, the oclif manifest, the lab assets and both commands, and nothing else of the tree', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'oclif.manifest.json',
        'bin/run.js',
        'bin/etcdmirror.js',
        'dist/src/cli/commands.js',
        'dist/src/mirror/main.js',
        'dist/cookbooks/etcd/switchover.js',
        'src/lab/assets/host-init.sh',
      ]),
    );
    expect(files.filter((f) => /^(test|fixtures|bench|scripts)\/|^bin\/dev\.js$|\.ts$/.test(f))).toEqual([]);
    const manifest = JSON.parse(
      readFileSync(join(project, 'node_modules', 'galley', 'oclif.manifest.json'), 'utf8'),
    );
    expect(Object.keys(manifest.commands)).toEqual(
      expect.arrayContaining(['list', 'exec', 'etcd.switchover']),
    );
  });

  test('installed from the tarball, `cookbook --version`, `cookbook list` and `etcdmirror --help` run', () => {
    const bin = join(project, 'node_modules', '.bin');
    expect(existsSync(join(bin, 'cookbook'))).toBe(true);
    const version = run(join(bin, 'cookbook'), ['--version'], work, cleanEnv());
    expect(version.stderr).toBe('');
    expect(version.status).toBe(0);
    expect(version.stdout).toMatch(/^galley\/\d+\.\d+\.\d+ /);

    const list = run(join(bin, 'cookbook'), ['list'], work, cleanEnv());
    expect(list.status).toBe(0);
    expect(list.stdout).toMatch(/^etcd\n {2}backup +Take a verified v2 backup/m);
    expect(list.stdout).toMatch(/^ {2}switchover +Switch the etcd master/m);
    // The files listed are the installed package's, not the repository's.
    const json = JSON.parse(run(join(bin, 'cookbook'), ['list', '--json'], work, cleanEnv()).stdout) as {
      file: string;
    }[];
    expect(json.every((c) => c.file.startsWith(join(project, 'node_modules', 'galley')))).toBe(true);

    const help = run(join(bin, 'cookbook'), ['--help'], work, cleanEnv());
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^ {2}etcd\.switchover +Switch the etcd master/m);

    const mirror = run(join(bin, 'etcdmirror'), ['--help'], work, cleanEnv());
    expect(mirror.status).toBe(0);
    expect(mirror.stdout).toContain('etcdmirror: strict, fast, crash-safe replication');
  });
});
