import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

// Workflow code is replayed by Temporal; the lint rules for workflows/** must catch what
// breaks determinism. Each case is written as a file under workflows/ and the whole set is
// linted in one ESLint CLI run (the same command as `npm run lint`; a child process because
// ESLint's flat config is an ES module that jest's CommonJS sandbox cannot load).
const root = path.join(__dirname, '..');
const probeDir = path.join(root, 'workflows', `__lint_probe_${process.pid}__`);

const cases: Record<string, { code: string; rule: string | null }> = {
  'date-now': { code: 'export const t = (): number => Date.now();\n', rule: 'no-restricted-properties' },
  'math-random': {
    code: 'export const r = (): number => Math.random();\n',
    rule: 'no-restricted-properties',
  },
  'new-date': { code: 'export const d = (): Date => new Date();\n', rule: 'no-restricted-syntax' },
  'node-builtin': {
    code: "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n",
    rule: '@typescript-eslint/no-restricted-imports',
  },
  'activity-implementation': {
    code: "import { createActivities } from '../../activities';\nexport const a = createActivities;\n",
    rule: '@typescript-eslint/no-restricted-imports',
  },
  'process-global': {
    code: 'export const e = (): string | undefined => process.env.X;\n',
    rule: 'no-restricted-globals',
  },
  'activity-types-only': {
    code: "import type { Activities } from '../../activities';\nexport type A = Activities;\n",
    rule: null,
  },
};

const byCase: Record<string, string[]> = {};
const realWorkflowMessages: string[] = [];

beforeAll(() => {
  mkdirSync(probeDir, { recursive: true });
  try {
    for (const [name, c] of Object.entries(cases)) writeFileSync(path.join(probeDir, `${name}.ts`), c.code);
    const r = spawnSync(
      process.execPath,
      [path.join(root, 'node_modules/eslint/bin/eslint.js'), '--format', 'json', 'workflows'],
      {
        cwd: root,
        encoding: 'utf8',
      },
    );
    if (!r.stdout) throw new Error(`eslint produced no output: ${r.stderr}`);
    const results = JSON.parse(r.stdout) as {
      filePath: string;
      messages: { ruleId: string | null; message: string }[];
    }[];
    for (const result of results) {
      const messages = result.messages.map((m) => `${m.ruleId}: ${m.message}`);
      if (result.filePath.startsWith(probeDir)) byCase[path.basename(result.filePath, '.ts')] = messages;
      else realWorkflowMessages.push(...messages);
    }
  } finally {
    rmSync(probeDir, { recursive: true, force: true });
  }
}, 60_000);

describe('lint rules for workflows/**', () => {
  it('accepts the real workflow code', () => {
    expect(realWorkflowMessages).toEqual([]);
  });

  it.each(Object.entries(cases).filter(([, c]) => c.rule))('rejects %s', (name, c) => {
    expect(byCase[name]!.some((m) => m.startsWith(`${c.rule}:`))).toBe(true);
  });

  it('allows activity types (proxyActivities needs them)', () => {
    expect(byCase['activity-types-only']).toEqual([]);
  });
});
