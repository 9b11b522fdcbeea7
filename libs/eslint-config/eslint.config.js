// Type-aware lint for every package, sources and tests (run from the package folder:
// `eslint -c ../../libs/eslint-config/eslint.config.js src test`), and for the repository's test/ (from the root).
// Besides correctness rules, it enforces the architecture: each third-party package enters through one door.
import tseslint from 'typescript-eslint';

/** Which packages may import a third-party package directly (docs/adr/0001-architecture.md). */
const DOORS = {
  fastify: ['services/ingress'],
  '@fastify/type-provider-typebox': ['services/ingress'],
  bullmq: ['libs/queue'],
  ioredis: ['libs/redis'],
  '@msgpack/msgpack': ['libs/state-store', 'services/ingress'],
  pino: ['libs/logger'],
  yaml: ['libs/config'],
  nodemailer: ['libs/quarantine'],
};

const here = process.cwd().replace(/\\/g, '/');
const restricted = Object.entries(DOORS)
  .filter(([, owners]) => !owners.some((o) => here.endsWith(o)))
  .map(([name, owners]) => ({ name, message: `${name} enters hookgate only through ${owners.join(', ')}` }));

// Only composition roots and the config lib read the environment.
const mayReadEnv = ['services/hookgate', 'libs/config'].some((o) => here.endsWith(o));

// The repository's own tests (test/, linted from the root) cross packages by nature: they import sources by path
// and read the environment the test command sets.
const atRoot = !/\/(libs|services)\/[^/]+$/.test(here);

export default tseslint.config(
  // Build output, including what the benchmark and fuzz scripts compile under test/.
  { ignores: ['dist/**', 'node_modules/**', '**/.bench-dist/**', '**/.fuzz-dist/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: here } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      'no-restricted-imports': [
        'error',
        {
          paths: restricted,
          patterns: [{ group: ['../../*'], message: 'import other packages by name, not by path' }],
        },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportAllDeclaration', message: 'no export * barrels: name what a package exports' },
        ...(mayReadEnv
          ? []
          : [
              {
                selector: "MemberExpression[object.name='process'][property.name='env']",
                message: 'only composition roots read process.env',
              },
            ]),
      ],
    },
  },
  {
    // Tests: the same correctness rules. They read JSON answers as `any`, look at what a library holds through the
    // library itself (a BullMQ Queue's jobs, a pino sink's lines), and share the repository's test support
    // (test/support) by path: fine in a test, and nowhere else.
    files: ['test/**/*.ts', '**/test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      'no-restricted-imports': atRoot
        ? 'off'
        : [
            'error',
            {
              patterns: [
                {
                  regex: '^(\\.\\./){2,}(?!(\\.\\./)*test/support/)',
                  message: 'import other packages by name, not by path',
                },
              ],
            },
          ],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportAllDeclaration', message: 'no export * barrels: name what a package exports' },
      ],
    },
  },
);
