// Lint rules: typescript-eslint with type information, no import cycles, kebab-case file names,
// the Temporal sandbox rule for workflow code and the layer rules between the top-level folders.
import { readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, posix, relative } from 'node:path';
import js from '@eslint/js';
import checkFile from 'eslint-plugin-check-file';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const TESTS = ['**/*.test.ts', 'test/**', '**/test-support/**'];

/** A layer's rule against importing other folders (types included), at any depth of `../`. */
const notFrom = (folders, message) => ({ regex: `^(\\.\\./)+(${folders.join('|')})(/|$)`, message });
const API_RULES = [notFrom(['activities'], 'api/ never imports activities/: the worker owns them.')];
const GATEWAY_RULES = [
  notFrom(
    ['api', 'activities', 'workflows', 'worker'],
    'gateway/ runs without the Docker socket or the worker: it imports lib/ only (the API mounts it).',
  ),
];
const LIB_RULES = [
  notFrom(
    ['api', 'gateway', 'activities', 'workflows', 'worker'],
    'lib/ is shared by every layer and imports none of them.',
  ),
];
const ROUTE_RULES = [
  {
    regex: '^\\./[^/]+$',
    message: 'Route files never import each other: move what they share into lib/ (or api/ outside routes/).',
  },
];

// Workflow code runs in Temporal's sandbox, which has no Node builtins and must stay deterministic. It imports
// @temporalio/workflow (and @temporalio/common, which that package is built on), other workflow files, these lib
// modules, and types from anywhere (`import type` is erased). A module listed here is held to the same rule.
const WORKFLOW_SAFE_LIB = [
  'lib/errors.ts',
  'lib/governance/states.ts',
  'lib/policy/notes.ts',
  'lib/search-attributes.ts',
  'lib/server-health.ts',
  'lib/server-status.ts',
  'lib/workflow-ids.ts',
];
const SANDBOX_PACKAGES = ['@temporalio/workflow', '@temporalio/common'];
const NODE_BUILTINS = builtinModules.flatMap((m) => (m.startsWith('node:') ? [m] : [m, `node:${m}`]));

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
// Test harnesses (test/, *.test.ts, workflows/test-support/) run in Node, outside the workflow sandbox.
const isTest = (file) => file.endsWith('.test.ts') || file.startsWith('test/') || file.includes('/test-support/');
const workflowFiles = readdirSync(join(import.meta.dirname, 'workflows'), { recursive: true })
  .map((f) => posix.join('workflows', String(f).split('\\').join('/')))
  .filter((f) => f.endsWith('.ts') && !isTest(f));
const sandboxFiles = [...workflowFiles, ...WORKFLOW_SAFE_LIB];
const sandboxDirs = [...new Set(sandboxFiles.map((f) => dirname(f)))];

/** The imports the sandboxed files of one folder may make: relative ones only reach other sandboxed files. */
function sandboxRestrictions(dir) {
  const allowed = sandboxFiles.map((f) => {
    const spec = relative(dir, f).split('\\').join('/').replace(/\.ts$/, '.js');
    return spec.startsWith('.') ? spec : `./${spec}`;
  });
  return {
    paths: NODE_BUILTINS.map((name) => ({
      name,
      message: 'Node builtins do not exist in the workflow sandbox: do this in an activity.',
    })),
    patterns: [
      {
        regex: `^(?!\\.|${[...SANDBOX_PACKAGES, ...NODE_BUILTINS].map(escape).join('$|')}$)`,
        allowTypeImports: true,
        message: `Workflow code imports values only from ${SANDBOX_PACKAGES.join(' and ')} (import type is fine).`,
      },
      {
        regex: `^(?=\\.)(?!(${allowed.map(escape).join('|')})$)`,
        allowTypeImports: true,
        message:
          'Workflow code imports values only from workflow files and the workflow-safe lib modules listed in eslint.config.js (import type is fine).',
      },
      ...(dir.startsWith('lib') ? LIB_RULES : []),
    ],
  };
}

export default tseslint.config(
  {
    ignores: ['node_modules/', '.tools/', '.data/', 'coverage/', 'tools/', '**/dist/'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // The console's .tsx files get their type information from ui/tsconfig.json (DOM, JSX), the rest from the root one.
    files: ['**/*.{ts,tsx}'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // An unawaited promise loses its error and its ordering; in a workflow it loses an activity result.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    rules: {
      // The control characters in this tree's regexes are the point: they find and reject them in input.
      'no-control-regex': 'off',
      // An error rethrown here is a sentence for a person; its cause can carry a secret (a refresh command's output
      // prints tokens) into Temporal's history and the logs, so each site decides whether to attach it.
      'preserve-caught-error': 'off',
    },
  },
  {
    // Tests and benchmarks read JSON answers loosely and assert on their fields.
    files: ['test/**', '**/*.test.ts', '**/test-support/**', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.{js,mjs,cjs}'],
    languageOptions: {
      globals: Object.fromEntries(
        ['process', 'console', 'Buffer', 'URL', 'setTimeout', 'clearTimeout'].map((name) => [name, 'readonly']),
      ),
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', __dirname: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.{ts,tsx,js,mjs,cjs}'],
    plugins: { 'import-x': importX, 'check-file': checkFile },
    settings: {
      'import-x/extensions': ['.ts', '.tsx', '.js', '.mjs', '.cjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] },
      // Relative imports name the .js file that the .ts source compiles to; the console's (bundled by Vite)
      // name the module without an extension.
      'import-x/resolver-next': [
        createNodeResolver({
          extensions: ['.ts', '.tsx', '.d.ts', '.js'],
          extensionAlias: { '.js': ['.ts', '.js'] },
        }),
      ],
    },
    rules: {
      eqeqeq: ['error', 'always'],
      'import-x/no-cycle': 'error',
      'check-file/filename-naming-convention': [
        'error',
        { '**/*.{ts,tsx,js,mjs,cjs}': 'KEBAB_CASE' },
        { ignoreMiddleExtensions: true },
      ],
    },
  },
  // Configuration is read in one place: lib/env.ts parses process.env once with one schema. Harnesses that start
  // the app as child processes (scripts/, bench/, test/) build those children's environments and are exempt, as
  // are the example MCP servers (examples/), programs of their own that mcp-host hosts.
  {
    files: ['**/*.{ts,tsx,js,mjs,cjs}'],
    ignores: ['lib/env.ts', 'scripts/**', 'bench/**', 'test/**', 'examples/**', '**/*.test.ts', '**/test-support/**'],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'Only lib/env.ts reads process.env: add the setting to its schema.',
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "ImportDeclaration[source.value=/^(node:)?process$/] ImportSpecifier[imported.name='env']",
          message: 'Only lib/env.ts reads process.env: add the setting to its schema.',
        },
      ],
    },
  },
  // Layers. Tests may reach across them.
  {
    files: ['api/**/*.ts'],
    ignores: TESTS,
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: API_RULES }] },
  },
  {
    files: ['api/routes/*.ts'],
    ignores: TESTS,
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [...API_RULES, ...ROUTE_RULES],
          paths: [
            {
              name: '@hono/zod-openapi',
              importNames: ['createRoute'],
              message: 'Declare routes with defineRoute (api/openapi.ts): it requires an operationId.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['gateway/**/*.ts'],
    ignores: TESTS,
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: GATEWAY_RULES }] },
  },
  {
    files: ['lib/**/*.ts'],
    ignores: TESTS,
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: LIB_RULES }] },
  },
  ...sandboxDirs.map((dir) => ({
    files: sandboxFiles.filter((f) => dirname(f) === dir),
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', sandboxRestrictions(dir)],
    },
  })),
  {
    files: ['**/*.{js,mjs,cjs}'],
    ...tseslint.configs.disableTypeChecked,
  },
);
