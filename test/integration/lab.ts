import { loadConfig } from '../../src/config/load.js';
import type { GalleyConfig } from '../../src/config/schema.js';

/**
 * The environment file of the lab the integration tests run against. The global setup
 * brings the test lab up (its own address range and state directory, so it never touches
 * an operator's lab) and exports GALLEY_TEST_CONFIG.
 */
export function labConfigPath(): string {
  const p = process.env.GALLEY_TEST_CONFIG;
  if (!p)
    throw new Error(
      'GALLEY_TEST_CONFIG is not set: integration tests run through the global setup (npm test)',
    );
  return p;
}

export function labConfig(): GalleyConfig {
  return loadConfig(labConfigPath());
}
