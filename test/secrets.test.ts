import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFxServer, type SimulatedFx } from '../providers/simulated/fx-server';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { onboardPartner, recordContract } from './support/partners';
import { startStack, type Stack } from './support/stack';

// No secret reaches a workflow history: partner API keys, webhook signing secrets and provider
// credentials are shown once by the API (or never) and stored sealed or hashed; Temporal keeps
// histories for as long as its retention says, and anyone who can read them would hold them.
describe('secrets stay out of workflow histories', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  let fx: SimulatedFx;
  beforeAll(async () => {
    fx = await startFxServer();
    stack = await startStack({ overrides: { FX_RATES_URL: fx.url } });
    provider = await startJsonCursorProvider();
  });
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const close of closers) await close();
    await provider.close();
    await fx.close();
    await stack.close();
  });

  it('an onboarding and a settled cycle leave no API key, webhook secret or provider credential in history', async () => {
    const p = await onboardPartner(stack, { timezone: 'UTC' });
    const receiver = createServer((_req, res) => res.writeHead(204).end());
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => receiver.close(() => r())));
    const hook = await stack.api(`/v1/partners/${p.id}/webhook`, {
      method: 'PUT',
      body: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` },
    });
    const webhookSecret = hook.body.secret as string;
    const credential = 'provider-credential-5f1d2c9a7e';
    expect(
      (
        await stack.api(`/v1/partners/${p.id}/provider-connection`, {
          method: 'PUT',
          body: {
            format: 'json-cursor',
            baseUrl: provider.url,
            credentials: { header: 'x-api-key', value: credential },
          },
        })
      ).status,
    ).toBe(200);
    await recordContract(stack, p.id, 1, {
      effectiveFrom: '2026-10-01',
      terms: {
        base: 'ggr',
        tiers: [{ upToMinor: null, rate: '0.1' }],
        tierMode: 'marginal',
        negativeBase: 'floor',
        jackpots: 'exclude',
        settlement: { period: 'daily', cutoffGraceMinutes: 0, payoutApprovalThresholdMinor: '100000000' },
      },
    });
    provider.setTransactions([]);
    provider.setFaults({});
    const started = await stack.api('/v1/settlements', {
      body: { partnerId: p.id, periodStart: '2026-10-20' },
    });
    const cycle = stack.temporal.workflow.getHandle(started.body.id as string);
    expect((await cycle.result()).notification).toBe('sent');

    const secrets = [p.apiKey, p.apiKey.slice('chk_'.length + 16 + 1), webhookSecret, credential];
    for (const id of [`onboarding:${p.id}`, cycle.workflowId]) {
      const history = await stack.temporal.workflow.getHandle(id).fetchHistory();
      // Payloads are base64 in the history's JSON: decode every one, and scan both.
      const raw = JSON.stringify(history);
      const decoded = [...raw.matchAll(/"data":"([A-Za-z0-9+/=]+)"/g)].map((m) =>
        Buffer.from(m[1]!, 'base64').toString('utf8'),
      );
      const text = [raw, ...decoded].join('\n');
      // The payloads are read (decoded), not only the envelope: the partner's name is in both.
      expect(text).toContain('Test Partner');
      for (const secret of secrets)
        expect({ id, leaks: text.includes(secret) }).toEqual({ id, leaks: false });
    }
  });
});
