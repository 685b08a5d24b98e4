import type pg from 'pg';
import { ConflictError } from '../domain/errors';
import { samePartner, type NewPartner, type Partner } from '../domain/partner';
import { partnerSecret, type StoredSecret } from '../platform/secrets';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

interface PartnerRow {
  id: string;
  name: string;
  kind: Partner['kind'];
  timezone: string;
  settlement_currency: string;
  status: Partner['status'];
  created_at: Date;
  activated_at: Date | null;
}

function toPartner(r: PartnerRow): Partner {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    timezone: r.timezone,
    settlementCurrency: r.settlement_currency,
    status: r.status,
    createdAt: r.created_at.toISOString(),
    activatedAt: r.activated_at ? r.activated_at.toISOString() : null,
  };
}

export async function getPartner(db: Queryable, id: string): Promise<Partner | null> {
  const { rows } = await db.query<PartnerRow>('SELECT * FROM partners WHERE id = $1', [id]);
  return rows[0] ? toPartner(rows[0]) : null;
}

/** Partners by id, optionally matching `q` in id or name, a status and a kind; after `afterId`. */
export async function listPartners(
  db: Queryable,
  filter: {
    q?: string | undefined;
    status?: Partner['status'] | undefined;
    kind?: Partner['kind'] | undefined;
  },
  afterId: string | null,
  limit: number,
): Promise<Partner[]> {
  const pattern = filter.q === undefined ? null : `%${filter.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const { rows } = await db.query<PartnerRow>(
    `SELECT * FROM partners
      WHERE ($1::text IS NULL OR id ILIKE $1 OR name ILIKE $1)
        AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR kind = $3)
        AND ($4::text IS NULL OR id > $4)
      ORDER BY id LIMIT $5`,
    [pattern, filter.status ?? null, filter.kind ?? null, afterId, limit],
  );
  return rows.map(toPartner);
}

/** Moves a partner from one status to another (a repeat is a no-op); returns the partner. */
export async function setPartnerStatus(
  db: Queryable,
  id: string,
  from: Partner['status'],
  to: Partner['status'],
): Promise<Partner> {
  await db.query('UPDATE partners SET status = $3 WHERE id = $1 AND status = $2', [id, from, to]);
  const stored = await getPartner(db, id);
  if (!stored) throw new Error(`partner ${id} not found`);
  return stored;
}

/**
 * Registers a partner. Running it again with the same content is a no-op that returns the
 * stored partner; the same id with different content is a conflict.
 */
export async function registerPartner(db: Queryable, p: NewPartner): Promise<Partner> {
  // A partner still onboarding (an earlier application rejected, expired or failed after it was
  // registered) takes the new application's details; an onboarded one is never taken over.
  await db.query(
    `INSERT INTO partners (id, name, kind, timezone, settlement_currency)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, timezone = EXCLUDED.timezone,
       settlement_currency = EXCLUDED.settlement_currency
     WHERE partners.status = 'onboarding'`,
    [p.id, p.name, p.kind, p.timezone, p.settlementCurrency],
  );
  const stored = await getPartner(db, p.id);
  if (!stored) throw new Error(`partner ${p.id} vanished after insert`);
  if (stored.status !== 'onboarding' && !samePartner(stored, p)) {
    throw new ConflictError(`partner ${p.id} already exists with different details`, [
      { path: 'id', message: 'already registered with different details' },
    ]);
  }
  return stored;
}

/** Idempotent per key id. */
export async function storeApiKeyHash(
  db: Queryable,
  partnerId: string,
  keyId: string,
  keyHash: Buffer,
): Promise<void> {
  const { rows } = await db.query<{ partner_id: string }>(
    `INSERT INTO partner_api_keys (key_id, partner_id, key_hash) VALUES ($1, $2, $3)
     ON CONFLICT (key_id) DO UPDATE SET key_id = EXCLUDED.key_id RETURNING partner_id`,
    [keyId, partnerId, keyHash],
  );
  if (rows[0]?.partner_id !== partnerId)
    throw new ConflictError(`api key ${keyId} belongs to another partner`);
}

export async function activatePartner(db: Queryable, id: string): Promise<Partner> {
  await db.query(
    `UPDATE partners SET status = 'active', activated_at = now() WHERE id = $1 AND status = 'onboarding'`,
    [id],
  );
  const stored = await getPartner(db, id);
  if (!stored) throw new Error(`partner ${id} not found`);
  return stored;
}

/**
 * Stores a key minted by the onboarding activity, and leaves its secret (sealed) for the API
 * to show once. Idempotent per key id: a retried activity finds its key and changes nothing.
 */
export async function storeIssuedApiKey(
  client: Queryable,
  partnerId: string,
  key: { keyId: string; hash: Buffer; secretSealed: string },
): Promise<void> {
  const { rows } = await client.query<{ partner_id: string }>(
    `INSERT INTO partner_api_keys (key_id, partner_id, key_hash) VALUES ($1, $2, $3)
     ON CONFLICT (key_id) DO NOTHING RETURNING partner_id`,
    [key.keyId, partnerId, key.hash],
  );
  if (rows.length === 0) {
    const { rows: stored } = await client.query<{ partner_id: string }>(
      'SELECT partner_id FROM partner_api_keys WHERE key_id = $1',
      [key.keyId],
    );
    if (stored[0]?.partner_id !== partnerId)
      throw new ConflictError(`api key ${key.keyId} belongs to another partner`);
    return;
  }
  // An earlier onboarding of this partner that never finished may have minted a key: only the
  // newest one counts.
  await client.query(
    `UPDATE partner_api_keys SET revoked_at = now()
      WHERE partner_id = $1 AND key_id <> $2 AND revoked_at IS NULL
        AND EXISTS (SELECT 1 FROM partners WHERE id = $1 AND status = 'onboarding')`,
    [partnerId, key.keyId],
  );
  await client.query(
    `INSERT INTO partner_credential_pickups (partner_id, key_id, secret_sealed) VALUES ($1, $2, $3)
     ON CONFLICT (partner_id) DO UPDATE SET key_id = EXCLUDED.key_id, secret_sealed = EXCLUDED.secret_sealed,
       created_at = now()`,
    [partnerId, key.keyId, key.secretSealed],
  );
}

/** How long a minted key waits for the API to show it before it can no longer be picked up. */
const PICKUP_TTL = '1 hour';

/** Takes the key the onboarding minted, once: the first reader gets it, the row is gone. */
export async function claimIssuedApiKey(
  db: Queryable,
  partnerId: string,
): Promise<{ keyId: string; secretSealed: StoredSecret } | null> {
  const { rows } = await db.query<{ key_id: string; secret_sealed: string; fresh: boolean }>(
    `DELETE FROM partner_credential_pickups WHERE partner_id = $1
     RETURNING key_id, secret_sealed, created_at > now() - interval '${PICKUP_TTL}' AS fresh`,
    [partnerId],
  );
  const r = rows[0];
  return r && r.fresh
    ? {
        keyId: r.key_id,
        secretSealed: { sealed: r.secret_sealed, context: partnerSecret(partnerId, 'api-key-pickup') },
      }
    : null;
}

/**
 * Rotates a partner's key: the new key works at once, every earlier one until `overlapSeconds`
 * from now (0: at once), and a key the onboarding left unread is discarded.
 */
export async function rotateApiKey(
  client: Queryable,
  partnerId: string,
  key: { keyId: string; hash: Buffer },
  overlapSeconds: number,
): Promise<{ previousExpireAt: string | null }> {
  // Rotations of one partner one at a time: each sees the keys the last one left.
  await client.query('SELECT 1 FROM partners WHERE id = $1 FOR UPDATE', [partnerId]);
  const { rows } = await client.query<{ expires_at: Date | null }>(
    `UPDATE partner_api_keys
        SET expires_at = LEAST(coalesce(expires_at, 'infinity'), now() + make_interval(secs => $2))
      WHERE partner_id = $1 AND revoked_at IS NULL
        AND (expires_at IS NULL OR expires_at > now())
      RETURNING expires_at`,
    [partnerId, overlapSeconds],
  );
  await client.query('DELETE FROM partner_credential_pickups WHERE partner_id = $1', [partnerId]);
  await client.query('INSERT INTO partner_api_keys (key_id, partner_id, key_hash) VALUES ($1, $2, $3)', [
    key.keyId,
    partnerId,
    key.hash,
  ]);
  const latest = rows.map((r) => r.expires_at!.getTime()).sort((a, b) => b - a)[0];
  return { previousExpireAt: latest === undefined ? null : new Date(latest).toISOString() };
}

/** A key that is neither revoked nor expired, of a partner past onboarding (active or suspended). */
export async function findActiveApiKey(
  db: Queryable,
  keyId: string,
): Promise<{ partnerId: string; keyHash: Buffer; suspended: boolean } | null> {
  const { rows } = await db.query<{ partner_id: string; key_hash: Buffer; status: string }>(
    `SELECT k.partner_id, k.key_hash, p.status FROM partner_api_keys k JOIN partners p ON p.id = k.partner_id
     WHERE k.key_id = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
       AND p.status IN ('active', 'suspended')`,
    [keyId],
  );
  const r = rows[0];
  return r ? { partnerId: r.partner_id, keyHash: r.key_hash, suspended: r.status === 'suspended' } : null;
}

/** Sets the partner's webhook URL and its (sealed) signing secret; one per partner. */
export async function upsertWebhook(
  db: Queryable,
  partnerId: string,
  url: string,
  secretSealed: string,
): Promise<void> {
  await db.query(
    `INSERT INTO partner_webhooks (partner_id, url, secret_sealed) VALUES ($1, $2, $3)
     ON CONFLICT (partner_id) DO UPDATE SET url = EXCLUDED.url, secret_sealed = EXCLUDED.secret_sealed, updated_at = now()`,
    [partnerId, url, secretSealed],
  );
}

export async function webhookOf(
  db: Queryable,
  partnerId: string,
): Promise<{ url: string; secretSealed: StoredSecret } | null> {
  const { rows } = await db.query<{ url: string; secret_sealed: string }>(
    'SELECT url, secret_sealed FROM partner_webhooks WHERE partner_id = $1',
    [partnerId],
  );
  // Opened only as this partner's webhook signing secret: a blob copied from another row does not open.
  return rows[0]
    ? {
        url: rows[0].url,
        secretSealed: { sealed: rows[0].secret_sealed, context: partnerSecret(partnerId, 'webhook-signing') },
      }
    : null;
}

/**
 * Records contract version 1 of an approved partner application (the onboarding activity), in
 * force at once: the application went through maker-checker (its maker is the application's
 * submitter, its checker the application's approver, both in the onboarding workflow and the
 * audit trail). Versions are immutable. True when stored now or already stored with the same
 * content (a retry), false when the version or date holds other content.
 */
export async function recordContractVersion(
  db: Queryable,
  c: { partnerId: string; version: number; effectiveFrom: string; terms: unknown },
): Promise<boolean> {
  const { rows } = await db.query<{ same: boolean }>(
    `WITH ins AS (
       INSERT INTO partner_contracts (partner_id, version, effective_from, terms, status, approved_through, approved_at)
       VALUES ($1, $2, $3, $4, 'approved', 'application', now())
       ON CONFLICT DO NOTHING RETURNING true AS same)
     SELECT same FROM ins
     UNION ALL
     SELECT effective_from = $3 AND terms = $4::jsonb AND status = 'approved' FROM partner_contracts
      WHERE partner_id = $1 AND version = $2 AND NOT EXISTS (SELECT 1 FROM ins)`,
    [c.partnerId, c.version, c.effectiveFrom, JSON.stringify(c.terms)],
  );
  return rows[0]?.same === true;
}

/** An actor as a contract stores it: the comparable key and the name shown beside it. */
export interface ContractActor {
  key: string;
  name: string;
}

export interface StoredContractVersion {
  partnerId: string;
  version: number;
  effectiveFrom: string;
  terms: unknown;
  status: 'proposed' | 'approved';
  approvedThrough: 'api' | 'application' | 'before-maker-checker' | null;
  proposedBy: ContractActor | null;
  proposedAt: string;
  approvedBy: ContractActor | null;
  approvedAt: string | null;
  /** Reaches back into settled periods on purpose (they change only through a restatement). */
  retroactive: boolean;
}

interface ContractRow {
  partner_id: string;
  version: number;
  effective_from: string;
  terms: unknown;
  status: 'proposed' | 'approved';
  approved_through: StoredContractVersion['approvedThrough'];
  proposed_by: string | null;
  proposed_by_name: string | null;
  approved_by: string | null;
  approved_by_name: string | null;
  created_at: Date;
  approved_at: Date | null;
  retroactive: boolean;
}

const CONTRACT_COLUMNS = `partner_id, version, effective_from::text AS effective_from, terms, status, approved_through,
  proposed_by, proposed_by_name, approved_by, approved_by_name, created_at, approved_at, retroactive`;

function toContractVersion(r: ContractRow): StoredContractVersion {
  const actor = (key: string | null, name: string | null) =>
    key === null ? null : { key, name: name ?? key };
  return {
    partnerId: r.partner_id,
    version: r.version,
    effectiveFrom: r.effective_from,
    terms: r.terms,
    status: r.status,
    approvedThrough: r.approved_through,
    proposedBy: actor(r.proposed_by, r.proposed_by_name),
    proposedAt: r.created_at.toISOString(),
    approvedBy: actor(r.approved_by, r.approved_by_name),
    approvedAt: r.approved_at?.toISOString() ?? null,
    retroactive: r.retroactive,
  };
}

/**
 * Proposes a contract version (maker): stored as `proposed`, not in force until another actor
 * approves it. 'same' when the version is already stored with the same date and terms (a
 * retry, whoever sent it), 'conflict' when the version or the date holds other content.
 */
export async function proposeContractVersion(
  db: Queryable,
  c: {
    partnerId: string;
    version: number;
    effectiveFrom: string;
    terms: unknown;
    proposedBy: ContractActor;
    retroactive?: boolean;
  },
): Promise<{ outcome: 'stored' | 'same' | 'conflict'; contract: StoredContractVersion | null }> {
  const retroactive = c.retroactive ?? false;
  const { rows } = await db.query<ContractRow>(
    `INSERT INTO partner_contracts (partner_id, version, effective_from, terms, proposed_by, proposed_by_name, retroactive)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT DO NOTHING RETURNING ${CONTRACT_COLUMNS}`,
    [
      c.partnerId,
      c.version,
      c.effectiveFrom,
      JSON.stringify(c.terms),
      c.proposedBy.key,
      c.proposedBy.name,
      retroactive,
    ],
  );
  if (rows[0]) return { outcome: 'stored', contract: toContractVersion(rows[0]) };
  const { rows: same } = await db.query<ContractRow & { same: boolean }>(
    `SELECT ${CONTRACT_COLUMNS}, effective_from = $3 AND terms = $4::jsonb AND retroactive = $5 AS same
       FROM partner_contracts WHERE partner_id = $1 AND version = $2`,
    [c.partnerId, c.version, c.effectiveFrom, JSON.stringify(c.terms), retroactive],
  );
  const stored = same[0];
  return stored?.same
    ? { outcome: 'same', contract: toContractVersion(stored) }
    : { outcome: 'conflict', contract: stored ? toContractVersion(stored) : null };
}

/**
 * Approves a proposed version (checker), when the checker is not its maker. Returns the
 * version as stored after the call: approved (now, or already), or unchanged (still proposed,
 * by the same actor: the caller refuses), or null when there is no such version.
 */
export async function approveContractVersion(
  db: Queryable,
  c: { partnerId: string; version: number; approvedBy: ContractActor },
): Promise<{ approvedNow: boolean; contract: StoredContractVersion | null }> {
  const { rows } = await db.query<ContractRow>(
    `UPDATE partner_contracts
        SET status = 'approved', approved_through = 'api', approved_by = $3, approved_by_name = $4, approved_at = now()
      WHERE partner_id = $1 AND version = $2 AND status = 'proposed' AND proposed_by IS DISTINCT FROM $3
      RETURNING ${CONTRACT_COLUMNS}`,
    [c.partnerId, c.version, c.approvedBy.key, c.approvedBy.name],
  );
  if (rows[0]) return { approvedNow: true, contract: toContractVersion(rows[0]) };
  return { approvedNow: false, contract: await contractVersionOf(db, c.partnerId, c.version) };
}

export async function contractVersionOf(
  db: Queryable,
  partnerId: string,
  version: number,
  lock = false,
): Promise<StoredContractVersion | null> {
  const { rows } = await db.query<ContractRow>(
    `SELECT ${CONTRACT_COLUMNS} FROM partner_contracts WHERE partner_id = $1 AND version = $2${lock ? ' FOR UPDATE' : ''}`,
    [partnerId, version],
  );
  return rows[0] ? toContractVersion(rows[0]) : null;
}

/** A partner's contract versions, proposed and approved, by version. */
export async function listContractVersions(
  db: Queryable,
  partnerId: string,
): Promise<StoredContractVersion[]> {
  const { rows } = await db.query<ContractRow>(
    `SELECT ${CONTRACT_COLUMNS} FROM partner_contracts WHERE partner_id = $1 ORDER BY version`,
    [partnerId],
  );
  return rows.map(toContractVersion);
}

/**
 * The latest period of the partner already frozen (a cycle past its cut-off: frozen, or in
 * any status after WaitingForCutoff but a failure before it froze) that ends on or after
 * `day`: a contract effective from `day` would change what that period settled on. Null if
 * none. Locks the partner's row, so concurrent proposals and approvals of one partner check
 * one after the other.
 */
export async function frozenPeriodFrom(
  db: Queryable,
  partnerId: string,
  day: string,
): Promise<{ cycleId: string; periodStart: string; periodEnd: string; status: string } | null> {
  await db.query('SELECT 1 FROM partners WHERE id = $1 FOR UPDATE', [partnerId]);
  const { rows } = await db.query<{ id: string; period_start: string; period_end: string; status: string }>(
    `SELECT id, period_start::text, period_end::text, status FROM settlement_cycles
      WHERE partner_id = $1 AND period_end >= $2
        AND (frozen_at IS NOT NULL OR status NOT IN ('WaitingForCutoff', 'Failed'))
      ORDER BY period_end DESC, id LIMIT 1`,
    [partnerId, day],
  );
  const r = rows[0];
  return r ? { cycleId: r.id, periodStart: r.period_start, periodEnd: r.period_end, status: r.status } : null;
}

/** Where and how a partner's provider report is fetched, as stored (credentials still sealed). */
export interface StoredProviderConnection {
  format: string;
  baseUrl: string;
  options: Record<string, unknown>;
  /** The header that carries the provider API's credential and its value, sealed (bound to this
   * partner as its provider credential); or none. */
  credentials: { header: string; sealed: StoredSecret } | null;
  /** This connection's own caps on what one cycle's report stores; null: the deployment's. */
  limits: ProviderReportLimits;
  updatedAt: string;
}

export interface ProviderReportLimits {
  maxRows: number | null;
  maxBytes: number | null;
}

interface ProviderConnectionRow {
  partner_id: string;
  format: string;
  base_url: string;
  options: Record<string, unknown>;
  credentials_header: string | null;
  credentials_sealed: string | null;
  // bigint arrives as text; the API bounds both well below 2^53.
  report_max_rows: string | null;
  report_max_bytes: string | null;
  updated_at: Date;
}

function toProviderConnection(r: ProviderConnectionRow): StoredProviderConnection {
  return {
    format: r.format,
    baseUrl: r.base_url,
    options: r.options,
    credentials:
      r.credentials_header !== null && r.credentials_sealed !== null
        ? {
            header: r.credentials_header,
            sealed: {
              sealed: r.credentials_sealed,
              context: partnerSecret(r.partner_id, 'provider-credential'),
            },
          }
        : null,
    limits: {
      maxRows: r.report_max_rows === null ? null : Number(r.report_max_rows),
      maxBytes: r.report_max_bytes === null ? null : Number(r.report_max_bytes),
    },
    updatedAt: r.updated_at.toISOString(),
  };
}

const PROVIDER_CONNECTION_COLUMNS =
  'partner_id, format, base_url, options, credentials_header, credentials_sealed, report_max_rows, report_max_bytes, updated_at';

/**
 * Sets the partner's provider connection, replacing the whole of it: no credentials given
 * means none kept, and limits given (even empty) replace the stored ones; limits left out
 * keep them. One per partner; repeating the same call leaves the same connection.
 */
export async function upsertProviderConnection(
  db: Queryable,
  partnerId: string,
  c: Omit<StoredProviderConnection, 'updatedAt' | 'limits' | 'credentials'> & {
    /** The credential sealed for this partner's `provider-credential`. */
    credentials: { header: string; sealed: string } | null;
    limits?: ProviderReportLimits;
  },
): Promise<StoredProviderConnection> {
  const { rows } = await db.query<ProviderConnectionRow>(
    `INSERT INTO partner_providers (partner_id, format, base_url, options, credentials_header, credentials_sealed,
                                    report_max_rows, report_max_bytes)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (partner_id) DO UPDATE SET format = EXCLUDED.format, base_url = EXCLUDED.base_url,
       options = EXCLUDED.options, credentials_header = EXCLUDED.credentials_header,
       credentials_sealed = EXCLUDED.credentials_sealed,
       report_max_rows = CASE WHEN $9 THEN EXCLUDED.report_max_rows ELSE partner_providers.report_max_rows END,
       report_max_bytes = CASE WHEN $9 THEN EXCLUDED.report_max_bytes ELSE partner_providers.report_max_bytes END,
       updated_at = now()
     RETURNING ${PROVIDER_CONNECTION_COLUMNS}`,
    [
      partnerId,
      c.format,
      c.baseUrl,
      JSON.stringify(c.options),
      c.credentials?.header ?? null,
      c.credentials?.sealed ?? null,
      c.limits?.maxRows ?? null,
      c.limits?.maxBytes ?? null,
      // Without limits (an onboarding's activation, run again after an operator's PUT), the
      // stored ones stay: only the PUT, which always says them, sets or clears them.
      c.limits !== undefined,
    ],
  );
  return toProviderConnection(rows[0]!);
}

export async function providerConnectionOf(
  db: Queryable,
  partnerId: string,
): Promise<StoredProviderConnection | null> {
  const { rows } = await db.query<ProviderConnectionRow>(
    `SELECT ${PROVIDER_CONNECTION_COLUMNS} FROM partner_providers WHERE partner_id = $1`,
    [partnerId],
  );
  return rows[0] ? toProviderConnection(rows[0]) : null;
}
