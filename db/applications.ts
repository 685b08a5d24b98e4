import type pg from 'pg';
import type { ApplicantDetails, PartnerApplication } from '../domain/onboarding';
import { partnerSecret, type StoredSecret } from '../platform/secrets';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/**
 * A partner application as the API stored it (db/migrations/…18000): the onboarding workflow
 * carries only its id, and its activities read everything else here. The provider credential
 * stays sealed (bound to `partner:<id>` as its `provider-credential`).
 */
export interface StoredApplication {
  id: string;
  workflowId: string;
  /** The onboarding run that claimed it; null until its first activity. */
  runId: string | null;
  submittedBy: string;
  application: Omit<PartnerApplication, 'providerConnection'> & {
    providerConnection: {
      format: string;
      baseUrl: string;
      options: Record<string, unknown>;
      credentials: { header: string; sealed: StoredSecret } | null;
    } | null;
  };
}

interface ApplicationRow {
  id: string;
  partner_id: string;
  workflow_id: string;
  run_id: string | null;
  submitted_by: string;
  name: string;
  kind: PartnerApplication['partner']['kind'];
  timezone: string;
  settlement_currency: string;
  details: ApplicantDetails;
  webhook_url: string | null;
  provider_connection: { format: string; baseUrl: string; options: Record<string, unknown> } | null;
  credentials_header: string | null;
  credentials_sealed: string | null;
  contract: PartnerApplication['contract'];
}

function toApplication(r: ApplicationRow): StoredApplication {
  const pc = r.provider_connection;
  return {
    id: r.id,
    workflowId: r.workflow_id,
    runId: r.run_id,
    submittedBy: r.submitted_by,
    application: {
      partner: {
        id: r.partner_id,
        name: r.name,
        kind: r.kind,
        timezone: r.timezone,
        settlementCurrency: r.settlement_currency,
      },
      details: r.details,
      webhookUrl: r.webhook_url,
      providerConnection: pc
        ? {
            format: pc.format,
            baseUrl: pc.baseUrl,
            options: pc.options,
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
          }
        : null,
      contract: r.contract,
    },
  };
}

/** Stores a submitted application (the API, before it starts the workflow). */
export async function insertApplication(
  db: Queryable,
  a: {
    id: string;
    workflowId: string;
    submittedBy: string;
    application: Omit<PartnerApplication, 'providerConnection'> & {
      providerConnection: {
        format: string;
        baseUrl: string;
        options: Record<string, unknown>;
        /** Sealed for `partner:<id>` / `provider-credential`. */
        credentials: { header: string; sealed: string } | null;
      } | null;
    };
  },
): Promise<void> {
  const { partner, details, webhookUrl, providerConnection: pc, contract } = a.application;
  await db.query(
    `INSERT INTO partner_applications (id, partner_id, workflow_id, submitted_by, name, kind, timezone,
       settlement_currency, details, webhook_url, provider_connection, credentials_header, credentials_sealed, contract)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
    [
      a.id,
      partner.id,
      a.workflowId,
      a.submittedBy,
      partner.name,
      partner.kind,
      partner.timezone,
      partner.settlementCurrency,
      JSON.stringify(details),
      webhookUrl,
      pc ? JSON.stringify({ format: pc.format, baseUrl: pc.baseUrl, options: pc.options }) : null,
      pc?.credentials?.header ?? null,
      pc?.credentials?.sealed ?? null,
      contract ? JSON.stringify(contract) : null,
    ],
  );
}

/** Removes an application no workflow took (its start was refused). */
export async function deleteUnclaimedApplication(db: Queryable, id: string): Promise<void> {
  await db.query('DELETE FROM partner_applications WHERE id = $1 AND run_id IS NULL', [id]);
}

export async function getApplication(db: Queryable, id: string): Promise<StoredApplication | null> {
  const { rows } = await db.query<ApplicationRow>('SELECT * FROM partner_applications WHERE id = $1', [id]);
  return rows[0] ? toApplication(rows[0]) : null;
}

/**
 * Claims the application for an onboarding run: the first run of its workflow id takes it, a
 * repeat by the same run is a no-op. Returns the application as stored (claimed by `runId`), or
 * the stored one unchanged when another run holds it or the workflow id differs (the caller says why).
 */
export async function claimApplication(
  db: Queryable,
  id: string,
  workflowId: string,
  runId: string,
): Promise<StoredApplication | null> {
  await db.query(
    `UPDATE partner_applications SET run_id = $3, updated_at = now()
      WHERE id = $1 AND workflow_id = $2 AND run_id IS NULL`,
    [id, workflowId, runId],
  );
  return getApplication(db, id);
}

/** The applicant's answer to request_info: the parts of its details it replaces. */
export async function updateApplicationDetails(
  db: Queryable,
  id: string,
  runId: string,
  details: Partial<ApplicantDetails>,
): Promise<void> {
  await db.query(
    `UPDATE partner_applications SET details = details || $3::jsonb, updated_at = now()
      WHERE id = $1 AND run_id = $2`,
    [id, runId, JSON.stringify(details)],
  );
}
