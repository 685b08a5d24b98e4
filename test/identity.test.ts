import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { appendAudit, verifyAudit } from '../db/audit';
import { mintOperatorToken } from '../platform/operators';
import { startFxServer, type SimulatedFx } from '../providers/simulated/fx-server';
import { toIngestItem } from '../providers/simulated/generator';
import { startJsonCursorProvider, type SimulatedProvider } from '../providers/simulated/json-cursor-server';
import { settlementStatus, type CycleView } from '../workflows/settlement';
import { uniqueId } from './support/env';
import { onboardPartner, recordContract } from './support/partners';
import { startStack, type Stack } from './support/stack';

// Operators are named identities with roles; the route table says which role each endpoint
// needs; maker-checker is bound to the names the tokens carry; and every state-changing call
// leaves a hash-chained audit event.
const DAY = '2026-11-19';

describe('operator identities, roles, maker-checker and the audit trail', () => {
  let stack: Stack;
  let provider: SimulatedProvider;
  let fx: SimulatedFx;
  beforeAll(async () => {
    fx = await startFxServer();
    stack = await startStack({ overrides: { FX_RATES_URL: fx.url } });
    provider = await startJsonCursorProvider();
  });
  afterAll(async () => {
    await provider?.close();
    await fx?.close();
    await stack?.close();
  });

  it('every operation of the spec declares its role, and operator operations name it as their scope', async () => {
    const spec = (await stack.api('/openapi.json', { token: null })).body;
    const operations = Object.entries(spec.paths as Record<string, Record<string, any>>).flatMap(
      ([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method, op })),
    );
    expect(operations.length).toBeGreaterThan(20);
    for (const { path, method, op } of operations) {
      expect([`${method} ${path}`, op['x-required-role']]).toEqual([`${method} ${path}`, expect.any(String)]);
    }
    const approvals = spec.paths['/v1/settlements/{id}/payout-approvals'].post;
    expect(approvals['x-required-role']).toBe('approver');
    expect(approvals.security).toEqual([{ operatorToken: ['approver'] }]);
    expect(spec.paths['/v1/audit'].get.security).toEqual([{ operatorToken: ['admin'] }]);
  });

  it('keeps a long chain in order: verify walks it and pages come newest first, numerically', async () => {
    const target = `/v1/test/${Date.now()}`;
    const append = (i: number) =>
      appendAudit(stack.db.pool, {
        idempotencyKey: `test:${target}:${i}`,
        actor: 'tester',
        role: 'admin',
        action: 'test.append',
        target,
        source: 'api',
      });
    for (let i = 0; i < 25; i++) await append(i);
    await append(3); // a retried append records nothing twice
    expect(await verifyAudit(stack.db.pool)).toMatchObject({ ok: true });
    const ids: number[] = [];
    let cursor: string | null = null;
    do {
      const res: { body: { events: { id: string }[]; nextCursor: string | null } } = await stack.api(
        `/v1/audit?target=${encodeURIComponent(target)}&limit=4${cursor ? `&cursor=${cursor}` : ''}`,
      );
      ids.push(...res.body.events.map((e) => Number(e.id)));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(ids).toHaveLength(25);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
  });

  it("enforces every operation's declared role: 401 without credentials, 403 for a lesser role or a partner", async () => {
    const spec = (await stack.api('/openapi.json', { token: null })).body;
    const p = await onboardPartner(stack);
    const viewer = await stack.tokenFor('vera', 'viewer');
    const sample: Record<string, string> = {
      partnerId: p.id,
      id: `settlement:${p.id}:2026-11-20`,
      exceptionId: 'e-1',
      version: '1',
      code: `partner:${p.id}:fees_payable:EUR`,
    };
    const checked: string[] = [];
    for (const [template, ops] of Object.entries(spec.paths as Record<string, Record<string, any>>)) {
      const path = template.replace(/\{(\w+)\}/g, (_m, name: string) =>
        encodeURIComponent(sample[name] ?? 'x'),
      );
      for (const [method, op] of Object.entries(ops)) {
        const role = op['x-required-role'] as string;
        if (role === 'none') continue;
        const call = (token: string | null) =>
          stack.api(path, { method: method.toUpperCase(), token, ...(method === 'get' ? {} : { body: {} }) });
        const statuses = [(await call(null)).status];
        if (['resolver', 'approver', 'admin'].includes(role)) statuses.push((await call(viewer)).status);
        if (role !== 'partner' && role !== 'any') statuses.push((await call(p.apiKey)).status);
        if (role === 'partner') statuses.push((await call(await stack.tokenFor('ana', 'admin'))).status);
        const expected = [401, ...statuses.slice(1).map(() => 403)];
        expect({ op: `${method} ${template}`, role, statuses }).toEqual({
          op: `${method} ${template}`,
          role,
          statuses: expected,
        });
        checked.push(`${method} ${template}`);
      }
    }
    expect(checked.length).toBeGreaterThan(25);
  });

  it("accepts an external OIDC issuer's tokens through its JWKS, with its own claims for roles and name", async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const other = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'sso-1', alg: 'RS256', use: 'sig' };
    const jwks = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })),
    );
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    const sso = await startStack({
      workers: false,
      overrides: {
        OPERATOR_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`,
        OPERATOR_JWT_ISSUER: 'https://sso.example',
        OPERATOR_JWT_AUDIENCE: 'clearhouse',
        OPERATOR_ROLES_CLAIM: 'groups',
        OPERATOR_NAME_CLAIM: 'email',
      },
    });
    try {
      const sign = (
        key: Parameters<SignJWT['sign']>[0],
        claims: Record<string, unknown>,
        lifetime: { iat: boolean; exp: string } = { iat: true, exp: '10m' },
      ) => {
        const jwt = new SignJWT(claims)
          .setProtectedHeader({ alg: 'RS256', kid: 'sso-1' })
          .setIssuer('https://sso.example')
          .setAudience('clearhouse')
          .setSubject('00u1')
          .setExpirationTime(lifetime.exp);
        return (lifetime.iat ? jwt.setIssuedAt() : jwt).sign(key);
      };
      const ana = await sign(privateKey, { email: 'ana@operator.example', groups: ['approver', 'everyone'] });
      expect((await sso.api('/v1/settlements', { token: ana })).status).toBe(200);
      // The issuer's tokens are held to the same lifetime: iat required, at most the maximum.
      const claims = { email: 'ana@operator.example', groups: ['approver'] };
      const noIat = await sign(privateKey, claims, { iat: false, exp: '10m' });
      expect((await sso.api('/v1/settlements', { token: noIat })).status).toBe(401);
      const dayLong = await sign(privateKey, claims, { iat: true, exp: '24h' });
      expect((await sso.api('/v1/settlements', { token: dayLong })).status).toBe(401);
      expect((await sso.api('/v1/audit', { token: ana })).status).toBe(403);
      const forged = await sign(other.privateKey, { email: 'ana@operator.example', groups: ['admin'] });
      expect((await sso.api('/v1/settlements', { token: forged })).status).toBe(401);
      const noRole = await sign(privateKey, { email: 'bo@operator.example', groups: ['everyone'] });
      expect((await sso.api('/v1/settlements', { token: noRole })).status).toBe(401);
    } finally {
      await sso.close();
      await new Promise<void>((r) => jwks.close(() => r()));
    }
  });

  it('refuses unknown, forged, expired and under-privileged callers with 401 or 403', async () => {
    const viewer = await stack.tokenFor('vera', 'viewer');
    const resolver = await stack.tokenFor('rui', 'resolver');
    const secret = new TextEncoder().encode('x'.repeat(48));
    const forged = await new SignJWT({ roles: ['admin'], preferred_username: 'mallory' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('clearhouse')
      .setAudience('clearhouse-api')
      .setExpirationTime('1h')
      .sign(secret);
    const expired = await new SignJWT({ roles: ['admin'], preferred_username: 'old' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('clearhouse')
      .setAudience('clearhouse-api')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(new TextEncoder().encode(stack.config.api.operatorTokens.secret!));
    const p = await onboardPartner(stack);
    const games = { method: 'PUT', body: { games: [{ gameId: 'g-1', category: 'slots' }] } };

    expect((await stack.api('/v1/settlements', { token: null })).status).toBe(401);
    expect((await stack.api('/v1/settlements', { token: forged })).status).toBe(401);
    expect((await stack.api('/v1/settlements', { token: expired })).status).toBe(401);
    expect((await stack.api('/v1/settlements', { token: viewer })).status).toBe(200);
    const denied = await stack.api(`/v1/partners/${p.id}/games`, { ...games, token: viewer });
    expect(denied.status).toBe(403);
    expect(denied.body.error.message).toMatch(/admin role/);
    expect((await stack.api(`/v1/partners/${p.id}/games`, { ...games, token: resolver })).status).toBe(403);
    expect((await stack.api(`/v1/partners/${p.id}/games`, { ...games, token: p.apiKey })).status).toBe(403);
    expect((await stack.api(`/v1/partners/${p.id}/games`, games)).status).toBe(200);
    expect((await stack.api('/v1/audit', { token: viewer })).status).toBe(403);
    expect((await stack.api('/v1/audit', { token: p.apiKey })).status).toBe(403);
    const approve = { body: {}, token: resolver };
    expect(
      (await stack.api(`/v1/settlements/settlement:${p.id}:${DAY}/payout-approvals`, approve)).status,
    ).toBe(403);
    // The name comes from the token: a body that names an operator is refused, naming the field.
    const named = await stack.api(`/v1/settlements/settlement:${p.id}:${DAY}/payout-approvals`, {
      body: { operator: 'someone-else' },
      token: await stack.tokenFor('ana', 'approver'),
    });
    expect(named.status).toBe(422);
    expect(named.body.error.details).toEqual([
      expect.objectContaining({ path: expect.stringContaining('operator') }),
    ]);
  });

  it('mints no operator token longer than OPERATOR_TOKEN_MAX_TTL_SECONDS, in code or from the command line', async () => {
    const settings = { ...stack.config.api.operatorTokens, maxTtlSeconds: 3600 };
    await expect(
      mintOperatorToken(settings, { name: 'ana', roles: ['viewer'], ttlSeconds: 3601 }),
    ).rejects.toThrow(
      'operator tokens live at most 1h (OPERATOR_TOKEN_MAX_TTL_SECONDS=3600): 3601 s was asked for',
    );
    // Without a lifetime asked for, the 12h default is lowered to the maximum.
    const capped = decodeJwt(await mintOperatorToken(settings, { name: 'ana', roles: ['viewer'] }));
    expect(capped.exp! - capped.iat!).toBe(3600);

    // `npm run cli -- operator:token`, as the README runs it against the development defaults.
    // Run without blocking this process: the API under test serves from the same event loop.
    const cli = (args: string[], env: Record<string, string> = {}) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(
          process.execPath,
          [
            '--import',
            'tsx',
            'scripts/cli.ts',
            'operator:token',
            '--name',
            'ana',
            '--role',
            'viewer',
            ...args,
          ],
          {
            cwd: path.join(__dirname, '..'),
            env: {
              PATH: process.env.PATH ?? '',
              HOME: process.env.HOME ?? '',
              NODE_ENV: 'development',
              ...env,
            },
            timeout: 60_000,
          },
        );
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
        child.once('error', reject);
        child.once('close', (status) => resolve({ status, stdout, stderr }));
      });
    const refused = await cli(['--ttl', '13h']);
    expect(refused.status).toBe(64);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain(
      'operator tokens live at most 12h (OPERATOR_TOKEN_MAX_TTL_SECONDS=43200): 13h was asked for',
    );
    const lifetimes = [
      await cli([]),
      await cli(['--ttl', '13h'], { OPERATOR_TOKEN_MAX_TTL_SECONDS: String(13 * 3600) }),
    ].map((r) => {
      expect([r.status, r.stderr]).toEqual([0, '']);
      const token = r.stdout.trim();
      const claims = decodeJwt(token);
      return { lifetime: claims.exp! - claims.iat!, token };
    });
    expect(lifetimes.map((l) => l.lifetime)).toEqual([12 * 3600, 13 * 3600]);
    // The 12h one is accepted here (the same development secret); the 13h one exceeds this API's maximum.
    expect((await stack.api('/v1/settlements', { token: lifetimes[0]!.token })).status).toBe(200);
    expect((await stack.api('/v1/settlements', { token: lifetimes[1]!.token })).status).toBe(401);
  });

  it('refuses a presented token without iat, living longer than the maximum, or expiring further than it from now', async () => {
    const secret = new TextEncoder().encode(stack.config.api.operatorTokens.secret!);
    const now = Math.floor(Date.now() / 1000);
    const hours = 3600;
    const token = (iat: number | null, exp: number) => {
      const jwt = new SignJWT({ roles: ['viewer'], preferred_username: 'vera' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('clearhouse')
        .setAudience('clearhouse-api')
        .setSubject('vera')
        .setExpirationTime(exp);
      return (iat === null ? jwt : jwt.setIssuedAt(iat)).sign(secret);
    };
    const status = async (t: Promise<string>) =>
      (await stack.api('/v1/settlements', { token: await t })).status;
    expect(stack.config.api.operatorTokens.maxTtlSeconds).toBe(12 * hours);
    expect(await status(token(now, now + 12 * hours))).toBe(200);
    expect(await status(token(now, now + 12 * hours + 1))).toBe(401);
    expect(await status(token(null, now + hours))).toBe(401);
    // Back-dated to look fresh for a long while, or dated ahead to expire far away.
    expect(await status(token(now - 20 * hours, now + hours))).toBe(401);
    expect(await status(token(now + 20 * hours, now + 21 * hours))).toBe(401);
    // Within its lifetime, a token without a subject names no one.
    const anonymous = new SignJWT({ roles: ['viewer'], preferred_username: 'vera' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('clearhouse')
      .setAudience('clearhouse-api')
      .setIssuedAt(now)
      .setExpirationTime(now + hours)
      .sign(secret);
    expect(await status(anonymous)).toBe(401);
  });

  /** A partner whose six transactions of DAY are pushed and served by the simulated provider. */
  async function pushedPartner() {
    const p = await onboardPartner(stack, { timezone: 'UTC' });
    const txs = Array.from({ length: 6 }, (_, i) => ({
      id: `${p.id}-t${i}`,
      type: i % 3 === 2 ? ('win' as const) : ('bet' as const),
      roundId: `${p.id}-r${i}`,
      gameId: 'game-1',
      currency: 'EUR',
      amountMinor: BigInt(10_000 + i * 100),
      occurredAtMs: Date.parse(`${DAY}T12:00:00Z`) + i * 1000,
    }));
    const batch = { batchId: uniqueId('b'), transactions: txs.map((t) => toIngestItem(t, 'pl-1')) };
    expect((await stack.api('/v1/transactions', { body: batch, token: p.apiKey })).status).toBe(200);
    provider.setTransactions(txs);
    return { p, txs };
  }

  /** Its provider connection and a daily 10 % contract whose every payout needs two approvers, through the API. */
  async function connectWithContract(partnerId: string) {
    const connection = await stack.api(`/v1/partners/${partnerId}/provider-connection`, {
      method: 'PUT',
      body: { format: 'json-cursor', baseUrl: provider.url },
    });
    expect(connection.status).toBe(200);
    const contract = await recordContract(stack, partnerId, 1, {
      effectiveFrom: '2026-01-01',
      terms: {
        base: 'ggr',
        tiers: [{ upToMinor: null, rate: '0.10' }],
        tierMode: 'marginal',
        negativeBase: 'floor',
        jackpots: 'exclude',
        settlement: { period: 'daily', cutoffGraceMinutes: 0, payoutApprovalThresholdMinor: '0' },
      },
    });
    expect(contract.status).toBe(200);
  }

  async function waitForCycle(id: string, status: string) {
    const handle = stack.temporal.workflow.getHandle(id);
    for (let i = 0; i < 300; i++) {
      const view: CycleView = await handle.query(settlementStatus);
      if (view.status === status) return view;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${id} never reached ${status}`);
  }

  it('counts an accept_theirs that moved the GGR as a maker action; one that did not, and accept_ours, are not', async () => {
    const { p, txs } = await pushedPartner();
    // A bet reported 2.50 higher (moves GGR if accepted), a bet reported twice with the same
    // content (accepting theirs moves nothing) and a win the provider did not report.
    provider.setFaults({
      altered: { [txs[1]!.id]: txs[1]!.amountMinor + 250n },
      duplicated: [txs[0]!.id],
      missing: [txs[2]!.id],
    });
    await connectWithContract(p.id);
    // Names of their own: a later test reads the audit trail of maria, rui and ana.
    const [mona, raul, ines, olga] = await Promise.all([
      stack.tokenFor('mona', 'admin'),
      stack.tokenFor('raul', 'resolver', 'approver'),
      stack.tokenFor('ines', 'resolver', 'approver'),
      stack.tokenFor('olga', 'resolver', 'approver'),
    ]);
    const started = await stack.api('/v1/settlements', {
      body: { partnerId: p.id, periodStart: DAY },
      token: mona,
    });
    expect(started.status).toBe(202);
    const id = started.body.id as string;
    const handle = stack.temporal.workflow.getHandle(id);
    const waitFor = (status: string) => waitForCycle(id, status);
    const waiting = await waitFor('AwaitingResolution');
    const base = `/v1/settlements/${encodeURIComponent(id)}`;
    const byKind = (kind: string) => waiting.exceptions.find((e) => e.kind === kind)!;
    expect(byKind('amount_mismatch')).toMatchObject({ differenceMinor: '250' });
    expect(byKind('duplicate')).toMatchObject({ differenceMinor: '0' });
    expect(waiting.exceptions).toHaveLength(3);
    const resolve = async (kind: string, resolution: string, token: string) =>
      (
        await stack.api(`${base}/exceptions/${encodeURIComponent(byKind(kind).exceptionId)}/resolution`, {
          body: { resolution, reason: 'checked against the provider export' },
          token,
        })
      ).status;
    expect(await resolve('amount_mismatch', 'accept_theirs', raul)).toBe(200);
    expect(await resolve('duplicate', 'accept_theirs', ines)).toBe(200);
    expect(await resolve('missing_theirs', 'accept_ours', olga)).toBe(200);
    await waitFor('AwaitingPayoutApproval');

    const byRaul = await stack.api(`${base}/payout-approvals`, { body: {}, token: raul });
    expect(byRaul.status).toBe(403); // maker-checker: the sender may not, whatever it sends
    expect(byRaul.body.error.message).toBe(
      `raul resolved exception ${byKind('amount_mismatch').exceptionId} with accept_theirs, which moved the GGR ` +
        '(and so the fee): a maker cannot approve the payout (maker-checker)',
    );
    expect(await stack.api(`${base}/payout-approvals`, { body: {}, token: ines })).toMatchObject({
      status: 200,
      body: { approvals: 1 },
    });
    expect(await stack.api(`${base}/payout-approvals`, { body: {}, token: olga })).toMatchObject({
      status: 200,
      body: { approvals: 2 },
    });
    const done = await handle.result();
    // Approvers are the tokens' people: issuer#subject, and the name they are shown by.
    expect(done.approvals).toEqual([
      { actor: 'clearhouse#ines', name: 'ines' },
      { actor: 'clearhouse#olga', name: 'olga' },
    ]);
    // The accepted difference is in the fee's base: the statement posts it.
    const statement = await stack.api(`${base}/statement`);
    expect(statement.body.revenue.resolutions).toEqual([
      expect.objectContaining({ exceptionId: byKind('amount_mismatch').exceptionId, effect: '2.50' }),
    ]);
  });

  it('binds maker-checker to the token: neither the requester nor an adjuster approves; two different approvers do', async () => {
    const { p, txs } = await pushedPartner();
    provider.setFaults({ altered: { [txs[1]!.id]: txs[1]!.amountMinor + 250n } });
    await connectWithContract(p.id);

    const maria = await stack.tokenFor('maria', 'admin', 'approver');
    const rui = await stack.tokenFor('rui', 'resolver', 'approver');
    const ana = await stack.tokenFor('ana', 'approver');
    const carla = await stack.tokenFor('carla', 'approver');
    const started = await stack.api('/v1/settlements', {
      body: { partnerId: p.id, periodStart: DAY },
      token: maria,
    });
    expect(started.status).toBe(202);
    const id = started.body.id as string;
    const handle = stack.temporal.workflow.getHandle(id);
    const waitFor = (status: string) => waitForCycle(id, status);
    const waiting = await waitFor('AwaitingResolution');
    const base = `/v1/settlements/${encodeURIComponent(id)}`;
    const [first, ...others] = waiting.exceptions;
    const adjusted = await stack.api(
      `${base}/exceptions/${encodeURIComponent(first!.exceptionId)}/resolution`,
      {
        body: { resolution: 'adjust', amount: '2.50', reason: 'provider credit note 7731' },
        token: rui,
      },
    );
    expect(adjusted.status).toBe(200);
    for (const e of others) {
      const r = await stack.api(`${base}/exceptions/${encodeURIComponent(e.exceptionId)}/resolution`, {
        body: { resolution: 'accept_ours', reason: 'our logs are complete' },
        token: rui,
      });
      expect(r.status).toBe(200);
    }
    await waitFor('AwaitingPayoutApproval');
    const book = await stack.api(`/v1/exceptions?settlementId=${encodeURIComponent(id)}`, { token: maria });
    expect(
      book.body.exceptions.find((e: { exceptionId: string }) => e.exceptionId === first!.exceptionId),
    ).toMatchObject({
      resolution: 'adjust',
      operator: 'rui',
      actor: 'clearhouse#rui',
    });

    const byRequester = await stack.api(`${base}/payout-approvals`, { body: {}, token: maria });
    expect(byRequester.status).toBe(403);
    expect(byRequester.body.error.message).toMatch(/maria requested this payout.*maker cannot approve/);
    const byAdjuster = await stack.api(`${base}/payout-approvals`, { body: {}, token: rui });
    expect(byAdjuster.status).toBe(403);
    expect(byAdjuster.body.error.message).toMatch(/rui adjusted exception .*maker cannot approve/);
    expect(
      await stack.api(`${base}/payout-approvals`, { body: { comment: 'checked' }, token: ana }),
    ).toMatchObject({
      status: 200,
      body: { approvals: 1, needed: 2 },
    });
    const twice = await stack.api(`${base}/payout-approvals`, { body: {}, token: ana });
    expect(twice.status).toBe(403);
    expect(twice.body.error.message).toMatch(/ana already approved/);
    expect(await stack.api(`${base}/payout-approvals`, { body: {}, token: carla })).toMatchObject({
      status: 200,
      body: { approvals: 2 },
    });
    expect((await handle.result()).approvals).toEqual([
      { actor: 'clearhouse#ana', name: 'ana' },
      { actor: 'clearhouse#carla', name: 'carla' },
    ]);

    // The audit trail: the API's calls (who, role, request) and the workflow's own record of
    // each decision (by the seal's actor: issuer#subject, its name in the details), with the
    // Temporal client identity that sent it.
    const audit = await stack.api(`/v1/audit?target=${encodeURIComponent(id)}&limit=50`);
    expect(audit.status).toBe(200);
    const events = audit.body.events as any[];
    const decisions = events.filter((e) => e.action === 'settlement.approvePayout').reverse();
    expect(decisions.map((e) => [e.actor, e.role, e.source, e.details.actorName])).toEqual([
      ['clearhouse#ana', 'approver', 'api', 'ana'],
      ['clearhouse#carla', 'approver', 'api', 'carla'],
    ]);
    expect(decisions[0].details).toMatchObject({
      comment: 'checked',
      issuer: 'clearhouse',
      subject: 'ana',
      clientIdentity: expect.any(String),
    });
    expect(decisions[0].workflowId).toBe(id);
    expect(events.map((e) => e.action)).toEqual(
      expect.arrayContaining(['settlement.post', 'settlement.payout']),
    );
    const calls = await stack.api(
      `/v1/audit?action=${encodeURIComponent('POST /v1/settlements/{id}/payout-approvals')}&actor=${encodeURIComponent('clearhouse#ana')}`,
    );
    // Refused calls (the second by ana) change nothing and are not recorded as actions.
    expect(calls.body.events).toEqual([
      expect.objectContaining({ role: 'approver', source: 'api', target: `${base}/payout-approvals` }),
    ]);
    expect(calls.body.events[0].afterDigest).toMatch(/^[0-9a-f]{64}$/);
    const start = await stack.api(
      `/v1/audit?action=${encodeURIComponent('POST /v1/settlements')}&actor=${encodeURIComponent('clearhouse#maria')}`,
    );
    expect(start.body.events).toHaveLength(1);
    const resolutions = await stack.api(
      `/v1/audit?action=settlement.resolveException&actor=${encodeURIComponent('clearhouse#rui')}`,
    );
    expect(resolutions.body.events[resolutions.body.events.length - 1]).toMatchObject({
      target: `${id}/exceptions/${first!.exceptionId}`,
      details: expect.objectContaining({ resolution: 'adjust', amount: '2.50' }),
    });

    // Paging walks the whole trail without repeats.
    const seen = new Set<string>();
    let cursor: string | null = null;
    do {
      const pageRes: { body: { events: { id: string }[]; nextCursor: string | null } } = await stack.api(
        `/v1/audit?limit=7${cursor ? `&cursor=${cursor}` : ''}`,
      );
      for (const e of pageRes.body.events) {
        expect(seen.has(e.id)).toBe(false);
        seen.add(e.id);
      }
      cursor = pageRes.body.nextCursor;
    } while (cursor);
    expect(seen.size).toBeGreaterThan(events.length);

    // Intact, and an altered event is found (append-only: a superuser has to switch the guard off).
    expect(await verifyAudit(stack.db.pool)).toMatchObject({ ok: true, firstBroken: null });
    await expect(
      stack.db.pool.query(`UPDATE audit_events SET actor = 'nobody' WHERE id = $1`, [decisions[0].id]),
    ).rejects.toThrow(/append-only/);
    await stack.db.pool.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only');
    await stack.db.pool.query(`UPDATE audit_events SET actor = 'nobody' WHERE id = $1`, [decisions[0].id]);
    await stack.db.pool.query('ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only');
    const report = await verifyAudit(stack.db.pool);
    expect(report.ok).toBe(false);
    expect(report.firstBroken).toMatchObject({
      eventId: decisions[0].id,
      reason: expect.stringMatching(/altered/),
    });
  });
});
