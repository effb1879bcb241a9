#!/usr/bin/env bash
# The README's first command: install, build, bring the local lab up, and run the main job
# (a cookbook against the lab): the read-only overview of both etcd clusters, then a
# dry-run of the sample cookbook.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
node bin/run.js lab up
config=$(node bin/run.js lab status --json | node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0,"utf8")).config)')
export GALLEY_CONFIG="$config"
if node bin/run.js list --json | grep -q '"etcd.status"'; then
  node bin/run.js etcd.status
else
  node bin/run.js examples.files /tmp/galley-demo --dry-run
  node bin/run.js examples.files /tmp/galley-demo --yes -t T0 -r "quick start"
fi
echo
echo "The lab is up. Point the CLI at it:  export GALLEY_CONFIG=$config"
echo "Stop it with:                          node bin/run.js lab down"
