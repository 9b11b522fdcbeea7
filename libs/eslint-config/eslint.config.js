// Type-aware lint for every package (run from the package folder: `eslint -c ../../libs/eslint-config/eslint.config.js src`).
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

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: here } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      'no-restricted-imports': ['error', { paths: restricted, patterns: [{ group: ['../../*'], message: 'import other packages by name, not by path' }] }],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportAllDeclaration', message: 'no export * barrels: name what a package exports' },
        ...(mayReadEnv ? [] : [{ selector: "MemberExpression[object.name='process'][property.name='env']", message: 'only composition roots read process.env' }]),
      ],
    },
  },
);
