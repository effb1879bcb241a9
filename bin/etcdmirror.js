#!/usr/bin/env node
// etcdmirror: runs the built daemon (dist/), or the sources through tsx when dist/ is absent
// or GALLEY_MIRROR_FROM_SOURCE=1 (the integration tests use that, so they never run a stale build).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = fileURLToPath(new URL('../dist/src/mirror/main.js', import.meta.url));
let runMirrorCli;
if (existsSync(built) && process.env.GALLEY_MIRROR_FROM_SOURCE !== '1') {
  ({ runMirrorCli } = await import(built));
} else {
  await import('tsx/esm');
  ({ runMirrorCli } = await import(new URL('../src/mirror/main.ts', import.meta.url).href));
}
process.exit(await runMirrorCli(process.argv.slice(2)));
