#!/usr/bin/env -S node --import tsx --no-warnings
import { execute } from '@oclif/core';

// spicerack's habit: `cookbook -l` lists the cookbooks (as `cookbook list`).
const args = process.argv.slice(2);
if (args[0] === '-l' || args[0] === '--list') args[0] = 'list';
await execute({ development: true, dir: import.meta.url, args });
