import { storeApiKeyHash } from '../db/partners';
import { effectiveBigWinSettings } from '../db/watch';
import { issueApiKey } from '../platform/credentials';
import { uniqueId } from './support/env';
import { startStack, type Stack } from './support/stack';

// The canonical game catalogue through the API: versions only when the maths-sheet figures
// change, every figure validated by name, each partner's game ids mapped (an unknown canonical
// game named by index), a partner reading its own mappings without operators' names; and the
// big-win limits per partner over the production defaults.

let stack: Stack;
const partners: { id: string; key: string }[] = [];

/** An active partner straight in the database (onboarding is not what this file tests), with its key. */
async function partner(currency = 'EUR'): Promise<{ id: string; key: string }> {
  const id = uniqueId('cat');
  await stack.db.pool.query(
    `INSERT INTO partners (id, name, kind, timezone, settlement_currency, status, activated_at)
     VALUES ($1, 'Catalogue Test', 'provider', 'UTC', $2, 'active', now())`,
    [id, currency],
  );
  const key = issueApiKey();
  await storeApiKeyHash(stack.db.pool, id, key.keyId, key.hash);
  return { id, key: key.plaintext };
}

beforeAll(async () => {
  stack = await startStack({ workers: false });
  partners.push(await partner(), await partner(), await partner('JPY'));
}, 60_000);
afterAll(async () => {
  await stack?.close();
});

const figures = { theoreticalRtp: '0.9612', stdDev: '10.5', jackpotContributionRate: '0.01' };

describe('the canonical game catalogue', () => {
  it('versions the figures only when they change, and lists games with their latest', async () => {
    const admin = await stack.tokenFor('carla-catalogue', 'admin');
    const created = await stack.api('/v1/canonical-games/book-of-gold', {
      method: 'PUT',
      body: { name: 'Book of Gold', studio: 'Sunrise', ...figures, source: 'maths sheet v1' },
      token: admin,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      created: true,
      versionAdded: true,
      game: {
        id: 'book-of-gold',
        name: 'Book of Gold',
        studio: 'Sunrise',
        latest: {
          version: 1,
          ...figures,
          source: 'maths sheet v1',
          recordedBy: 'clearhouse#carla-catalogue',
        },
        mappings: 0,
      },
    });
    // The same figures (written differently), no source: no version; the name changes in place.
    const same = await stack.api('/v1/canonical-games/book-of-gold', {
      method: 'PUT',
      body: { name: 'Book of Gold Deluxe', studio: 'Sunrise', ...figures, theoreticalRtp: '0.96120' },
      token: admin,
    });
    expect(same.status).toBe(200);
    expect(same.body).toMatchObject({
      created: false,
      versionAdded: false,
      game: { name: 'Book of Gold Deluxe' },
    });
    expect(same.body.game.latest).toMatchObject({ version: 1, source: 'maths sheet v1' });
    // A new figure: version 2, version 1 kept.
    const changed = await stack.api('/v1/canonical-games/book-of-gold', {
      method: 'PUT',
      body: { name: 'Book of Gold Deluxe', ...figures, stdDev: '11', source: 'maths sheet v2' },
      token: admin,
    });
    expect(changed.body).toMatchObject({
      versionAdded: true,
      game: { latest: { version: 2, stdDev: '11' } },
    });
    const again = await stack.api('/v1/canonical-games/book-of-gold', {
      method: 'PUT',
      body: { name: 'Book of Gold Deluxe', ...figures, stdDev: '11.0' },
      token: admin,
    });
    expect(again.body.versionAdded).toBe(false);

    const detail = await stack.api('/v1/canonical-games/book-of-gold');
    expect(detail.status).toBe(200);
    expect(
      detail.body.versions.map((v: { version: number; stdDev: string }) => [v.version, v.stdDev]),
    ).toEqual([
      [2, '11'],
      [1, '10.5'],
    ]);
    expect((await stack.api('/v1/canonical-games/no-such-game')).status).toBe(404);

    await stack.api('/v1/canonical-games/aviator.x', {
      method: 'PUT',
      body: { name: 'Aviator', theoreticalRtp: '0.97', stdDev: '3' },
      token: admin,
    });
    const first = await stack.api('/v1/canonical-games?limit=1');
    expect(first.body.games.map((g: { id: string }) => g.id)).toEqual(['aviator.x']);
    expect(first.body.games[0].latest.jackpotContributionRate).toBe('0');
    const second = await stack.api(`/v1/canonical-games?limit=1&cursor=${first.body.nextCursor}`);
    expect(second.body).toMatchObject({ games: [{ id: 'book-of-gold' }], nextCursor: null });

    // Every write audited by the route, with who made it.
    const { rows } = await stack.db.pool.query<{ actor: string }>(
      `SELECT actor FROM audit_events WHERE action = 'PUT /v1/canonical-games/{id}' AND target = '/v1/canonical-games/book-of-gold'`,
    );
    expect(rows.map((r) => r.actor)).toEqual(Array(4).fill('clearhouse#carla-catalogue'));
  });

  it('refuses figures out of range by name, a bad id, and a caller without the admin role', async () => {
    const put = (body: Record<string, unknown>, id = 'range-test', token?: string) =>
      stack.api(`/v1/canonical-games/${id}`, {
        method: 'PUT',
        body: { name: 'Range', ...body },
        ...(token ? { token } : {}),
      });
    const refused = async (body: Record<string, unknown>, path: string) => {
      const res = await put({ ...figures, ...body });
      expect({
        status: res.status,
        paths: (res.body.error.details as { path: string }[]).map((d) => d.path),
      }).toEqual({
        status: 422,
        paths: [path],
      });
    };
    await refused({ theoreticalRtp: '2' }, 'theoreticalRtp');
    await refused({ theoreticalRtp: '0.0' }, 'theoreticalRtp');
    await refused({ theoreticalRtp: 0.96 }, 'theoreticalRtp');
    await refused({ stdDev: '0' }, 'stdDev');
    await refused({ stdDev: '-1' }, 'stdDev');
    await refused({ jackpotContributionRate: '1' }, 'jackpotContributionRate');
    await refused({ theoreticalRtp: '0.5', jackpotContributionRate: '0.5' }, 'jackpotContributionRate');
    expect((await put(figures, 'Not-Lower')).status).toBe(400);
    const viewer = await stack.tokenFor('vic-viewer', 'viewer');
    expect((await put(figures, 'range-test', viewer)).status).toBe(403);
    expect((await stack.api('/v1/canonical-games/range-test')).status).toBe(404);
  });

  it("maps a partner's game ids, naming an unknown canonical game by index; a partner reads its own", async () => {
    const [a, b] = partners as [{ id: string; key: string }, { id: string; key: string }];
    const path = `/v1/partners/${a.id}/game-mappings`;
    const unknown = await stack.api(path, {
      method: 'PUT',
      body: {
        mappings: [
          { gameId: 'bog-eu', canonicalId: 'book-of-gold' },
          { gameId: 'mystery', canonicalId: 'not-in-catalogue' },
        ],
      },
    });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.details).toEqual([
      { path: 'mappings.1.canonicalId', message: 'no canonical game not-in-catalogue' },
    ]);
    const twice = await stack.api(path, {
      method: 'PUT',
      body: {
        mappings: [
          { gameId: 'bog-eu', canonicalId: 'book-of-gold' },
          { gameId: 'bog-eu', canonicalId: 'aviator.x' },
        ],
      },
    });
    expect(twice.body.error.details[0].path).toBe('mappings.1.gameId');

    const mappings = [
      { gameId: 'bog-eu', canonicalId: 'book-of-gold' },
      { gameId: 'avi-1', canonicalId: 'aviator.x' },
    ];
    const stored = await stack.api(path, { method: 'PUT', body: { mappings } });
    expect(stored.body).toEqual({ partnerId: a.id, mapped: 2, unmapped: 0, unchanged: 0 });
    expect((await stack.api(path, { method: 'PUT', body: { mappings } })).body).toMatchObject({
      mapped: 0,
      unchanged: 2,
    });
    expect(
      (await stack.api(path, { method: 'PUT', body: { mappings: [{ gameId: 'avi-1', canonicalId: null }] } }))
        .body,
    ).toMatchObject({ unmapped: 1 });
    expect(
      (await stack.api(`/v1/partners/nobody-here/game-mappings`, { method: 'PUT', body: { mappings } }))
        .status,
    ).toBe(404);

    const operatorView = await stack.api(path);
    expect(operatorView.body).toEqual({
      mappings: [
        {
          gameId: 'bog-eu',
          canonicalId: 'book-of-gold',
          canonicalName: 'Book of Gold Deluxe',
          mappedBy: 'bootstrap-admin',
          mappedAt: expect.any(String) as string,
        },
      ],
      nextCursor: null,
    });
    const own = await stack.api(path, { token: a.key });
    expect(own.status).toBe(200);
    expect(own.body.mappings).toEqual([
      {
        gameId: 'bog-eu',
        canonicalId: 'book-of-gold',
        canonicalName: 'Book of Gold Deluxe',
        mappedAt: expect.any(String),
      },
    ]);
    expect((await stack.api(path, { token: b.key })).status).toBe(404);
    expect((await stack.api('/v1/canonical-games/book-of-gold')).body.mapped).toEqual([
      expect.objectContaining({ partnerId: a.id, gameId: 'bog-eu' }),
    ]);
  });

  it('keeps big-win limits per partner over the production defaults, in the settlement currency', async () => {
    const [a, , yen] = partners as [{ id: string }, unknown, { id: string }];
    const path = `/v1/partners/${a.id}/watch-settings`;
    expect((await stack.api(path)).body).toEqual({
      partnerId: a.id,
      settlementCurrency: 'EUR',
      own: { bigWinAmount: null, bigWinMultiple: null, updatedBy: null, updatedAt: null },
      effective: {
        bigWinAmount: '40000.00',
        bigWinMultiple: '350',
        amountSource: 'default',
        multipleSource: 'default',
      },
    });
    const set = await stack.api(path, { method: 'PUT', body: { bigWinAmount: '25000.50' } });
    expect(set.status).toBe(200);
    expect(set.body.effective).toEqual({
      bigWinAmount: '25000.50',
      bigWinMultiple: '350',
      amountSource: 'partner',
      multipleSource: 'default',
    });
    // What the ingest path calls.
    expect(await effectiveBigWinSettings(stack.db.appPool, stack.config, a.id)).toEqual({
      settlementCurrency: 'EUR',
      scale: 2,
      absoluteMinor: 2_500_050n,
      multiple: '350',
      amountSource: 'partner',
      multipleSource: 'default',
    });
    // Well-formed, but more decimals than the partner's settlement currency has: a conflict with what is stored.
    const cents = await stack.api(path, { method: 'PUT', body: { bigWinAmount: '1.234' } });
    expect(cents.status).toBe(409);
    expect(cents.body.error.details).toEqual([
      { path: 'bigWinAmount', message: 'has more than 2 decimal places for EUR' },
    ]);
    expect((await stack.api(path, { method: 'PUT', body: { bigWinAmount: '0.00' } })).status).toBe(422);
    expect((await stack.api(path, { method: 'PUT', body: { bigWinMultiple: '0' } })).status).toBe(422);
    // Absent means the default again.
    expect(
      (await stack.api(path, { method: 'PUT', body: { bigWinMultiple: '500.5' } })).body.effective,
    ).toMatchObject({
      bigWinAmount: '40000.00',
      bigWinMultiple: '500.5',
      amountSource: 'default',
    });
    // A currency without decimals: the default in its own minor units.
    expect(await effectiveBigWinSettings(stack.db.appPool, stack.config, yen.id)).toMatchObject({
      settlementCurrency: 'JPY',
      absoluteMinor: 40_000n,
    });
    expect((await stack.api('/v1/partners/nobody-here/watch-settings')).status).toBe(404);
    const viewer = await stack.tokenFor('vic-viewer', 'viewer');
    expect((await stack.api(path, { method: 'PUT', body: {}, token: viewer })).status).toBe(403);
  });
});
