import { describe, expect, test } from '@jest/globals';
import { LabError } from '../../../src/lab/errors.js';
import { checkPrerequisites, missingPackages } from '../../../src/lab/prerequisites.js';

describe('lab prerequisites', () => {
  test('a non-root user is told to run the lab as root', () => {
    expect(() => checkPrerequisites(1000, () => true)).toThrow(LabError);
    expect(() => checkPrerequisites(1000, () => true)).toThrow('the lab needs root');
  });

  test('missing binaries are reported once per package with the apt-get command to run', () => {
    const missing = (p: string) => !p.includes('gdnsd') && !p.endsWith('/knotd');
    expect(missingPackages(missing)).toEqual(['gdnsd', 'knot']);
    try {
      checkPrerequisites(0, missing);
      throw new Error('expected a LabError');
    } catch (e) {
      expect((e as LabError).message).toBe('the lab needs packages that are not installed: gdnsd, knot');
      expect((e as LabError).suggestions).toEqual(['apt-get update && apt-get install -y gdnsd knot']);
    }
  });

  test('root with every package passes', () => {
    expect(() => checkPrerequisites(0, () => true)).not.toThrow();
  });
});
