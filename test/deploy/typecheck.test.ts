/**
 * Typechecks the manifest generator with its own CLI (deploy/k8s/tsconfig.json: the CLI imports `.ts` paths, which
 * test/tsconfig.json does not allow): kubernetes-models' types reject misspelt or misplaced fields, which its
 * JSON-schema validation lets through (extra properties are allowed there). These tests are typechecked by
 * test/tsconfig.json (its `deploy` entry).
 */
import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { ROOT } from './support.js';

it('typechecks the generator and its CLI (tsc -p deploy/k8s/tsconfig.json)', () => {
  const tsc = spawnSync(
    process.execPath,
    ['node_modules/typescript/bin/tsc', '-p', 'deploy/k8s/tsconfig.json', '--pretty', 'false'],
    { cwd: ROOT, encoding: 'utf8' },
  );
  const errors = `${tsc.stdout}${tsc.stderr}`.split('\n').filter((l) => /error TS\d+/.test(l));
  expect(errors).toEqual([]);
  expect(tsc.status).toBe(0);
}, 120_000);
