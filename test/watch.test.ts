import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createActivities } from '../activities';
import { upsertWatchScanSchedule, watchActivities, watchScanScheduleId } from '../activities/watch';
import { createMetrics } from '../api/metrics';
import { storeApiKeyHash } from '../db/partners';
import { createCurrencyRegistry } from '../domain/money';
import { issueApiKey } from '../platform/credentials';
import { taskQueue } from '../platform/temporal';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhook } from '../platform/webhooks';
import { uniqueId } from './support/env';
import { startStack, type Stack } from './support/stack';

// The watch on the real stack: signals planted straight into the tables ingest keeps (positions,
// activity_hours, ingest_batches) and the settlement tables, one scan at a pinned time, and the
// alerts as operators and partners read them. One alert per crossing: refreshed while the
// condition holds, resolved when it clears, a new row at the next crossing.

const HOUR = 3_600_000;
const WEEK = 7 * 24 * HOUR;
/** Half past the current hour: every scan of this file judges the same hours. */
const NOW = new Date(Math.floor(Date.now() / HOUR) * HOUR + HOUR / 2);
const CURRENT = Math.floor(NOW.getTime() / HOUR) * HOUR;
const TODAY = NOW.toISOString().slice(0, 10);

let stack: Stack;
let scan: (now?: Date) => Promise<Record<string, any>>;

interface TestPartner {
  id: string;
  key: string;
}

async function partner(prefix: string): Promise<TestPartner> {
  const id = uniqueId(prefix);
  await stack.db.pool.query(
    `INSERT INTO partners (id, name, kind, timezone, settlement_currency, status, activated_at)
     VALUES ($1, 'Watch Test', 'provider', 'UTC', 'EUR', 'active', now())`,
    [id],
  );
  const key = issueApiKey();
  await storeApiKeyHash(stack.db.pool, id, key.keyId, key.hash);
  return { id, key: key.plaintext };
}

async function alertsOf(key: string): Promise<Record<string, any>[]> {
  const { rows } = await stack.db.pool.query(
    `SELECT id::text, kind, severity, disclosure, state, partner_id, evidence, window_start, window_end, occurrences,
            first_seen, last_seen, notified_at
       FROM alerts WHERE dedup_key = $1 ORDER BY id`,
    [key],
  );
  return rows;
}

/** One hour's activity of a partner (what ingest's hourly rollup holds). */
async function hour(partnerId: string, ms: number, txCount: number): Promise<void> {
  await stack.db.pool.query(
    `INSERT INTO activity_hours (partner_id, hour, currency, stripe, tx_count, bet_count) VALUES ($1, $2, 'EUR', 0, $3, $3)`,
    [partnerId, new Date(ms), txCount],
  );
}

const positions = (partnerId: string, gameId: string, p: Record<string, bigint | number>) =>
  stack.db.pool.query(
    `INSERT INTO positions (partner_id, business_date, currency, game_id, stripe, ${Object.keys(p).join(', ')})
     VALUES ($1, $2, 'EUR', $3, 0, ${Object.keys(p)
       .map((_, i) => `$${i + 4}`)
       .join(', ')})`,
    [partnerId, TODAY, gameId, ...Object.values(p).map(String)],
  );

beforeAll(async () => {
  stack = await startStack();
  const activities = createActivities({
    db: stack.db.appPool,
    config: stack.config,
    currencies: createCurrencyRegistry(stack.config.currencies.extraAssets),
  });
  scan = async (now = NOW) => (await activities.scanWatch({ now: now.toISOString() })) as Record<string, any>;
}, 60_000);
afterAll(async () => {
  await stack?.close();
});

describe('RTP drift', () => {
  it('raises one critical alert with evidence, refreshes it, resolves it when the drift is gone, and a new row at the next crossing', async () => {
    const [a, b] = [await partner('rtp-a'), await partner('rtp-b')];
    const put = await stack.api('/v1/canonical-games/drift-slot', {
      method: 'PUT',
      body: { name: 'Drift Slot', theoreticalRtp: '0.96', stdDev: '1' },
    });
    expect(put.status).toBe(201);
    for (const [p, game] of [
      [a, 'ds-a'],
      [b, 'ds-b'],
    ] as const)
      expect(
        (
          await stack.api(`/v1/partners/${p.id}/game-mappings`, {
            method: 'PUT',
            body: { mappings: [{ gameId: game, canonicalId: 'drift-slot' }] },
          })
        ).status,
      ).toBe(200);
    // 8,000 spins of 1.00 each per partner: too few for a verdict per partner (10,000 needed),
    // 16,000 across both. Paid 90 % against 96 %: z ≈ −7.6. A rolled-back bet and a jackpot win
    // are left out of the observed figure.
    for (const [p, game] of [
      [a, 'ds-a'],
      [b, 'ds-b'],
    ] as const)
      await positions(p.id, game, {
        bet_count: 8_001,
        bet_minor: 800_100n,
        bet_sq_minor: 80_010_000n,
        rollback_bet_count: 1,
        rollback_bet_minor: 100n,
        win_minor: 720_000n,
        jackpot_win_minor: 5_000_000n,
      });

    const first = await scan();
    expect(first.detectors).toMatchObject({ rtp: { found: 1 } });
    const [alert] = await alertsOf('rtp_drift:drift-slot:EUR');
    expect(alert).toMatchObject({
      kind: 'rtp_drift',
      severity: 'critical',
      disclosure: 'integrity',
      state: 'active',
      partner_id: null,
      occurrences: 1,
    });
    expect(alert!.evidence).toMatchObject({
      canonicalId: 'drift-slot',
      maths: { version: 1, theoreticalRtp: '0.96', stdDev: '1', jackpotContributionRate: '0' },
      spins: 16_000,
      betMinor: '1600000',
      winMinor: '1440000',
      observedRtp: 0.9,
      expectedRtp: 0.96,
      partners: 2,
    });
    // Σb² keeps the rolled-back stake's square (ingest cannot take it back out): a slightly wider band.
    expect(alert!.evidence.z).toBeCloseTo(-0.06 * Math.sqrt(1_600_000 ** 2 / 160_020_000), 9);
    expect(alert!.evidence.explanation).toMatch(/below the ±3-SE band/);
    // The query in the evidence reproduces the numbers.
    const reproduced = await stack.db.pool.query(alert!.evidence.query as string);
    expect(reproduced.rows.find((r) => r.across)).toMatchObject({
      spins: '16000',
      bet_minor: '1600000',
      win_minor: '1440000',
      bet_sq_minor: '160020000',
    });
    // No per-partner alert: neither has the volume for a verdict of its own.
    const { rows: rtpAlerts } = await stack.db.pool.query(
      `SELECT dedup_key FROM alerts WHERE kind = 'rtp_drift'`,
    );
    expect(rtpAlerts).toEqual([{ dedup_key: 'rtp_drift:drift-slot:EUR' }]);

    // The console's figures are the scan's.
    const figures = await stack.api(`/v1/insights/rtp?canonicalId=drift-slot&asOf=${TODAY}`);
    expect(figures.status).toBe(200);
    expect(figures.body.games).toEqual([
      expect.objectContaining({
        canonicalId: 'drift-slot',
        partnerId: null,
        currency: 'EUR',
        spins: 16_000,
        bets: '16000.00',
        wins: '14400.00',
        observedRtp: 0.9,
        z: alert!.evidence.z,
        alert: true,
        direction: 'below',
        perPartner: [],
        perPartnerNotMeaningful: 2,
      }),
    ]);
    const daily = await stack.api(`/v1/insights/rtp/drift-slot/daily?days=3&asOf=${TODAY}`);
    expect(daily.body.days).toEqual([
      expect.objectContaining({ date: TODAY, spins: 16_000, observedRtp: 0.9, alert: true }),
    ]);
    expect((await stack.api('/v1/insights/rtp/no-such-game/daily')).status).toBe(404);

    // Again: the same row refreshed, not a second one.
    await scan();
    const refreshed = await alertsOf('rtp_drift:drift-slot:EUR');
    expect(refreshed).toHaveLength(1);
    expect(refreshed[0]).toMatchObject({ id: alert!.id, occurrences: 2, state: 'active' });
    expect(refreshed[0]!.last_seen.getTime()).toBeGreaterThan(alert!.last_seen.getTime());

    // The drift is gone (96 % paid): resolved.
    await stack.db.pool.query(`UPDATE positions SET win_minor = 768000 WHERE game_id IN ('ds-a', 'ds-b')`);
    expect((await scan()).resolved).toBeGreaterThanOrEqual(1);
    expect(await alertsOf('rtp_drift:drift-slot:EUR')).toEqual([
      expect.objectContaining({ id: alert!.id, state: 'resolved' }),
    ]);
    // The next crossing is a new alert.
    await stack.db.pool.query(`UPDATE positions SET win_minor = 720000 WHERE game_id IN ('ds-a', 'ds-b')`);
    await scan();
    const rows = await alertsOf('rtp_drift:drift-slot:EUR');
    expect(rows.map((r) => r.state)).toEqual(['resolved', 'active']);
    expect(rows[1]!.occurrences).toBe(1);
  });
});

describe('volume, disclosure and acknowledgement', () => {
  let spiking: TestPartner;
  let silent: TestPartner;

  beforeAll(async () => {
    spiking = await partner('spike');
    silent = await partner('quiet');
    // Four weeks of 100 transactions in this hour and the one before, at both partners.
    for (const p of [spiking, silent])
      for (let k = 1; k <= 4; k++) {
        await hour(p.id, CURRENT - k * WEEK, 100);
        await hour(p.id, CURRENT - HOUR - k * WEEK, 100);
      }
    // This hour so far: 600 at one (6×); the last hour: nothing at the other.
    await hour(spiking.id, CURRENT, 600);
    await hour(spiking.id, CURRENT - HOUR, 97);
    await hour(silent.id, CURRENT, 2);
    // And a rollback rate of 10 % (of 2,000 bets) at the silent partner: an integrity signal.
    await positions(silent.id, 'any-game', {
      bet_count: 2_000,
      bet_minor: 200_000n,
      rollback_bet_count: 200,
    });
    await scan();
  });

  it('raises a critical spike carrying the partner and the hour, and silence during expected activity', async () => {
    const [spike] = await alertsOf(`volume_spike:${spiking.id}`);
    expect(spike).toMatchObject({
      kind: 'volume_spike',
      severity: 'critical',
      disclosure: 'integrity',
      partner_id: spiking.id,
      window_start: new Date(CURRENT),
      window_end: new Date(CURRENT + HOUR),
    });
    expect(spike!.evidence).toMatchObject({
      ratio: 6,
      hours: [expect.objectContaining({ observed: 600, median: 100, weeks: 4 })],
    });
    const reproduced = await stack.db.pool.query(spike!.evidence.query as string);
    expect(reproduced.rows.map((r) => Number(r.n))).toEqual([100, 100, 100, 100, 600]);

    const [silence] = await alertsOf(`volume_silence:${silent.id}`);
    expect(silence).toMatchObject({
      severity: 'warning',
      disclosure: 'operational',
      window_start: new Date(CURRENT - HOUR),
      window_end: new Date(CURRENT),
    });
    expect(silence!.evidence.explanation).toMatch(/^Silence/);
    // Neither the partial hour's few transactions nor the other partner's 97 are a drop.
    expect(await alertsOf(`volume_drop:${silent.id}`)).toEqual([]);
    expect(await alertsOf(`volume_drop:${spiking.id}`)).toEqual([]);
    expect(await alertsOf(`rollback_rate:${silent.id}`)).toEqual([
      expect.objectContaining({ severity: 'warning', disclosure: 'integrity', state: 'active' }),
    ]);
  });

  it('shows a partner only the operational alerts about itself, never evidence or who acknowledged', async () => {
    const [silence] = await alertsOf(`volume_silence:${silent.id}`);
    const [rollbacks] = await alertsOf(`rollback_rate:${silent.id}`);
    const [spike] = await alertsOf(`volume_spike:${spiking.id}`);

    const resolver = await stack.tokenFor('nina-ops', 'resolver');
    const note = 'confirmed with their ops: planned maintenance window 14:00-15:00';
    const ack = await stack.api(`/v1/alerts/${silence!.id}/acknowledgement`, {
      body: { note },
      token: resolver,
    });
    expect(ack.status).toBe(200);
    expect(ack.body).toMatchObject({
      changed: true,
      alert: {
        id: silence!.id,
        state: 'active',
        acknowledged: true,
        acknowledgement: { actor: 'clearhouse#nina-ops', name: 'nina-ops', note },
      },
    });
    // The same again changes nothing; another note (or another person) is a conflict.
    const again = await stack.api(`/v1/alerts/${silence!.id}/acknowledgement`, {
      body: { note },
      token: resolver,
    });
    expect(again.body.changed).toBe(false);
    expect(
      (
        await stack.api(`/v1/alerts/${silence!.id}/acknowledgement`, {
          body: { note: 'other' },
          token: resolver,
        })
      ).status,
    ).toBe(409);
    const viewer = await stack.tokenFor('vic-viewer', 'viewer');
    expect(
      (await stack.api(`/v1/alerts/${spike!.id}/acknowledgement`, { body: { note }, token: viewer })).status,
    ).toBe(403);
    expect(
      (await stack.api('/v1/alerts/999999999/acknowledgement', { body: { note }, token: resolver })).status,
    ).toBe(404);
    // Audited by the route, as the named operator.
    const { rows: audit } = await stack.db.pool.query<{ actor: string; target: string }>(
      `SELECT actor, target FROM audit_events WHERE action = 'POST /v1/alerts/{alertId}/acknowledgement' ORDER BY seq`,
    );
    expect(audit).toEqual(
      Array(2).fill({ actor: 'clearhouse#nina-ops', target: `/v1/alerts/${silence!.id}/acknowledgement` }),
    );

    // Operators see everything, with evidence and the acknowledgement.
    const all = await stack.api(`/v1/alerts?partnerId=${silent.id}&state=active`);
    expect(all.body.alerts.map((a: { kind: string }) => a.kind).sort()).toEqual([
      'rollback_rate',
      'volume_silence',
    ]);

    // The partner: its silence, nothing else, and no names, notes or evidence.
    const own = await stack.api('/v1/alerts', { token: silent.key });
    expect(own.status).toBe(200);
    expect(own.body.alerts).toEqual([
      {
        id: silence!.id,
        kind: 'volume_silence',
        severity: 'warning',
        state: 'active',
        partnerId: silent.id,
        subject: `partner:${silent.id}`,
        title: expect.stringMatching(/^No transactions from/) as string,
        windowStart: new Date(CURRENT - HOUR).toISOString(),
        windowEnd: new Date(CURRENT).toISOString(),
        firstSeen: expect.any(String) as string,
        lastSeen: expect.any(String) as string,
        occurrences: 1,
        resolvedAt: null,
        acknowledged: true,
      },
    ]);
    const one = await stack.api(`/v1/alerts/${silence!.id}`, { token: silent.key });
    expect(one.status).toBe(200);
    for (const text of [JSON.stringify(own.body), JSON.stringify(one.body)]) {
      expect(text).not.toContain('nina-ops');
      expect(text).not.toContain('maintenance');
      expect(text).not.toContain('evidence');
      expect(text).not.toContain('SELECT');
    }
    // Integrity alerts about it, and anyone else's alerts, are not there at all.
    expect((await stack.api(`/v1/alerts/${rollbacks!.id}`, { token: silent.key })).status).toBe(404);
    expect((await stack.api(`/v1/alerts/${spike!.id}`, { token: silent.key })).status).toBe(404);
    expect((await stack.api(`/v1/alerts/${silence!.id}`, { token: spiking.key })).status).toBe(404);
    expect((await stack.api(`/v1/alerts?partnerId=${spiking.id}`, { token: silent.key })).status).toBe(404);
    expect((await stack.api('/v1/alerts', { token: spiking.key })).body.alerts).toEqual([]);
    expect((await stack.api('/v1/alerts?kind=volume_spike', { token: silent.key })).body.alerts).toEqual([]);
  });

  it('pages the alert list with cursors', async () => {
    const seen: string[] = [];
    for (let cursor: string | null = null, n = 0; n < 100; n++) {
      const res = await stack.api(`/v1/alerts?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(...(res.body.alerts as { id: string }[]).map((a) => a.id));
      cursor = res.body.nextCursor as string | null;
      if (!cursor) break;
    }
    const { rows } = await stack.db.pool.query<{ id: string }>(
      'SELECT id::text FROM alerts ORDER BY id DESC',
    );
    expect(seen).toEqual(rows.map((r) => r.id));
  });

  it('counts active alerts by kind and severity for Prometheus, from Postgres at the scrape', async () => {
    const metrics = createMetrics({ db: stack.db.appPool });
    const text = await metrics.registry.metrics();
    expect(text).toContain('clearhouse_alerts_active{kind="volume_spike",severity="critical"} 1');
    expect(text).toContain('clearhouse_alerts_active{kind="volume_silence",severity="warning"} 1');
    expect(text).toContain('clearhouse_alerts_active{kind="fx_move",severity="warning"} 0');
    expect(text).toContain('clearhouse_alerts_scrape_failed 0');
  });
});

describe('integrity signals', () => {
  it('names late reports, FX moves between locks, duplicates, stale and orphaned transactions, and big wins after payout', async () => {
    const p = await partner('integrity');
    const yesterday = new Date(CURRENT - 24 * HOUR).toISOString().slice(0, 10);
    const lastWeek = new Date(CURRENT - 7 * 24 * HOUR).toISOString().slice(0, 10);
    const cycle = (day: string) => `settlement:${p.id}:${day}`;
    // A cycle long past its cut-off still waiting for the report; two completed ones whose
    // EUR/USD locks are 10 % apart; a big win held on a day of the paid one.
    await stack.db.pool.query(
      `INSERT INTO settlement_cycles (id, partner_id, period_start, period_end, status) VALUES
         ($1, $4, $5, $5, 'WaitingForCutoff'), ($2, $4, $6, $6, 'Completed'), ($3, $4, $7, $7, 'Completed')`,
      [cycle('2026-01-05'), cycle(lastWeek), cycle(yesterday), p.id, '2026-01-05', lastWeek, yesterday],
    );
    await stack.db.pool.query(
      `INSERT INTO settlement_fx_rates (cycle_id, from_ccy, to_ccy, rate, source, as_of, locked_at) VALUES
         ($1, 'USD', 'EUR', 0.90, 'test', now(), $3), ($2, 'USD', 'EUR', 0.99, 'test', now(), $4)`,
      [cycle(lastWeek), cycle(yesterday), new Date(CURRENT - 50 * HOUR), new Date(CURRENT - 2 * HOUR)],
    );
    await stack.db.pool.query(
      `INSERT INTO held_wins (partner_id, tx_id, round_id, game_id, player_id, business_date, currency, amount_minor,
                              settlement_currency, evidence)
       VALUES ($1, 'w-1', 'r-1', 'g-1', 'pl-1', $2, 'EUR', 5000000, 'EUR', '{}')`,
      [p.id, yesterday],
    );
    // The last hour's batches: 2,000 received, 100 of them duplicates (5 %), 150 stale.
    await stack.db.pool.query(
      `INSERT INTO ingest_batches (partner_id, batch_id, request_hash, received_at, received_count, accepted_count, stale_count)
       VALUES ($1, 'b-1', '\\x00', $2, 1000, 950, 75), ($1, 'b-2', '\\x00', $2, 1000, 950, 75)`,
      [p.id, new Date(NOW.getTime() - 10 * 60_000)],
    );
    // Two rollbacks left orphaned on a day that has ended.
    await stack.db.pool.query(
      `INSERT INTO positions (partner_id, business_date, currency, game_id, stripe, orphan_rollback_count)
       VALUES ($1, $2, 'EUR', 'g-1', 0, 2)`,
      [p.id, yesterday],
    );

    const result = await scan();
    expect(Object.values(result.detectors).filter((d: any) => 'failed' in d)).toEqual([]);
    const kinds = await stack.db.pool.query<{
      kind: string;
      severity: string;
      disclosure: string;
      title: string;
    }>(
      `SELECT kind, severity, disclosure, title FROM alerts WHERE partner_id = $1 AND state = 'active' ORDER BY kind`,
      [p.id],
    );
    expect(kinds.rows.map((r) => [r.kind, r.severity, r.disclosure])).toEqual([
      ['big_win_after_payout', 'critical', 'integrity'],
      ['duplicate_rate', 'warning', 'integrity'],
      ['fx_move', 'warning', 'integrity'],
      ['late_report', 'warning', 'operational'],
      ['orphan_rollbacks', 'warning', 'integrity'],
      ['stale_transactions', 'warning', 'integrity'],
    ]);
    const title = (kind: string) => kinds.rows.find((r) => r.kind === kind)!.title;
    expect(title('big_win_after_payout')).toContain(`held after period ${yesterday}..${yesterday} was paid`);
    expect(title('fx_move')).toContain('moved 10.0000%');
    expect(title('late_report')).toContain('Provider report for 2026-01-05..2026-01-05 late');
    // Each evidence query runs and returns what the alert says.
    for (const key of [
      `fx_move:${cycle(yesterday)}:USD/EUR`,
      `duplicate_rate:${p.id}`,
      `late_report:${cycle('2026-01-05')}`,
    ]) {
      const [a] = await alertsOf(key);
      const { rows } = await stack.db.pool.query(a!.evidence.query as string);
      expect({ key, rows: rows.length }).toEqual({ key, rows: 1 });
    }
    // The partner sees the late report, and nothing else of these.
    const own = await stack.api('/v1/alerts', { token: p.key });
    expect(own.body.alerts.map((a: { kind: string }) => a.kind)).toEqual(['late_report']);
  });
});

describe('the operations webhook', () => {
  let server: Server;
  let received: { headers: IncomingHttpHeaders; body: string }[] = [];
  let failing = true;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.statusCode = failing ? 503 : 204;
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('POSTs each new alert once, signed; a failure is retried by the next scan, never thrown', async () => {
    const secret = 'whsec_watch_test_secret';
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`;
    const watch = watchActivities({
      db: stack.db.appPool,
      config: { ...stack.config, watch: { ...stack.config.watch, opsWebhook: { url, secret } } },
    });
    const down = await watch.scanWatch({ now: NOW.toISOString() });
    expect(down).toMatchObject({ notified: 0, notifyFailed: 1 });
    expect(received).toHaveLength(1);
    const { rows: pending } = await stack.db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM alerts WHERE notified_at IS NULL',
    );
    expect(pending[0]!.n).toBeGreaterThan(3);

    failing = false;
    received = [];
    const up = await watch.scanWatch({ now: NOW.toISOString() });
    expect(up).toMatchObject({ notified: pending[0]!.n, notifyFailed: 0 });
    expect(received).toHaveLength(pending[0]!.n);
    const now = Math.floor(Date.now() / 1000);
    for (const r of received) {
      const signed = {
        timestamp: r.headers[TIMESTAMP_HEADER] as string,
        signature: r.headers[SIGNATURE_HEADER] as string,
      };
      expect(verifyWebhook(secret, signed, r.body, now)).toBe(true);
      expect(verifyWebhook('whsec_another', signed, r.body, now)).toBe(false);
    }
    const kinds = received.map((r) => (JSON.parse(r.body) as { alert: { kind: string } }).alert.kind);
    expect(kinds).toEqual(
      expect.arrayContaining(['rtp_drift', 'volume_spike', 'volume_silence', 'late_report']),
    );
    expect(JSON.parse(received[0]!.body)).toMatchObject({
      type: 'clearhouse.alert',
      alert: { evidence: { query: expect.stringMatching(/^SELECT/) as string } },
    });

    received = [];
    expect(await watch.scanWatch({ now: NOW.toISOString() })).toMatchObject({ notified: 0 });
    expect(received).toEqual([]);
  });
});

describe('reference rates', () => {
  it("fetches today's rate of each pair in play once, from the FX service, and keeps it", async () => {
    const asked: string[] = [];
    const fx = createServer((req, res) => {
      asked.push(req.url ?? '');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ rate: '0.9234', source: 'test-fx', asOf: new Date().toISOString() }));
    });
    await new Promise<void>((resolve) => fx.listen(0, '127.0.0.1', resolve));
    try {
      const p = await partner('fx');
      await stack.db.pool.query(
        `INSERT INTO activity_hours (partner_id, hour, currency, stripe, tx_count) VALUES ($1, date_trunc('hour', $2::timestamptz), 'USD', 0, 1)`,
        [p.id, NOW],
      );
      const watch = watchActivities({
        db: stack.db.appPool,
        config: stack.config,
        fxRatesUrl: `http://127.0.0.1:${(fx.address() as AddressInfo).port}`,
      });
      expect((await watch.scanWatch({ now: NOW.toISOString() })).referenceRates).toEqual({
        pairs: 1,
        stored: 1,
        failed: 0,
      });
      expect(asked).toEqual(['/rates?base=USD&quote=EUR']);
      const { rows } = await stack.db.pool.query(
        `SELECT from_ccy, to_ccy, day::text, rate::text, source FROM fx_reference_rates`,
      );
      expect(rows).toEqual([
        { from_ccy: 'USD', to_ccy: 'EUR', day: TODAY, rate: '0.9234', source: 'test-fx' },
      ]);
      // Known for today: not asked again.
      expect((await watch.scanWatch({ now: NOW.toISOString() })).referenceRates).toEqual({
        pairs: 1,
        stored: 0,
        failed: 0,
      });
      expect(asked).toHaveLength(1);
    } finally {
      await new Promise((resolve) => fx.close(resolve));
    }
  });
});

describe('the watch scan Schedule', () => {
  it('runs the scan as a workflow, and is created every WATCH_SCAN_SECONDS with overlap SKIP', async () => {
    const result = await stack.temporal.workflow.execute('watchScan', {
      taskQueue: taskQueue(stack.config, 'settlement'),
      workflowId: uniqueId('watch-scan'),
      args: [{ now: NOW.toISOString() }],
    });
    expect(result).toMatchObject({
      at: NOW.toISOString(),
      detectors: { rtp: { found: 1 }, volume: { found: 2 } },
      raised: 0,
      resolved: 0,
    });

    expect(stack.config.watch.scanSeconds).toBe(60);
    await upsertWatchScanSchedule(stack.temporal, stack.config, 30);
    await upsertWatchScanSchedule(stack.temporal, stack.config, 30); // again: an update
    const handle = stack.temporal.schedule.getHandle(watchScanScheduleId(stack.config));
    try {
      const d = await handle.describe();
      expect(d.action).toMatchObject({ type: 'startWorkflow', workflowType: 'watchScan' });
      expect(d.spec.intervals?.[0]?.every).toBe(30_000);
      expect(d.policies.overlap).toBe('SKIP');
    } finally {
      await handle.delete();
    }
  });
});
