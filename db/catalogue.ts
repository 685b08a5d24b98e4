import type pg from 'pg';
import { withTransaction } from './retry';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

// The canonical game catalogue (DOMAIN.md, "Watching the money"): one identity per game across
// partners, its maths-sheet figures versioned (append-only: a new version never rewrites an old
// one, and detection reads the latest), and each partner's own game ids mapped to it.

/** The figures a version records. Decimal strings, exactly as stored. */
export interface GameFigures {
  theoreticalRtp: string;
  stdDev: string;
  jackpotContributionRate: string;
  source: string | null;
}

export interface GameVersion extends GameFigures {
  version: number;
  recordedBy: string;
  recordedAt: string;
}

export interface CanonicalGame {
  id: string;
  name: string;
  studio: string | null;
  createdAt: string;
  latest: GameVersion;
  /** How many partner game ids map to it. */
  mappings: number;
}

interface VersionRow {
  version: number;
  theoretical_rtp: string;
  std_dev: string;
  jackpot_contribution_rate: string;
  source: string | null;
  recorded_by: string;
  recorded_at: Date;
}

function toVersion(r: VersionRow): GameVersion {
  return {
    version: r.version,
    theoreticalRtp: r.theoretical_rtp,
    stdDev: r.std_dev,
    jackpotContributionRate: r.jackpot_contribution_rate,
    source: r.source,
    recordedBy: r.recorded_by,
    recordedAt: r.recorded_at.toISOString(),
  };
}

const GAME_SELECT = `
  SELECT g.id, g.name, g.studio, g.created_at,
         v.version, v.theoretical_rtp::text, v.std_dev::text, v.jackpot_contribution_rate::text, v.source,
         v.recorded_by, v.recorded_at,
         (SELECT count(*)::int FROM partner_game_map m WHERE m.canonical_id = g.id) AS mappings
    FROM canonical_games g
    CROSS JOIN LATERAL (SELECT * FROM canonical_game_versions cv WHERE cv.game_id = g.id
                         ORDER BY cv.version DESC LIMIT 1) v`;

type GameRow = VersionRow & {
  id: string;
  name: string;
  studio: string | null;
  created_at: Date;
  mappings: number;
};

function toGame(r: GameRow): CanonicalGame {
  return {
    id: r.id,
    name: r.name,
    studio: r.studio,
    createdAt: r.created_at.toISOString(),
    latest: toVersion(r),
    mappings: r.mappings,
  };
}

/**
 * Records a game's name and figures. A new version only when a figure differs from the latest
 * (compared as numbers: "0.96" and "0.960" are one figure), or a source is given that differs;
 * otherwise the call changes at most the name and studio and answers `versionAdded: false`.
 */
export async function putCanonicalGame(
  db: pg.Pool,
  g: {
    id: string;
    name: string;
    studio: string | null;
    theoreticalRtp: string;
    stdDev: string;
    jackpotContributionRate: string;
    /** undefined: keep the latest version's source when the figures are unchanged. */
    source: string | null | undefined;
  },
  recordedBy: string,
): Promise<{ game: CanonicalGame; created: boolean; versionAdded: boolean }> {
  return withTransaction(
    db,
    async (tx) => {
      const upsert = await tx.query<{ created: boolean }>(
        `INSERT INTO canonical_games (id, name, studio) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, studio = EXCLUDED.studio
         RETURNING (xmax = 0) AS created`,
        [g.id, g.name, g.studio],
      );
      // Serialises versions of one game (the upsert above holds its row lock until commit).
      const { rows } = await tx.query<{ version: number; same: boolean }>(
        `SELECT version,
                theoretical_rtp = $2::numeric AND std_dev = $3::numeric AND jackpot_contribution_rate = $4::numeric
                  AND ($5::text IS NULL OR source IS NOT DISTINCT FROM $5) AS same
           FROM canonical_game_versions WHERE game_id = $1 ORDER BY version DESC LIMIT 1`,
        [g.id, g.theoreticalRtp, g.stdDev, g.jackpotContributionRate, g.source ?? null],
      );
      const latest = rows[0];
      const versionAdded = !latest?.same;
      if (versionAdded)
        await tx.query(
          `INSERT INTO canonical_game_versions (game_id, version, theoretical_rtp, std_dev, jackpot_contribution_rate,
                                               source, recorded_by)
           VALUES ($1, $2, $3::numeric, $4::numeric, $5::numeric, $6, $7)`,
          [
            g.id,
            (latest?.version ?? 0) + 1,
            g.theoreticalRtp,
            g.stdDev,
            g.jackpotContributionRate,
            g.source ?? null,
            recordedBy,
          ],
        );
      const game = await tx.query<GameRow>(`${GAME_SELECT} WHERE g.id = $1`, [g.id]);
      return { game: toGame(game.rows[0]!), created: upsert.rows[0]!.created, versionAdded };
    },
    { retryUniqueViolation: true },
  );
}

/** Games by id, each with its latest version, after `after`. */
export async function listCanonicalGames(
  db: Queryable,
  page: { after: string | null; limit: number },
): Promise<CanonicalGame[]> {
  const { rows } = await db.query<GameRow>(
    `${GAME_SELECT} WHERE ($1::text IS NULL OR g.id > $1) ORDER BY g.id LIMIT $2`,
    [page.after, page.limit],
  );
  return rows.map(toGame);
}

/** A game with every version (newest first) and the partner game ids mapped to it (at most `maxMappings`). */
export async function getCanonicalGame(
  db: Queryable,
  id: string,
  maxMappings: number,
): Promise<
  | (CanonicalGame & {
      versions: GameVersion[];
      mapped: { partnerId: string; gameId: string; mappedBy: string; mappedAt: string }[];
    })
  | null
> {
  const { rows } = await db.query<GameRow>(`${GAME_SELECT} WHERE g.id = $1`, [id]);
  if (!rows[0]) return null;
  const versions = await db.query<VersionRow>(
    `SELECT version, theoretical_rtp::text, std_dev::text, jackpot_contribution_rate::text, source, recorded_by, recorded_at
       FROM canonical_game_versions WHERE game_id = $1 ORDER BY version DESC`,
    [id],
  );
  const mapped = await db.query<{ partner_id: string; game_id: string; mapped_by: string; mapped_at: Date }>(
    `SELECT partner_id, game_id, mapped_by, mapped_at FROM partner_game_map WHERE canonical_id = $1
      ORDER BY partner_id, game_id LIMIT $2`,
    [id, maxMappings],
  );
  return {
    ...toGame(rows[0]),
    versions: versions.rows.map(toVersion),
    mapped: mapped.rows.map((m) => ({
      partnerId: m.partner_id,
      gameId: m.game_id,
      mappedBy: m.mapped_by,
      mappedAt: m.mapped_at.toISOString(),
    })),
  };
}

/** Which of these canonical ids exist. */
export async function existingCanonicalIds(db: Queryable, ids: string[]): Promise<Set<string>> {
  const { rows } = await db.query<{ id: string }>(
    'SELECT id FROM canonical_games WHERE id = ANY ($1::text[])',
    [[...new Set(ids)]],
  );
  return new Set(rows.map((r) => r.id));
}

/**
 * Maps a partner's game ids to canonical games (null removes a mapping); other mappings are
 * unchanged. Returns how many rows changed. The caller checked that every canonical id exists.
 */
export async function putGameMappings(
  db: pg.Pool,
  partnerId: string,
  mappings: { gameId: string; canonicalId: string | null }[],
  mappedBy: string,
): Promise<{ mapped: number; unmapped: number }> {
  const set = mappings.filter((m) => m.canonicalId !== null);
  const unset = mappings.filter((m) => m.canonicalId === null).map((m) => m.gameId);
  return withTransaction(
    db,
    async (tx) => {
      const mapped = await tx.query(
        `INSERT INTO partner_game_map (partner_id, game_id, canonical_id, mapped_by)
         SELECT $1, m.game_id, m.canonical_id, $4 FROM unnest($2::text[], $3::text[]) AS m(game_id, canonical_id)
          ORDER BY m.game_id
         ON CONFLICT (partner_id, game_id) DO UPDATE
           SET canonical_id = EXCLUDED.canonical_id, mapped_by = EXCLUDED.mapped_by, mapped_at = now()
         WHERE partner_game_map.canonical_id <> EXCLUDED.canonical_id`,
        [partnerId, set.map((m) => m.gameId), set.map((m) => m.canonicalId), mappedBy],
      );
      const unmapped = await tx.query(
        'DELETE FROM partner_game_map WHERE partner_id = $1 AND game_id = ANY ($2::text[])',
        [partnerId, unset],
      );
      return { mapped: mapped.rowCount ?? 0, unmapped: unmapped.rowCount ?? 0 };
    },
    { retryUniqueViolation: true },
  );
}

export interface GameMapping {
  gameId: string;
  canonicalId: string;
  canonicalName: string;
  mappedBy: string;
  mappedAt: string;
}

/** A partner's mappings by game id, after `after`. */
export async function listGameMappings(
  db: Queryable,
  partnerId: string,
  page: { after: string | null; limit: number },
): Promise<GameMapping[]> {
  const { rows } = await db.query<{
    game_id: string;
    canonical_id: string;
    name: string;
    mapped_by: string;
    mapped_at: Date;
  }>(
    `SELECT m.game_id, m.canonical_id, g.name, m.mapped_by, m.mapped_at
       FROM partner_game_map m JOIN canonical_games g ON g.id = m.canonical_id
      WHERE m.partner_id = $1 AND ($2::text IS NULL OR m.game_id > $2)
      ORDER BY m.game_id LIMIT $3`,
    [partnerId, page.after, page.limit],
  );
  return rows.map((r) => ({
    gameId: r.game_id,
    canonicalId: r.canonical_id,
    canonicalName: r.name,
    mappedBy: r.mapped_by,
    mappedAt: r.mapped_at.toISOString(),
  }));
}
