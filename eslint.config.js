import tseslint from 'typescript-eslint';

/** Import patterns of the transports, for the layering rules below. */
const transports = [
  '**/src/dns',
  '**/src/dns/*',
  '**/src/etcd',
  '**/src/etcd/*',
  '**/src/ssh',
  '**/src/ssh/*',
  '**/src/mirror/*',
  '**/src/lab/*',
];

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'node_modules/',
      '.lab/',
      'coverage/',
      'bin/',
      '*.js',
      '*.mjs',
      'bench/*.mjs',
      'scripts/',
    ],
  },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // A cookbook reads like its runbook and talks only to actions (src/actions, src/core).
    files: ['cookbooks/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: transports,
              message:
                'cookbooks talk to actions only (src/actions, src/core): give the action layer what the cookbook needs',
            },
          ],
        },
      ],
    },
  },
  {
    // The transports never reach up into the CLI.
    files: ['src/dns/**/*.ts', 'src/etcd/**/*.ts', 'src/ssh/**/*.ts', 'src/mirror/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/cli/*', '**/cli'], message: 'a transport may not import the CLI (src/cli)' },
          ],
        },
      ],
    },
  },
);
