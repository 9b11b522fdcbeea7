import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

// The container image test builds the image and runs a dozen containers: it runs after every other test file has
// finished (its own project, a later group), so its CPU and disk load cannot slow the timed cases of the others.
const IMAGE_TEST = 'test/deploy/image.int.test.ts';

// Unit tests need nothing but the sources: no Redis, no daemons, no build (`npm run test:unit`). They are the
// `*.test.ts` files that are not `*.int.test.ts`, but for the generator's typecheck (it needs built packages).
// The two projects split the same files between them.
const ALL = ['libs/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'test/**/*.test.ts'];
const NOT_UNIT = ['**/*.int.test.ts', 'test/deploy/typecheck.test.ts'];
const IGNORED = ['**/node_modules/**', '**/dist/**'];

// Workspace packages resolve to their TypeScript sources (the `source` export condition): tests need no build,
// except the system tests, which run the built `hookgate` executable.
export default defineConfig({
  root,
  resolve: { conditions: ['source', 'module', 'node', 'default'] },
  ssr: { resolve: { conditions: ['source', 'module', 'node', 'default'], externalConditions: ['source'] } },
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default', 'json'],
    outputFile: { json: 'test/.results/vitest.json' },
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ALL, exclude: [...IGNORED, ...NOT_UNIT], sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        // The rest but the image test: real Redis, engines, Postfix, the built executable.
        test: {
          name: 'suite',
          include: NOT_UNIT,
          exclude: [...IGNORED, IMAGE_TEST],
          sequence: { groupOrder: 0 },
        },
      },
      { extends: true, test: { name: 'image', include: [IMAGE_TEST], sequence: { groupOrder: 1 } } },
    ],
  },
});
