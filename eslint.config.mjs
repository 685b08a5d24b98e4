// Lint: typescript-eslint with type information everywhere, and a stricter rule set for
// workflows/**, whose code Temporal replays and must therefore be deterministic.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.data/**', '.tools/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: {
          // Plain JS is linted without types (below).
          allowDefaultProject: [],
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      eqeqeq: ['error', 'always'],
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Plain-JS launch scripts run before TypeScript is installed; lint them without types.
    files: ['**/*.mjs', '**/*.cjs', '**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: {
        module: 'writable',
        require: 'readonly',
        __dirname: 'readonly',
        process: 'readonly',
        console: 'readonly',
        fetch: 'readonly',
        AbortSignal: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        Buffer: 'readonly',
      },
    },
  },
  {
    // The console (console/**): plain ES modules that run in the browser, served as files.
    files: ['console/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: {
        window: 'readonly',
        document: 'readonly',
        location: 'readonly',
        history: 'readonly',
        navigator: 'readonly',
        fetch: 'readonly',
        URL: 'readonly',
        URLSearchParams: 'readonly',
        Blob: 'readonly',
        HTMLElement: 'readonly',
        Element: 'readonly',
        Node: 'readonly',
        Event: 'readonly',
        CustomEvent: 'readonly',
        AbortController: 'readonly',
        FormData: 'readonly',
        Intl: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        requestAnimationFrame: 'readonly',
        ResizeObserver: 'readonly',
        matchMedia: 'readonly',
        getComputedStyle: 'readonly',
        // The vendor scripts index.html loads before the modules (uPlot, Chart.js).
        uPlot: 'readonly',
        Chart: 'readonly',
      },
    },
  },
  {
    // Tests read JSON response bodies; typing each one would add noise, not safety.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({
            name,
            message: 'Workflow code is replayed: no Node built-ins (do I/O in an activity).',
          })),
          patterns: [
            {
              group: [
                '**/activities',
                '**/activities/**',
                '**/db/**',
                '**/platform/**',
                '**/api/**',
                'pg',
                'express',
                '@temporalio/client',
                '@temporalio/worker',
                '@temporalio/activity',
              ],
              allowTypeImports: true,
              message:
                'Workflow code may import activity and infrastructure modules as types only (use proxyActivities).',
            },
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        {
          object: 'Date',
          property: 'now',
          message:
            'Non-deterministic: take time from the workflow (timers, activity results, workflowInfo()).',
        },
        {
          object: 'Math',
          property: 'random',
          message:
            'Non-deterministic: derive ids from the workflow id, or use uuid4() from @temporalio/workflow.',
        },
        {
          object: 'crypto',
          property: 'randomUUID',
          message: 'Non-deterministic: use uuid4() from @temporalio/workflow.',
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'Non-deterministic: new Date() without an argument reads the clock.',
        },
      ],
      'no-restricted-globals': [
        'error',
        ...[
          'process',
          'require',
          'fetch',
          'crypto',
          'performance',
          'setInterval',
          'setImmediate',
          'Buffer',
          'XMLHttpRequest',
          'WebSocket',
        ].map((name) => ({
          name,
          message: `Workflow code is replayed: ${name} is not allowed (do it in an activity).`,
        })),
      ],
    },
  },
);
