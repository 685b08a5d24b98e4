import fc from 'fast-check';
import { errorHandler } from '../api/errors';
import { createLogger } from '../platform/logger';
import { testConfig } from './support/env';
import { onboardPartner, type TestPartner } from './support/partners';
import { startStack, type Stack } from './support/stack';

// Hostile input against every operation of the OpenAPI route table (so a new endpoint is
// covered the day it is added): path and query parameters and bodies built from each
// operation's own example with leaves replaced by hostile values, plus malformed JSON and wrong
// content types. Whatever comes in, the answer is never a 5xx. Seeded: FUZZ_SEED reproduces a
// run; FUZZ_PER_OPERATION sets its size (the short version runs in npm test).
const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const PER_OPERATION = Number(process.env.FUZZ_PER_OPERATION ?? 30);

const hostileText = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\uD800',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ✓',
  'x'.repeat(5000),
  '1e309',
  '-0',
  '9'.repeat(40),
  '-9223372036854775809',
  '0.000000000000000000001',
  '2026-02-30',
  '0000-01-01',
  '9999-12-31T23:59:59Z',
  'Mars/Olympus',
  'Etc/GMT+15',
  "'; DROP TABLE partners; --",
  '../../etc/passwd',
  '%00',
  '=HYPERLINK("x")',
  'EUR',
  'eur',
  'settlement:a:2026-11-20',
];
const hostileValue = fc.oneof(
  fc.constantFrom(...hostileText),
  fc.constantFrom(0, -1, 1.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 2 ** 63, true, false, null),
  fc.constantFrom([], {}, [null], { a: { b: { c: [] } } }),
  fc.string({ maxLength: 30 }),
  fc.integer(),
);

/** A hostile value as it would appear in a URL or a key. */
const asText = (v: unknown): string => (typeof v === 'string' ? v : (JSON.stringify(v) ?? 'null'));

/** A lone surrogate cannot be percent-encoded: send the invalid UTF-8 it would be instead. */
function encodeSegment(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return '%ED%A0%80';
  }
}

/** The example with some leaves replaced: gets past the first checks, to the deeper rules. */
function mutate(value: unknown, rnd: () => number, pick: () => unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => mutate(v, rnd, pick));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (rnd() > 0.08) out[k] = mutate(v, rnd, pick);
    if (rnd() < 0.05) out[asText(pick())] = pick();
    return out;
  }
  return rnd() < 0.3 ? pick() : value;
}

describe('a database data error that slips past validation', () => {
  it('is a 4xx naming the column or constraint, never a 500', () => {
    const sent: { status?: number; body?: any } = {};
    const res = {
      headersSent: false,
      status(code: number) {
        sent.status = code;
        return this;
      },
      json(body: unknown) {
        sent.body = body;
        return this;
      },
    };
    const handle = errorHandler(createLogger(testConfig({ LOG_LEVEL: 'silent' }), 'test'));
    const tooLong = Object.assign(new Error('value too long for type character varying(200)'), {
      code: '22001',
      column: 'name',
    });
    handle(tooLong, { method: 'PUT', path: '/v1/x', complete: true } as never, res as never, () => {});
    expect(sent).toEqual({
      status: 422,
      body: {
        error: {
          code: 'validation_failed',
          message: 'a value is outside what can be stored',
          details: [{ path: 'name', message: 'refused by the database (22001)' }],
        },
      },
    });
    const check = Object.assign(new Error('violates check constraint'), {
      code: '23514',
      constraint: 'partners_id_check',
    });
    handle(check, { method: 'PUT', path: '/v1/x', complete: true } as never, res as never, () => {});
    expect(sent.status).toBe(422);
    expect(sent.body.error.details[0].path).toBe('partners_id_check');
  });

  it('is a 503 with Retry-After when Postgres or Temporal is down for a moment, never a 500', () => {
    const sent: { status?: number; body?: any; headers: Record<string, string> } = { headers: {} };
    const res = {
      headersSent: false,
      status(code: number) {
        sent.status = code;
        return this;
      },
      set(name: string, value: string) {
        sent.headers[name] = value;
        return this;
      },
      json(body: unknown) {
        sent.body = body;
        return this;
      },
    };
    const handle = errorHandler(createLogger(testConfig({ LOG_LEVEL: 'silent' }), 'test'));
    const outages: [unknown, RegExp][] = [
      [new Error('Connection terminated unexpectedly'), /the database is unavailable/],
      [
        Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
        /database/,
      ],
      [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }), /database/],
      [new Error('timeout exceeded when trying to connect'), /database/],
      [
        Object.assign(new Error('14 UNAVAILABLE: Connection refused'), {
          code: 14,
          details: 'x',
          metadata: {},
        }),
        /Temporal is unavailable/,
      ],
    ];
    for (const [err, message] of outages) {
      sent.status = undefined;
      handle(err, { method: 'POST', path: '/v1/x' } as never, res as never, () => {});
      expect(sent.status).toBe(503);
      expect(sent.headers['retry-after']).toBe('2');
      expect(sent.body.error.code).toBe('unavailable');
      expect(sent.body.error.message).toMatch(message);
    }
    // Anything else unexpected stays a 500 (a bug to fix, logged).
    handle(
      new TypeError('x is undefined'),
      { method: 'POST', path: '/v1/x' } as never,
      res as never,
      () => {},
    );
    expect(sent.status).toBe(500);
  });
});

describe('API fuzzing: no input gets a 5xx', () => {
  let stack: Stack;
  let partner: TestPartner;
  beforeAll(async () => {
    stack = await startStack({
      overrides: {
        RATE_LIMIT_FAILURES_PER_ADDRESS_PER_MINUTE: '0',
        RATE_LIMIT_PER_CREDENTIAL_PER_MINUTE: '0',
      },
    });
    partner = await onboardPartner(stack);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('refuses text Postgres or Temporal cannot hold (NUL, a lone surrogate), naming the field', async () => {
    for (const reason of ['a\u0000b', '\ud800'])
      expect(
        await stack.api(`/v1/partners/${partner.id}/suspend`, {
          rawBody: JSON.stringify({ reason }),
          headers: { 'content-type': 'application/json' },
        }),
      ).toMatchObject({
        status: 422,
        body: { error: { details: [{ path: 'reason', message: expect.stringMatching(/NUL/) }] } },
      });
    expect((await stack.api(`/v1/partners/${partner.id}`)).body.status).toBe('active');
    const query = await stack.api('/v1/partners?q=%00');
    expect(query).toMatchObject({ status: 400, body: { error: { details: [{ path: 'query.q' }] } } });
  });

  it(`answers ${PER_OPERATION} hostile requests per operation without a 5xx`, async () => {
    const spec = (await stack.api('/openapi.json', { token: null })).body;
    const admin = await stack.tokenFor('fuzzer', 'admin', 'resolver', 'approver');
    const values = fc.sample(hostileValue, { seed: SEED, numRuns: 20_000 });
    let i = 0;
    const pick = () => values[i++ % values.length];
    let state = SEED;
    const rnd = () => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state / 2 ** 31;
    };
    const failures: string[] = [];
    let requests = 0;
    for (const [template, ops] of Object.entries(spec.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(ops)) {
        const role = op['x-required-role'] as string;
        const token = role === 'partner' ? partner.apiKey : role === 'none' ? null : admin;
        const example = op.requestBody?.content?.['application/json']?.example;
        for (let n = 0; n < PER_OPERATION; n++) {
          const path = template.replace(/\{(\w+)\}/g, (_m, name: string) =>
            encodeSegment(
              rnd() < 0.5
                ? name === 'partnerId'
                  ? partner.id
                  : name === 'id'
                    ? `settlement:${partner.id}:2026-11-20`
                    : asText(pick())
                : asText(pick()),
            ),
          );
          const params = (op.parameters ?? []).filter((p: { in: string }) => p.in === 'query');
          const query = new URLSearchParams();
          for (const p of params as { name: string }[]) if (rnd() < 0.6) query.set(p.name, asText(pick()));
          const url = `${path}${query.size ? `?${query.toString()}` : ''}`;
          let init: {
            method: string;
            token: string | null;
            rawBody?: string;
            headers?: Record<string, string>;
          };
          const shape = rnd();
          if (method === 'get') init = { method: 'GET', token };
          else if (shape < 0.1)
            init = {
              method: method.toUpperCase(),
              token,
              rawBody: '{"a": [1, 2',
              headers: { 'content-type': 'application/json' },
            };
          else if (shape < 0.15)
            init = {
              method: method.toUpperCase(),
              token,
              rawBody: 'a=1',
              headers: { 'content-type': 'text/plain' },
            };
          else {
            const body = example !== undefined && shape < 0.85 ? mutate(example, rnd, pick) : pick();
            init = {
              method: method.toUpperCase(),
              token,
              rawBody: JSON.stringify(body),
              headers: { 'content-type': 'application/json' },
            };
          }
          const res = await stack.api(url, init);
          requests++;
          if (res.status >= 500)
            failures.push(
              `${res.status} ${init.method} ${url} ${(init.rawBody ?? '').slice(0, 300)} → ${JSON.stringify(res.body).slice(0, 200)}`,
            );
        }
      }
    }
    // The long version (FUZZ_PER_OPERATION set) prints its figures as one JSON line.
    if (process.env.FUZZ_PER_OPERATION)
      process.stdout.write(
        `${JSON.stringify({ seed: SEED, fuzzRequests: requests, fuzz5xx: failures.length })}\n`,
      );
    expect(requests).toBeGreaterThan(25 * PER_OPERATION);
    expect(failures).toEqual([]);
  });
});
