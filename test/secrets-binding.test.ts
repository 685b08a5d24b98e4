import { spawnSync } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import {
  registerPartner,
  upsertProviderConnection,
  upsertWebhook,
  webhookOf,
  providerConnectionOf,
} from '../db/partners';
import { partnerSecret, SecretBox } from '../platform/secrets';
import { taskQueue } from '../platform/temporal';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { onboardingWorkflowId } from '../workflows/ids';
import { onboardingStatus, type partnerOnboarding } from '../workflows/onboarding';
import { uniqueId } from './support/env';
import { application, waitForApplication } from './support/partners';
import { startStack, type Stack } from './support/stack';

const OLD = 'old-key-material-0123456789-abcdefghij';
const NEW = 'new-key-material-9876543210-zyxwvutsrq';

/** A value sealed as the first format did: iv.tag.data, no key id, no associated data. */
function legacySeal(material: string, plaintext: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', createHash('sha256').update(material).digest(), iv);
  const data = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
  return [iv, c.getAuthTag(), data].map((b) => b.toString('base64url')).join('.');
}

describe('sealed secrets: bound to owner and purpose, under a key id', () => {
  const a = partnerSecret('partner-a', 'webhook-signing');

  it('refuses a blob of partner A or purpose X for partner B or purpose Y', () => {
    const box = new SecretBox(OLD);
    const sealed = box.seal('whsec_a', a);
    expect(sealed).toMatch(/^v2\.k0\./);
    expect(box.open(sealed, a)).toBe('whsec_a');
    expect(box.open({ sealed, context: a })).toBe('whsec_a');
    expect(() => box.open(sealed, partnerSecret('partner-b', 'webhook-signing'))).toThrow(
      /does not open for partner:partner-b \(webhook-signing\)/,
    );
    expect(() => box.open(sealed, partnerSecret('partner-a', 'provider-credential'))).toThrow(
      /does not open/,
    );
    expect(() => box.open(sealed)).toThrow(/only for its owner and purpose/);
  });

  it('seals under the first key, opens under every configured one, names a missing key id', () => {
    const old = new SecretBox([{ kid: 'k0', material: OLD }]);
    const sealed = old.seal('v', a);
    const both = new SecretBox([
      { kid: 'k1', material: NEW },
      { kid: 'k0', material: OLD },
    ]);
    expect(both.open(sealed, a)).toBe('v');
    expect(both.needsReseal(sealed)).toBe(true);
    const resealed = both.reseal({ sealed, context: a });
    expect(resealed).toMatch(/^v2\.k1\./);
    expect(both.needsReseal(resealed)).toBe(false);
    expect(() => new SecretBox([{ kid: 'k1', material: NEW }]).open(sealed, a)).toThrow(
      /sealed under key k0, which is not configured/,
    );
  });

  it('opens values of the first format with the legacy key until re-sealed', () => {
    const legacy = legacySeal(OLD, 'whsec_old');
    expect(new SecretBox(OLD).open(legacy)).toBe('whsec_old');
    expect(new SecretBox(OLD).open(legacy, a)).toBe('whsec_old');
    expect(new SecretBox(OLD).needsReseal(legacy)).toBe(true);
    expect(() => new SecretBox(NEW).open(legacy)).toThrow(/none of the configured keys/);
  });
});

describe('secrets with a database and a Temporal server', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  let receiver: Server;
  let hookUrl: string;
  beforeAll(async () => {
    stack = await startStack({ overrides: { SECRETS_KEYS: `k0:${OLD}` } });
    provider = await startJsonCursorProvider();
    receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => receiver?.close(() => r()));
    await provider?.close();
    await stack?.close();
  });

  const rotate = (keys: string) => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/secrets-rotate.ts'], {
      cwd: path.join(__dirname, '..'),
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...stack.env, SECRETS_KEYS: keys },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const last = run.stdout.trim().split('\n').at(-1)!;
    return JSON.parse(last) as { kid: string; total: { scanned: number; resealed: number } };
  };

  it('rotates: old key → add the new one → npm run secrets:rotate → remove the old one, still opens', async () => {
    const id = uniqueId('rot');
    await registerPartner(stack.db.pool, {
      id,
      name: 'Rotation Ltd',
      kind: 'provider',
      timezone: 'UTC',
      settlementCurrency: 'EUR',
    });
    // A webhook secret of the first format, a provider credential under the old key.
    await upsertWebhook(stack.db.pool, id, 'https://rot.example/hook', legacySeal(OLD, 'whsec_legacy'));
    const old = new SecretBox([{ kid: 'k0', material: OLD }]);
    await upsertProviderConnection(stack.db.pool, id, {
      format: 'json-cursor',
      baseUrl: 'https://reports.rot.example',
      options: {},
      credentials: {
        header: 'x-api-key',
        sealed: old.seal('cred-1', partnerSecret(id, 'provider-credential')),
      },
    });

    const first = rotate(`k1:${NEW},k0:${OLD}`);
    expect(first.kid).toBe('k1');
    expect(first.total.resealed).toBeGreaterThanOrEqual(2);
    expect(rotate(`k1:${NEW},k0:${OLD}`).total.resealed).toBe(0); // idempotent

    const onlyNew = new SecretBox([{ kid: 'k1', material: NEW }]);
    const hook = (await webhookOf(stack.db.pool, id))!;
    expect(hook.secretSealed.sealed).toMatch(/^v2\.k1\./);
    expect(onlyNew.open(hook.secretSealed)).toBe('whsec_legacy');
    const conn = (await providerConnectionOf(stack.db.pool, id))!;
    expect(onlyNew.open(conn.credentials!.sealed)).toBe('cred-1');
    // Now bound: the webhook blob copied to another partner's row does not open there.
    expect(() =>
      onlyNew.open({ sealed: hook.secretSealed.sealed, context: partnerSecret('other', 'webhook-signing') }),
    ).toThrow(/does not open/);
  });

  it('keeps the provider credential out of the history, and audits each onboarding step', async () => {
    const credential = `cred-${randomBytes(12).toString('hex')}`;
    const body = application({
      webhookUrl: hookUrl,
      providerConnection: {
        format: 'json-cursor',
        baseUrl: provider.url,
        credentials: { header: 'x-api-key', value: credential },
      },
      contract: {
        effectiveFrom: '2026-01-01',
        terms: {
          base: 'ggr',
          tiers: [{ upToMinor: null, rate: '0.1' }],
          tierMode: 'marginal',
          negativeBase: 'floor',
          jackpots: 'exclude',
          settlement: { period: 'daily', cutoffGraceMinutes: 0, payoutApprovalThresholdMinor: '0' },
        },
      },
    });
    const id = body.partnerId as string;
    expect((await stack.api('/v1/partner-applications', { body })).status).toBe(202);
    await waitForApplication(stack, id, 'AwaitingDecision');
    const decided = await stack.api(`/v1/partner-applications/${id}/decisions`, {
      body: { decision: 'approve', reason: 'clear' },
      token: await stack.tokenFor('ana', 'approver'),
    });
    expect(decided.status).toBe(200);
    await waitForApplication(stack, id, 'Active');

    const { rows } = await stack.db.pool.query<{ credentials_sealed: string }>(
      'SELECT credentials_sealed FROM partner_applications WHERE partner_id = $1',
      [id],
    );
    const sealed = rows[0]!.credentials_sealed;
    expect(sealed).toMatch(/^v2\.k0\./);
    const history = await stack.temporal.workflow.getHandle(onboardingWorkflowId(id)).fetchHistory();
    const bytes: string[] = [];
    const walk = (v: unknown): void => {
      if (v instanceof Uint8Array) bytes.push(Buffer.from(v).toString('utf8'));
      else if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') Object.values(v).forEach(walk);
      else if (typeof v === 'string') bytes.push(v);
    };
    walk(history);
    const all = bytes.join('\n');
    expect(all).toContain(id); // the search does read the payloads
    expect(all).not.toContain(credential);
    expect(all).not.toContain(sealed.split('.').at(-1)!);
    expect(all).not.toContain('"sealed"');

    const audit = await stack.db.pool.query<{ action: string; actor: string; source: string }>(
      `SELECT action, actor, source FROM audit_events WHERE workflow_id = $1 AND action LIKE 'onboarding.%'`,
      [onboardingWorkflowId(id)],
    );
    const steps = audit.rows.filter((r) => r.source === 'workflow');
    expect(steps.map((r) => r.action).sort()).toEqual(
      expect.arrayContaining([
        'onboarding.apiKeyMinted',
        'onboarding.contractRecorded',
        'onboarding.partnerActivated',
        'onboarding.partnerRegistered',
        'onboarding.scheduleCreated',
        'onboarding.webhookSecretMinted',
      ]),
    );
    for (const r of steps) expect(r.actor).toBe(`workflow:${onboardingWorkflowId(id)}`);
  });

  it('a partnerOnboarding started straight on Temporal with forged input registers nothing and says why', async () => {
    const forge = async (id: string, input: Record<string, unknown>) => {
      const handle = await stack.temporal.workflow.start<typeof partnerOnboarding>('partnerOnboarding', {
        taskQueue: taskQueue(stack.config, 'onboarding'),
        workflowId: onboardingWorkflowId(id),
        args: [{ submittedBy: 'mallory', reminderIntervalMs: 60_000, expiresAfterMs: 600_000, ...input }],
      });
      await expect(handle.result()).rejects.toThrow(WorkflowFailedError);
      const view = await handle.query(onboardingStatus);
      expect(view.status).toBe('Failed');
      const partner = await stack.db.pool.query('SELECT 1 FROM partners WHERE id = $1', [id]);
      const contract = await stack.db.pool.query('SELECT 1 FROM partner_contracts WHERE partner_id = $1', [
        id,
      ]);
      const keys = await stack.db.pool.query('SELECT 1 FROM partner_api_keys WHERE partner_id = $1', [id]);
      expect([partner.rowCount, contract.rowCount, keys.rowCount]).toEqual([0, 0, 0]);
      return view.failure;
    };
    const made = uniqueId('forged');
    expect(await forge(made, { applicationId: 'app_made-up', partnerId: made })).toMatch(
      /application app_made-up was never submitted: applications are submitted through POST \/v1\/partner-applications/,
    );
    const old = uniqueId('forged');
    expect(
      await forge(old, {
        application: {
          partner: { id: old, name: 'X', kind: 'affiliate', timezone: 'UTC', settlementCurrency: 'EUR' },
          details: {},
          webhookUrl: null,
          providerConnection: null,
          contract: null,
        },
      }),
    ).toMatch(/started without an application id/);
    // A real application, started again under another workflow with other input.
    const body = application();
    const real = body.partnerId as string;
    expect((await stack.api('/v1/partner-applications', { body })).status).toBe(202);
    const { rows } = await stack.db.pool.query<{ id: string }>(
      'SELECT id FROM partner_applications WHERE partner_id = $1',
      [real],
    );
    const other = uniqueId('forged');
    expect(await forge(other, { applicationId: rows[0]!.id, partnerId: other })).toMatch(
      /belongs to workflow onboarding:/,
    );
  });
});
