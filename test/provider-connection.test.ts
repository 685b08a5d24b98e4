import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { providerConnectionOf } from '../db/partners';
import { defaultCurrencies } from '../domain/money';
import { partnerSecret, SecretBox } from '../platform/secrets';
import { openProviderConnection } from '../providers/connection';
import { adapters } from '../providers/registry';
import { startAggregatorProvider } from '../providers/simulated/aggregator-server';
import { startCsvDailyProvider } from '../providers/simulated/csv-daily-server';
import {
  startJsonCursorProvider,
  type SimulatedProvider,
  type SimulatedTx,
} from '../providers/simulated/json-cursor-server';
import { ProviderReportError } from '../providers/types';
import { upsertProviderConnection } from '../db/partners';
import { onboardPartner, type TestPartner } from './support/partners';
import { startStack, type Stack } from './support/stack';

// Provider connections through the API, on the real stack: validated against the adapter
// registry, the credential sealed in Postgres and never shown back, and sent by each adapter to
// a simulated provider that refuses reports without it.
const DAY = '2026-11-23';
const window = { fromMs: Date.parse(`${DAY}T00:00:00Z`), toMs: Date.parse(`${DAY}T00:00:00Z`) + 86_400_000 };
const SECRET = 'provider-key-7f3a9c1e5b';

const txs: SimulatedTx[] = [1, 2, 3].map((i) => ({
  id: `t${i}`,
  type: 'bet',
  roundId: `r${i}`,
  gameId: 'book-of-sun',
  currency: 'EUR',
  amountMinor: BigInt(i * 100),
  occurredAtMs: window.fromMs + i * 3_600_000,
}));

/**
 * A provider's API gateway in front of a simulator: 401 unless `header` carries `value`,
 * otherwise the simulator's answer. It records what each request carried.
 */
async function requireCredential(
  upstream: SimulatedProvider,
  header: string,
  value: string,
): Promise<{ url: string; seen: (string | undefined)[]; close: () => Promise<void> }> {
  const seen: (string | undefined)[] = [];
  const server: Server = createServer((req, res) => {
    const presented = req.headers[header];
    seen.push(typeof presented === 'string' ? presented : undefined);
    if (presented !== value) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
      return;
    }
    fetch(`${upstream.url}${req.url ?? '/'}`)
      .then(async (answer) => {
        const body = await answer.text();
        res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'text/plain' });
        res.end(body);
      })
      .catch(() => res.writeHead(502).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('provider connection API', () => {
  let stack: Stack;
  let partner: TestPartner;
  beforeAll(async () => {
    stack = await startStack();
    partner = await onboardPartner(stack);
  });
  afterAll(async () => {
    await stack.close();
  });

  const path = (id = partner.id) => `/v1/partners/${id}/provider-connection`;
  const put = (body: unknown, token?: string | null) =>
    stack.api(path(), { method: 'PUT', body, ...(token === undefined ? {} : { token }) });
  const paths = (res: { body: { error: { details: { path: string }[] } } }) =>
    res.body.error.details.map((d) => d.path);

  it('stores a connection, echoes it without the credential, and GET shows the same', async () => {
    const body = {
      format: 'csv-daily',
      baseUrl: 'https://reports.provider.example/clearhouse',
      options: { timezone: 'Europe/London' },
      credentials: { header: 'X-API-Key', value: SECRET },
    };
    const res = await put(body);
    expect(res.status).toBe(200);
    const expected = {
      format: 'csv-daily',
      baseUrl: 'https://reports.provider.example/clearhouse',
      options: { timezone: 'Europe/London' },
      credentials: { header: 'x-api-key', configured: true },
      limits: { maxRows: null, maxBytes: null },
      limitsInForce: stack.config.reportCaps,
      updatedAt: expect.any(String),
    };
    // The partner is active, so the connection is tested at once; this host does not exist.
    const { connectivity, ...echoed } = res.body;
    expect(echoed).toEqual(expected);
    expect(connectivity).toEqual({ error: expect.stringMatching(/^provider .*unreachable$/) });
    expect(JSON.stringify(res.body)).not.toContain(SECRET);

    const got = await stack.api(path());
    expect(got.status).toBe(200);
    expect(got.body).toEqual(expected);
    expect(JSON.stringify(got.body)).not.toContain(SECRET);

    // Idempotent: the same PUT again leaves the same connection.
    const again = await put(body);
    expect(again.status).toBe(200);
    expect({ ...again.body, updatedAt: 'x', connectivity: undefined }).toEqual({
      ...expected,
      updatedAt: 'x',
    });
    const { rowCount } = await stack.db.pool.query('SELECT 1 FROM partner_providers WHERE partner_id = $1', [
      partner.id,
    ]);
    expect(rowCount).toBe(1);
  });

  it('keeps the credential sealed in Postgres, never in clear', async () => {
    expect(
      (
        await put({
          format: 'json-cursor',
          baseUrl: 'https://p.example',
          credentials: { header: 'authorization', value: SECRET },
        })
      ).status,
    ).toBe(200);
    const { rows } = await stack.db.pool.query<{ row: string; sealed: string }>(
      'SELECT row_to_json(p)::text AS row, credentials_sealed AS sealed FROM partner_providers p WHERE partner_id = $1',
      [partner.id],
    );
    expect(rows[0]!.sealed).toMatch(/^v2\.k0\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(rows[0]!.row).not.toContain(SECRET);
    expect(rows[0]!.row).not.toContain(Buffer.from(SECRET).toString('base64url'));
    expect(
      new SecretBox(stack.config.secretKeys).open(
        rows[0]!.sealed,
        partnerSecret(partner.id, 'provider-credential'),
      ),
    ).toBe(SECRET);
  });

  it('replaces the whole connection: a PUT without credentials removes them', async () => {
    const res = await put({ format: 'json-cursor', baseUrl: 'https://p.example/api/v1' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ format: 'json-cursor', options: {}, credentials: null });
    const { rows } = await stack.db.pool.query(
      'SELECT credentials_header, credentials_sealed FROM partner_providers WHERE partner_id = $1',
      [partner.id],
    );
    expect(rows[0]).toEqual({ credentials_header: null, credentials_sealed: null });
  });

  it("stores limits that lower the deployment's report caps, refuses higher ones, and a PUT without them removes them", async () => {
    const caps = stack.config.reportCaps;
    const base = { format: 'json-cursor', baseUrl: 'https://p.example' };
    const lowered = await put({ ...base, limits: { maxRows: 1000, maxBytes: 1_048_576 } });
    expect(lowered.status).toBe(200);
    expect(lowered.body).toMatchObject({
      limits: { maxRows: 1000, maxBytes: 1_048_576 },
      limitsInForce: { maxRows: 1000, maxBytes: 1_048_576 },
    });
    const rowsOnly = await put({ ...base, limits: { maxRows: 1000 } });
    expect(rowsOnly.body).toMatchObject({
      limits: { maxRows: 1000, maxBytes: null },
      limitsInForce: { maxRows: 1000, maxBytes: caps.maxBytes },
    });
    expect((await stack.api(path())).body).toMatchObject({ limits: { maxRows: 1000, maxBytes: null } });
    // The deployment's own figure is allowed (no higher): its database was sized for it.
    expect((await put({ ...base, limits: { maxBytes: caps.maxBytes } })).status).toBe(200);
    const higher = await put({ ...base, limits: { maxRows: caps.maxRows + 1, maxBytes: caps.maxBytes + 1 } });
    expect(higher.status).toBe(422);
    expect(higher.body.error.details).toEqual([
      {
        path: 'limits.maxRows',
        message: `at most ${caps.maxRows}, the deployment's REPORT_MAX_ROWS: limits only lower it`,
      },
      {
        path: 'limits.maxBytes',
        message: `at most ${caps.maxBytes}, the deployment's REPORT_MAX_BYTES: limits only lower it`,
      },
    ]);
    for (const [limits, field] of [
      [{ maxRows: 0 }, 'limits.maxRows'],
      [{ maxBytes: 1.5 }, 'limits.maxBytes'],
      [{ maxRows: '10' }, 'limits.maxRows'],
      [{ rows: 10 }, 'limits.rows'],
    ] as const) {
      const res = await put({ ...base, limits });
      expect([res.status, paths(res).join(',')]).toEqual([422, field]);
    }
    // A refused PUT changed nothing; one without limits removes them.
    expect((await stack.api(path())).body.limits).toEqual({ maxRows: null, maxBytes: caps.maxBytes });
    const removed = await put(base);
    expect(removed.body).toMatchObject({ limits: { maxRows: null, maxBytes: null }, limitsInForce: caps });
    const { rows } = await stack.db.pool.query(
      'SELECT report_max_rows, report_max_bytes FROM partner_providers WHERE partner_id = $1',
      [partner.id],
    );
    expect(rows[0]).toEqual({ report_max_rows: null, report_max_bytes: null });
  });

  it("keeps an operator's limits when an onboarding's activation writes the connection again", async () => {
    await put({ format: 'json-cursor', baseUrl: 'https://p.example', limits: { maxRows: 500 } });
    // What the activation activity does (it carries the application's connection, no limits).
    await upsertProviderConnection(stack.db.pool, partner.id, {
      format: 'json-cursor',
      baseUrl: 'https://p.example',
      options: {},
      credentials: null,
    });
    expect((await stack.api(path())).body.limits).toEqual({ maxRows: 500, maxBytes: null });
  });

  it('refuses a format the registry does not know, naming `format`', async () => {
    const res = await put({ format: 'xml-weekly', baseUrl: 'https://p.example' });
    expect(res.status).toBe(422);
    expect(paths(res)).toEqual(['format']);
    // The message lists what the registry knows.
    for (const format of Object.keys(adapters)) expect(res.body.error.message).toContain(format);
  });

  it('validates exactly the options each format reads', async () => {
    const badZone = await put({
      format: 'csv-daily',
      baseUrl: 'https://p.example',
      options: { timezone: 'Mars/Olympus' },
    });
    expect(badZone.status).toBe(422);
    expect(paths(badZone)).toEqual(['options.timezone']);

    const aggregatorZone = await put({
      format: 'aggregator-totals',
      baseUrl: 'https://p.example',
      options: { timezone: 3 },
    });
    expect(aggregatorZone.status).toBe(422);
    expect(paths(aggregatorZone)).toEqual(['options.timezone']);

    // json-cursor reads no option: any is refused, as is an unknown one elsewhere.
    const jsonOption = await put({
      format: 'json-cursor',
      baseUrl: 'https://p.example',
      options: { timezone: 'UTC' },
    });
    expect(jsonOption.status).toBe(422);
    expect(paths(jsonOption)).toEqual(['options.timezone']);
    expect(jsonOption.body.error.details[0].message).toContain('timezone');
    const unknown = await put({ format: 'csv-daily', baseUrl: 'https://p.example', options: { tz: 'UTC' } });
    expect(unknown.status).toBe(422);
    expect(paths(unknown)).toEqual(['options.tz']);
  });

  it('refuses URLs and credentials that cannot be used safely, naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ format: 'json-cursor', baseUrl: 'ftp://p.example' }, 'baseUrl'],
      [{ format: 'json-cursor', baseUrl: 'file:///etc/passwd' }, 'baseUrl'],
      [{ format: 'json-cursor', baseUrl: 'https://user:pw@p.example' }, 'baseUrl'],
      [{ format: 'json-cursor', baseUrl: 'https://p.example/?key=1' }, 'baseUrl'],
      [
        {
          format: 'json-cursor',
          baseUrl: 'https://p.example',
          credentials: { header: 'bad header', value: 'x' },
        },
        'credentials.header',
      ],
      [
        { format: 'json-cursor', baseUrl: 'https://p.example', credentials: { header: 'Host', value: 'x' } },
        'credentials.header',
      ],
      [
        {
          format: 'json-cursor',
          baseUrl: 'https://p.example',
          credentials: { header: 'x-api-key', value: 'a\r\nx-evil: 1' },
        },
        'credentials.value',
      ],
      [
        { format: 'json-cursor', baseUrl: 'https://p.example', credentials: { header: 'x-api-key' } },
        'credentials.value',
      ],
      [{ format: 'json-cursor', baseUrl: 'https://p.example', extra: true }, 'extra'],
    ];
    for (const [body, field] of cases) {
      const res = await put(body);
      expect([res.status, paths(res).join(',')]).toEqual([422, field || 'body']);
    }
  });

  it('is for operators only, and 404 when there is no partner or no connection', async () => {
    const asPartner = await put({ format: 'json-cursor', baseUrl: 'https://p.example' }, partner.apiKey);
    expect(asPartner.status).toBe(403);
    expect((await stack.api(path(), { token: partner.apiKey })).status).toBe(403);
    expect((await put({ format: 'json-cursor', baseUrl: 'https://p.example' }, null)).status).toBe(401);
    expect((await stack.api(path(), { token: null })).status).toBe(401);

    const unknown = await stack.api(path('no-such-partner'), {
      method: 'PUT',
      body: { format: 'json-cursor', baseUrl: 'https://p.example' },
    });
    expect(unknown.status).toBe(404);
    expect((await stack.api(path('no-such-partner'))).status).toBe(404);

    const other = await onboardPartner(stack);
    const none = await stack.api(path(other.id));
    expect(none.status).toBe(404);
    expect(none.body.error.details).toEqual([
      { path: 'params.partnerId', message: 'no provider connection' },
    ]);
  });

  it('documents both operations in the OpenAPI, with the formats of the registry', async () => {
    const spec = (await stack.api('/openapi.json', { token: null })).body;
    const ops = spec.paths['/v1/partners/{partnerId}/provider-connection'];
    expect(Object.keys(ops).sort()).toEqual(['get', 'put']);
    expect(ops.put.requestBody.content['application/json'].example.format).toBe('csv-daily');
    expect(JSON.stringify(spec.components.schemas.ProviderConnectionConfig)).toContain('aggregator-totals');
    // Only the PUT takes limits (an application's connection gets the deployment's caps).
    expect(JSON.stringify(spec.components.schemas.ProviderConnectionSettings)).toContain(
      'ProviderReportLimits',
    );
    expect(JSON.stringify(spec.components.schemas.ProviderConnectionConfig)).not.toContain('limits');
    // The published maximum is the deployment's cap: the contract states what is refused.
    const limits = spec.components.schemas.ProviderReportLimits.properties;
    expect([limits.maxRows.maximum, limits.maxBytes.maximum]).toEqual([
      stack.config.reportCaps.maxRows,
      stack.config.reportCaps.maxBytes,
    ]);
    expect(spec.components.schemas.ProviderConnection.properties.format.enum).toEqual(Object.keys(adapters));
  });

  describe.each([
    ['json-cursor', () => startJsonCursorProvider({ transactions: txs }), {}],
    ['csv-daily', () => startCsvDailyProvider({ timezone: 'UTC', transactions: txs }), { timezone: 'UTC' }],
    [
      'aggregator-totals',
      () => startAggregatorProvider({ timezone: 'UTC', transactions: txs }),
      { timezone: 'UTC' },
    ],
  ] as const)('%s adapter', (format, startProvider, options) => {
    it('sends the stored credential to a provider that requires it', async () => {
      const provider = await startProvider();
      const gateway = await requireCredential(provider, 'x-provider-key', SECRET);
      try {
        const set = await put({
          format,
          baseUrl: gateway.url,
          options,
          credentials: { header: 'X-Provider-Key', value: SECRET },
        });
        expect(set.status).toBe(200);
        // The connectivity test already fetched a page with the credential.
        expect(set.body.connectivity).toEqual({ report: 'ok', webhook: 'not-configured' });
        expect(gateway.seen).toEqual([SECRET]);
        gateway.seen.length = 0;
        const connection = openProviderConnection(
          await providerConnectionOf(stack.db.pool, partner.id),
          new SecretBox(stack.config.secretsKey),
        );
        expect(connection).toMatchObject({ format, headers: { 'x-provider-key': SECRET } });
        const params = { ...connection!, currencies: defaultCurrencies, ...window, cursor: null };

        const page = await adapters[format]!.fetchPage(params);
        expect(gateway.seen).toEqual([SECRET]);
        expect(page.rows.length + (page.aggregates?.length ?? 0)).toBeGreaterThan(0);

        // Without it the provider refuses, and the report is unreadable rather than guessed.
        await expect(adapters[format]!.fetchPage({ ...params, headers: {} })).rejects.toThrow(
          ProviderReportError,
        );
        expect(gateway.seen).toEqual([SECRET, undefined]);
      } finally {
        await gateway.close();
        await provider.close();
      }
    });
  });
});
