import { Context } from '@temporalio/activity';
import {
  claimApplication,
  getApplication,
  updateApplicationDetails,
  type StoredApplication,
} from '../db/applications';
import { appendAudit } from '../db/audit';
import { ensureAccounts } from '../db/ledger';
import {
  getPartner,
  registerPartner,
  providerConnectionOf,
  recordContractVersion,
  upsertProviderConnection,
  upsertWebhook,
  webhookOf,
} from '../db/partners';
import type { Db } from '../db/pool';
import { withTransaction } from '../db/retry';
import { contractCadence } from '../db/settlement';
import { partnerAccount, type PartnerAccountName } from '../domain/accounts';
import { checkContractTerms } from '../domain/contract';
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '../domain/errors';
import type { CurrencyRegistry } from '../domain/money';
import type { ApplicantDetails, DueDiligence, PartnerApplication } from '../domain/onboarding';
import type { NewPartner, Partner } from '../domain/partner';
import type { Config } from '../platform/config';
import { callUpstream } from '../platform/outbound-http';
import { partnerSecret, type SecretBox } from '../platform/secrets';
import { newWebhookSecret } from '../platform/webhooks';
import { openProviderConnection } from '../providers/connection';
import { adapters } from '../providers/registry';
import { ProviderReportError } from '../providers/types';
import { upsertSettlementSchedule } from '../services/schedules';
import { deliverSignedWebhook, outboundFailure } from './failures';

type AuditClient = Parameters<typeof appendAudit>[0];

/** The workflow run the current activity works for. */
function runOf(): { workflowId: string; runId: string } {
  const wf = Context.current().info.workflowExecution;
  if (!wf) throw new Error('not running for a workflow');
  return wf;
}

/**
 * Records one of the onboarding's own steps in the caller's transaction (the step and its event
 * commit together), as the workflow: actor `workflow:<id>`, source `workflow`. Once per run and
 * action: a retried activity records nothing twice, a later application of the same partner
 * (same workflow id, another run) records its own.
 */
export async function auditOnboardingStep(
  client: AuditClient,
  step: { action: string; target: string; details?: Record<string, unknown> },
): Promise<void> {
  const wf = runOf();
  await appendAudit(client, {
    idempotencyKey: `wf:${wf.runId}:${step.action}`,
    actor: `workflow:${wf.workflowId}`,
    role: 'workflow',
    action: step.action,
    target: step.target,
    source: 'workflow',
    workflowId: wf.workflowId,
    ...(step.details ? { details: step.details } : {}),
  });
}

/** What the onboarding workflow passes: the id of the application the API stored, nothing more. */
export interface ApplicationRef {
  applicationId: string;
}

/** What the workflow may know of its application (no credential, sealed or not). */
export interface ApplicationSummary {
  applicationId: string;
  partnerId: string;
  kind: NewPartner['kind'];
  submittedBy: string;
  hasContract: boolean;
}

const WHY_API =
  'applications are submitted through POST /v1/partner-applications, which stores them; nothing was registered';

/** The accounts a partner's money moves through, opened at onboarding in its settlement currency. */
const OPENING_ACCOUNTS: PartnerAccountName[] = [
  'game_activity',
  'gaming_revenue',
  'provider_fees',
  'fees_payable',
  'tax_withheld',
];

/** Caps on what the due-diligence service may answer (it is outside the product). */
const DUE_DILIGENCE_MAX_BYTES = 256 * 1024;

export interface OnboardingActivityDeps {
  db: Db;
  secrets?: SecretBox;
  currencies?: CurrencyRegistry;
  config?: Config;
}

export function onboardingActivities({ db, secrets, currencies, config }: OnboardingActivityDeps) {
  const dueDiligence = async (path: string, body: unknown): Promise<unknown> => {
    if (!config) throw new Error('no config: the due-diligence service URL is unknown');
    try {
      const res = await callUpstream(
        new URL(path, config.onboarding.dueDiligenceUrl),
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
        { who: 'due-diligence service', maxBytes: DUE_DILIGENCE_MAX_BYTES },
      );
      return JSON.parse(res.text) as unknown;
    } catch (err) {
      throw outboundFailure(err, (refused) => new UnavailableError(refused.message));
    }
  };

  const checkRegistry = async (
    details: ApplicantDetails,
  ): Promise<{ registry: DueDiligence['registry']; licences: DueDiligence['licences'] }> => {
    const { company, licences } = details;
    const r = (await dueDiligence('/registry/check', {
      registrationNumber: company.registrationNumber,
      country: company.country,
      legalName: company.legalName,
      licences,
    })) as {
      found?: unknown;
      status?: unknown;
      registeredName?: unknown;
      licences?: { jurisdiction?: unknown; number?: unknown; status?: unknown }[];
    };
    const status = r.status === 'active' || r.status === 'dissolved' ? r.status : null;
    return {
      registry: {
        outcome: 'checked',
        found: r.found === true,
        status,
        registeredName: typeof r.registeredName === 'string' ? r.registeredName.slice(0, 200) : null,
      },
      licences: {
        outcome: 'checked',
        results: licences.map((l) => {
          const found = (r.licences ?? []).find(
            (x) => x.jurisdiction === l.jurisdiction && x.number === l.number,
          );
          const s = found?.status;
          return { ...l, status: s === 'valid' || s === 'expired' ? s : 'unknown' };
        }),
      },
    };
  };

  const screenSanctions = async (details: ApplicantDetails): Promise<DueDiligence['sanctions']> => {
    const names = [details.company.legalName, ...details.contacts.map((c) => c.name)];
    const r = (await dueDiligence('/sanctions/screen', { names })) as {
      matches?: { name?: unknown; list?: unknown; score?: unknown }[];
    };
    return {
      outcome: 'checked',
      matches: (r.matches ?? [])
        .slice(0, 50)
        .flatMap((m) =>
          typeof m.name === 'string' && typeof m.list === 'string' && typeof m.score === 'number'
            ? [{ name: m.name.slice(0, 200), list: m.list.slice(0, 100), score: m.score }]
            : [],
        ),
    };
  };

  /**
   * The application this run holds: stored by the API, claimed by this very run of its own
   * workflow id. Anything else (an id never stored, another workflow's, another run's) is a
   * ValidationError that ends the onboarding Failed, having registered nothing.
   */
  const heldApplication = async (db_: AuditClient, applicationId: unknown): Promise<StoredApplication> => {
    const wf = runOf();
    if (typeof applicationId !== 'string' || applicationId.length === 0 || applicationId.length > 100)
      throw new ValidationError(`partnerOnboarding was started without an application id: ${WHY_API}`);
    const stored = await getApplication(db_, applicationId);
    if (!stored) throw new ValidationError(`application ${applicationId} was never submitted: ${WHY_API}`);
    if (stored.workflowId !== wf.workflowId)
      throw new ValidationError(
        `application ${applicationId} belongs to workflow ${stored.workflowId}, not ${wf.workflowId}: ${WHY_API}`,
      );
    if (stored.runId !== wf.runId)
      throw new ValidationError(
        `application ${applicationId} is held by another run of ${wf.workflowId}: submit it again through POST /v1/partner-applications`,
      );
    return stored;
  };

  /** Registers the applicant; a partner past onboarding is never taken over. Audited with it. */
  const registerInTransaction = async (p: NewPartner): Promise<Partner> =>
    withTransaction(db, async (client) => {
      const stored = await registerPartner(client, p);
      if (stored.status !== 'onboarding')
        throw new ConflictError(
          `partner ${p.id} is already ${stored.status}: an onboarding cannot take it over`,
          [{ path: 'partnerId', message: `already ${stored.status}` }],
        );
      await auditOnboardingStep(client, {
        action: 'onboarding.partnerRegistered',
        target: `partner:${p.id}`,
        details: {
          name: p.name,
          kind: p.kind,
          timezone: p.timezone,
          settlementCurrency: p.settlementCurrency,
        },
      });
      return stored;
    });

  /**
   * After approval, in one transaction: the contract's first version, the provider connection
   * (its credential sealed, bound to the partner), the webhook with a signing secret minted
   * here, and the partner's ledger accounts; each step audited in the same transaction.
   * Idempotent: a retry finds everything in place and changes nothing.
   */
  const setUpInTransaction = async (app: {
    partner: NewPartner;
    contract: PartnerApplication['contract'];
    webhookUrl: string | null;
    providerConnection: {
      format: string;
      baseUrl: string;
      options: Record<string, unknown>;
      credentials: { header: string; sealed: string } | null;
    } | null;
  }): Promise<void> => {
    const id = app.partner.id;
    await withTransaction(db, async (client) => {
      if (app.contract) {
        const terms = checkContractTerms(app.contract.terms, 'contract.terms');
        const stored = await recordContractVersion(client, {
          partnerId: id,
          version: 1,
          effectiveFrom: app.contract.effectiveFrom,
          terms,
        });
        if (!stored)
          throw new ConflictError(`contract version 1 of ${id} is already recorded with other terms`);
        await auditOnboardingStep(client, {
          action: 'onboarding.contractRecorded',
          target: `contract:${id}:1`,
          details: { version: 1, effectiveFrom: app.contract.effectiveFrom },
        });
      }
      if (app.providerConnection) await upsertProviderConnection(client, id, app.providerConnection);
      if (app.webhookUrl) {
        const existing = await webhookOf(client, id);
        if (existing?.url !== app.webhookUrl) {
          if (!secrets) throw new Error('no SecretBox configured to seal the webhook secret');
          await upsertWebhook(
            client,
            id,
            app.webhookUrl,
            secrets.seal(newWebhookSecret(), partnerSecret(id, 'webhook-signing')),
          );
          await auditOnboardingStep(client, {
            action: 'onboarding.webhookSecretMinted',
            target: `partner:${id}`,
            details: { url: app.webhookUrl },
          });
        }
      }
      await ensureAccounts(
        client,
        OPENING_ACCOUNTS.map((name) => partnerAccount(id, name, app.partner.settlementCurrency)),
      );
    });
  };

  return {
    /**
     * First step of an onboarding: claims the application the API stored for this run and
     * checks that the workflow's input says what the record says. A workflow started straight
     * on Temporal (an id never stored, another workflow's application, other input) fails here.
     */
    async loadApplication(input: {
      applicationId?: unknown;
      partnerId?: unknown;
      submittedBy?: unknown;
    }): Promise<ApplicationSummary> {
      const wf = runOf();
      if (typeof input.applicationId !== 'string' || input.applicationId.length === 0)
        throw new ValidationError(`partnerOnboarding was started without an application id: ${WHY_API}`);
      const claimed = await claimApplication(db, input.applicationId, wf.workflowId, wf.runId);
      if (!claimed)
        throw new ValidationError(`application ${input.applicationId} was never submitted: ${WHY_API}`);
      const stored = await heldApplication(db, input.applicationId);
      const differs = (
        [
          ['partnerId', input.partnerId, stored.application.partner.id],
          ['submittedBy', input.submittedBy, stored.submittedBy],
        ] as const
      ).filter(([, given, recorded]) => given !== recorded);
      if (differs.length > 0)
        throw new ValidationError(
          `the workflow input differs from application ${stored.id} as submitted (${differs
            .map(([field]) => field)
            .join(', ')}): ${WHY_API}`,
        );
      return {
        applicationId: stored.id,
        partnerId: stored.application.partner.id,
        kind: stored.application.partner.kind,
        submittedBy: stored.submittedBy,
        hasContract: stored.application.contract !== null,
      };
    },

    /** The applicant's answer to request_info, stored with its application (the checks read it). */
    async recordApplicationInformation(input: {
      applicationId: string;
      details: Partial<ApplicantDetails>;
    }): Promise<void> {
      const stored = await heldApplication(db, input.applicationId);
      await updateApplicationDetails(db, stored.id, stored.runId!, input.details);
    },

    /** checkRegistry on the stored application's details. */
    async checkApplicantRegistry(
      ref: ApplicationRef,
    ): Promise<{ registry: DueDiligence['registry']; licences: DueDiligence['licences'] }> {
      const stored = await heldApplication(db, ref.applicationId);
      return checkRegistry(stored.application.details);
    },

    /** screenSanctions on the stored application's details. */
    async screenApplicant(ref: ApplicationRef): Promise<DueDiligence['sanctions']> {
      const stored = await heldApplication(db, ref.applicationId);
      return screenSanctions(stored.application.details);
    },

    /** Registers the partner the stored application describes. */
    async registerApplicant(ref: ApplicationRef): Promise<Partner> {
      const stored = await heldApplication(db, ref.applicationId);
      return registerInTransaction(stored.application.partner);
    },

    /** setUpPartner from the stored application; its provider credential goes from row to row, still sealed. */
    async setUpApplicant(ref: ApplicationRef): Promise<void> {
      const { application: a } = await heldApplication(db, ref.applicationId);
      const pc = a.providerConnection;
      await setUpInTransaction({
        partner: a.partner,
        contract: a.contract,
        webhookUrl: a.webhookUrl,
        providerConnection: pc
          ? {
              format: pc.format,
              baseUrl: pc.baseUrl,
              options: pc.options,
              credentials: pc.credentials
                ? { header: pc.credentials.header, sealed: pc.credentials.sealed.sealed }
                : null,
            }
          : null,
      });
    },

    /** Old histories only (the application in the workflow's input); registerApplicant since. */
    async registerPartner(p: NewPartner): Promise<Partner> {
      return registerInTransaction(p);
    },

    /** Company registry and licences, from the due-diligence service (retried by Temporal). */
    async checkRegistry(
      app: PartnerApplication,
    ): Promise<{ registry: DueDiligence['registry']; licences: DueDiligence['licences'] }> {
      return checkRegistry(app.details);
    },

    /** Screens the company and its contacts against sanctions lists. */
    async screenSanctions(app: PartnerApplication): Promise<DueDiligence['sanctions']> {
      return screenSanctions(app.details);
    },
    /** Old histories only (the application in the workflow's input); setUpApplicant since. */
    async setUpPartner(app: PartnerApplication): Promise<void> {
      await setUpInTransaction(app);
    },

    /**
     * The connectivity test: one page of the provider report from the configured connection,
     * and a signed test webhook. Failures are retried with backoff by Temporal; the message
     * an operator reads is the classified one (unreachable, timed out, answered 503…).
     */
    async testConnectivity(
      partnerId: string,
    ): Promise<{ report: 'ok' | 'not-configured'; webhook: 'ok' | 'not-configured' }> {
      const partner = await getPartner(db, partnerId);
      if (!partner) throw new NotFoundError(`partner ${partnerId} not found`);
      const provider = openProviderConnection(await providerConnectionOf(db, partnerId), secrets);
      let report: 'ok' | 'not-configured' = 'not-configured';
      if (provider) {
        const adapter = adapters[provider.format];
        if (!adapter) throw new NotFoundError(`no adapter for report format ${provider.format}`);
        if (!currencies) throw new Error('no currency registry configured');
        const toMs = Date.now();
        try {
          await adapter.fetchPage({
            baseUrl: provider.baseUrl,
            currencies,
            options: provider.options,
            headers: provider.headers,
            fromMs: toMs - 86_400_000,
            toMs,
            cursor: null,
          });
        } catch (err) {
          if (err instanceof ProviderReportError)
            throw new UnavailableError(`provider report unreadable: ${err.message}`);
          throw outboundFailure(err, (refused) => new UnavailableError(refused.message));
        }
        report = 'ok';
      }
      let webhook: 'ok' | 'not-configured' = 'not-configured';
      const hook = await webhookOf(db, partnerId);
      if (hook) {
        if (!secrets) throw new Error('no SecretBox configured for webhook signing');
        const body = JSON.stringify({
          type: 'clearhouse.test',
          id: `onboarding:${partnerId}:test`,
          partnerId,
        });
        await deliverSignedWebhook(hook.url, secrets.open(hook.secretSealed), body);
        webhook = 'ok';
      }
      return { report, webhook };
    },

    /** The partner's settlement Schedule from its contract's cadence (01:00 partner time). */
    async createSettlementSchedule(partnerId: string): Promise<{ created: boolean }> {
      if (!config) throw new Error('no config: task queues unknown');
      const partner = await getPartner(db, partnerId);
      if (!partner) throw new NotFoundError(`partner ${partnerId} not found`);
      await upsertSettlementSchedule(Context.current().client, config, {
        partnerId,
        timezone: partner.timezone,
        hourLocal: 1,
        paused: false,
        cadence: await contractCadence(db, partnerId),
      });
      // The Schedule lives in Temporal, not Postgres: audited right after, once per run.
      await auditOnboardingStep(db, {
        action: 'onboarding.scheduleCreated',
        target: `settlement-schedule:${partnerId}`,
        details: { timezone: partner.timezone, hourLocal: 1 },
      });
      return { created: true };
    },
  };
}
