import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { createApp } from '../api/app';
import { createLogger } from '../platform/logger';
import { testConfig } from './support/env';
import { application, onboardPartner } from './support/partners';
import { startStack, type Stack } from './support/stack';

describe('API skeleton: one error format, limits, auth, docs and metrics', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ overrides: { API_BODY_LIMIT_BYTES: '4096' } });
  });
  afterAll(async () => {
    await stack.close();
  });

  const validPartner = () => application();

  it('answers /healthz and a /readyz that checks Postgres and Temporal', async () => {
    expect(await stack.api('/healthz', { token: null })).toMatchObject({
      status: 200,
      body: { status: 'ok' },
    });
    expect(await stack.api('/readyz', { token: null })).toMatchObject({
      status: 200,
      body: { status: 'ready', checks: { postgres: 'ok', temporal: 'ok' } },
    });
  });

  it('rejects malformed JSON with a 400 in the error format, never a stack trace', async () => {
    const res = await stack.api('/v1/partner-applications', {
      rawBody: '{"id": "x",',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: {
        code: 'bad_request',
        message: 'request body is not valid JSON',
        details: [{ path: 'body', message: 'malformed JSON' }],
      },
    });
  });

  it('rejects a body over the configured limit with 413', async () => {
    const res = await stack.api('/v1/partner-applications', {
      body: { ...validPartner(), name: 'x'.repeat(5000) },
    });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
  });

  it('rejects a non-JSON content type with 415, and a missing body with 400', async () => {
    const res = await stack.api('/v1/partner-applications', {
      rawBody: 'id=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(415);
    expect(res.body.error.details).toEqual([
      { path: 'headers.content-type', message: 'application/x-www-form-urlencoded is not JSON' },
    ]);
    const none = await stack.api('/v1/partner-applications', { method: 'POST' });
    expect(none.status).toBe(400);
    expect(none.body.error.details).toEqual([{ path: 'body', message: 'required' }]);
  });

  it('answers 405 with Allow for a method a path does not declare, and 404 for a path that does not exist', async () => {
    const trace = await stack.api('/v1/settlements', { method: 'DELETE' });
    expect(trace.status).toBe(405);
    expect(trace.headers.get('allow')).toBe('GET, POST, HEAD, OPTIONS');
    expect(trace.body.error.code).toBe('method_not_allowed');
    const health = await stack.api('/healthz', { method: 'PUT', token: null });
    expect(health.status).toBe(405);
    expect(health.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    expect((await stack.api('/v1/nowhere')).status).toBe(404);
  });

  it('checks the role before it reads a body: a partner key on an operator route is a 403, whatever it sent', async () => {
    const partner = await onboardPartner(stack);
    for (const rawBody of ['{not json', JSON.stringify({ name: 'a\u0000b' })]) {
      const res = await stack.api('/v1/partner-applications', {
        rawBody,
        headers: { 'content-type': 'application/json' },
        token: partner.apiKey,
      });
      expect(res.status).toBe(403);
    }
  });

  it('closes the connection after refusing a body it did not read: an unknown caller cannot stream gigabytes in', async () => {
    const url = new URL('/v1/partner-applications', stack.baseUrl);
    const answer = await new Promise<{ status: number; connection: string | undefined; sent: number }>(
      (resolve, reject) => {
        let sent = 0;
        const req = request(
          url,
          {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'content-length': 50 * 1024 * 1024 },
          },
          (res) => {
            res.resume();
            res.once('end', () =>
              resolve({ status: res.statusCode!, connection: res.headers.connection, sent }),
            );
          },
        );
        req.once('error', (err: NodeJS.ErrnoException) =>
          // The server may close before the client has finished writing what it announced.
          err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err),
        );
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        const pump = () => {
          while (sent < 4 * 1024 * 1024 && req.write(chunk)) sent += chunk.length;
        };
        req.on('drain', pump);
        pump();
      },
    );
    expect(answer.status).toBe(401);
    expect(answer.connection).toBe('close');
    expect(answer.sent).toBeLessThan(50 * 1024 * 1024);
  });

  it('names every invalid field in a 422 and writes nothing', async () => {
    const bad: Record<string, unknown> = {
      ...validPartner(),
      timezone: 'Mars/Olympus',
      settlementCurrency: 'eur',
      extra: 1,
    };
    const res = await stack.api('/v1/partner-applications', { body: bad });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('validation_failed');
    const details = res.body.error.details as { path: string; message: string }[];
    expect(details.map((d) => d.path)).toEqual(expect.arrayContaining(['settlementCurrency', 'timezone']));
    // The unknown key is reported too (strict schema), so typos do not pass silently.
    expect(details.some((d) => d.message.includes('extra'))).toBe(true);
    const { rowCount } = await stack.db.pool.query('SELECT 1 FROM partners WHERE id = $1', [
      bad.partnerId as string,
    ]);
    expect(rowCount).toBe(0);
  });

  it('requires credentials, and the right role', async () => {
    const anonymous = await stack.api('/v1/partner-applications', { body: validPartner(), token: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.details).toEqual([{ path: 'headers.authorization', message: 'required' }]);

    const wrong = await stack.api('/v1/partner-applications', {
      body: validPartner(),
      token: 'not-the-operator-token',
    });
    expect(wrong.status).toBe(401);

    const created = await onboardPartner(stack);
    const asPartner = await stack.api('/v1/partner-applications', {
      body: validPartner(),
      token: created.apiKey,
    });
    expect(asPartner.status).toBe(403);
  });

  it('scopes partner reads to the partner behind the credential', async () => {
    const a = await onboardPartner(stack);
    const b = await onboardPartner(stack);
    const own = await stack.api(`/v1/partners/${a.id}`, { token: a.apiKey });
    expect(own.status).toBe(200);
    const other = await stack.api(`/v1/partners/${b.id}`, { token: a.apiKey });
    expect(other.status).toBe(404);
    const badId = await stack.api('/v1/partners/NOT_AN_ID', { token: a.apiKey });
    expect(badId.status).toBe(400);
    expect(badId.body.error.details[0].path).toBe('params.partnerId');
  });

  it('survives Postgres dropping its connections, without a crash or a 5xx', async () => {
    const admin = new pg.Client({ connectionString: process.env.CLEARHOUSE_TEST_PG_ADMIN_URL });
    await admin.connect();
    try {
      await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [new URL(stack.db.url).pathname.slice(1)],
      );
    } finally {
      await admin.end();
    }
    await new Promise((r) => setTimeout(r, 50));
    expect((await stack.api('/readyz', { token: null })).status).toBe(200);
    expect((await onboardPartner(stack)).apiKey).toMatch(/^chk_/);
  });

  it('answers unknown routes with 404 in the error format', async () => {
    const res = await stack.api('/v1/nothing-here');
    expect(res).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
  });

  it('publishes an OpenAPI document generated from the route schemas, and a docs page', async () => {
    const spec = await stack.api('/openapi.json', { token: null });
    expect(spec.status).toBe(200);
    expect(spec.body.openapi).toBe('3.1.0');
    expect(Object.keys(spec.body.paths)).toEqual(
      expect.arrayContaining(['/healthz', '/readyz', '/v1/partners', '/v1/partners/{partnerId}']),
    );
    expect(spec.body.components.schemas).toHaveProperty('Error');
    expect(spec.body.components.schemas.PartnerApplication.required).toEqual(
      expect.arrayContaining(['partnerId', 'timezone', 'settlementCurrency', 'company', 'contacts']),
    );
    expect(
      spec.body.paths['/v1/partner-applications'].post.requestBody.content['application/json'].example,
    ).toHaveProperty('partnerId');
    const docs = await fetch(`${stack.baseUrl}/docs/`);
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('swagger-ui');
  });

  it('pages every list with a cursor, never cutting one off silently', async () => {
    const p = await onboardPartner(stack);
    const games = Array.from({ length: 5 }, (_, i) => ({ gameId: `g-${i}`, category: 'slots' }));
    expect((await stack.api(`/v1/partners/${p.id}/games`, { method: 'PUT', body: { games } })).status).toBe(
      200,
    );
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const res = await stack.api(`/v1/partners/${p.id}/games?${query}`);
      expect(res.status).toBe(200);
      seen.push(...(res.body.games as { gameId: string }[]).map((g) => g.gameId));
      cursor = res.body.nextCursor as string | null;
      pages++;
    } while (cursor !== null && pages < 10);
    expect([pages, seen]).toEqual([3, ['g-0', 'g-1', 'g-2', 'g-3', 'g-4']]);
    const bad = await stack.api(`/v1/settlements?cursor=not-ours`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.details).toEqual([expect.objectContaining({ path: 'query.cursor' })]);
    expect((await stack.api('/v1/ledger/accounts?limit=501')).status).toBeGreaterThanOrEqual(400);
    const accounts = await stack.api('/v1/ledger/accounts?limit=500');
    expect(accounts.body).toHaveProperty('nextCursor');
  });

  it('authenticates before reading a body: no credential, no parsing (401, not 400 or 413)', async () => {
    const huge = await stack.api('/v1/transactions', {
      rawBody: 'x'.repeat(100_000),
      token: null,
      headers: { 'content-type': 'application/json' },
    });
    expect(huge.status).toBe(401);
    const malformed = await stack.api('/v1/partner-applications', {
      rawBody: '{not json',
      token: 'wrong-token-0123456789',
      headers: { 'content-type': 'application/json' },
    });
    expect(malformed.status).toBe(401);
    // With a credential the body is read as before.
    const withToken = await stack.api('/v1/partner-applications', {
      rawBody: '{not json',
      headers: { 'content-type': 'application/json' },
    });
    expect(withToken.status).toBe(400);
  });

  it('sends security headers and no framework banner', async () => {
    const res = await fetch(`${stack.baseUrl}/healthz`);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(res.headers.get('strict-transport-security')).toContain('max-age=');
    expect(res.headers.get('x-powered-by')).toBeNull();
  });

  it('exposes Prometheus metrics, including request durations by route', async () => {
    await stack.api('/healthz', { token: null });
    const res = await fetch(`${stack.baseUrl}/metrics`);
    const text = await res.text();
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(text).toMatch(
      /clearhouse_http_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} \d+/,
    );
    expect(text).toContain('clearhouse_api_process_resident_memory_bytes');
  });
});

describe('metrics behind a token', () => {
  it('answers /metrics only with the configured bearer token', async () => {
    const stack = await startStack({
      workers: false,
      overrides: { METRICS_TOKEN: 'scrape-token-0123456789' },
    });
    try {
      expect((await fetch(`${stack.baseUrl}/metrics`)).status).toBe(401);
      const wrong = await fetch(`${stack.baseUrl}/metrics`, { headers: { authorization: 'Bearer nope' } });
      expect(wrong.status).toBe(401);
      const ok = await fetch(`${stack.baseUrl}/metrics`, {
        headers: { authorization: 'Bearer scrape-token-0123456789' },
      });
      expect(ok.status).toBe(200);
    } finally {
      await stack.close();
    }
  });
});

describe('readiness when a dependency is down', () => {
  it('answers 503 naming Postgres when it is unreachable', async () => {
    const config = testConfig({ DATABASE_URL: 'postgres://nobody:nothing@127.0.0.1:1/none' });
    const db = new pg.Pool({ connectionString: config.db.url, connectionTimeoutMillis: 500 });
    const connection = await Connection.connect({ address: config.temporal.address });
    const app = createApp({
      config,
      db,
      temporal: new Client({ connection }),
      logger: createLogger(config, 'test'),
    });
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/readyz`);
      const body = (await res.json()) as { status: string; checks: { postgres: string; temporal: string } };
      expect(res.status).toBe(503);
      expect(body.status).toBe('not_ready');
      expect(body.checks.temporal).toBe('ok');
      // Classified, never the driver's message (addresses, users) to an anonymous caller.
      expect(body.checks.postgres).toBe('unreachable');
      expect(JSON.stringify(body)).not.toMatch(/127\.0\.0\.1|nobody|ECONN/);
    } finally {
      await new Promise((r) => server.close(r));
      await db.end();
      await connection.close();
    }
  });
});
