import { Context } from '@temporalio/activity';
import { ensureAccounts } from '../db/ledger';
import {
  getPartner,
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
import { ConflictError, NotFoundError, UnavailableError } from '../domain/errors';
import type { CurrencyRegistry } from '../domain/money';
import type { DueDiligence, PartnerApplication } from '../domain/onboarding';
import type { Config } from '../platform/config';
import { callUpstream } from '../platform/outbound-http';
import type { SecretBox } from '../platform/secrets';
import { newWebhookSecret } from '../platform/webhooks';
import { openProviderConnection } from '../providers/connection';
import { adapters } from '../providers/registry';
import { ProviderReportError } from '../providers/types';
import { upsertSettlementSchedule } from '../services/schedules';
import { deliverSignedWebhook, outboundFailure } from './failures';

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

  return {
    /** Company registry and licences, from the due-diligence service (retried by Temporal). */
    async checkRegistry(
      app: PartnerApplication,
    ): Promise<{ registry: DueDiligence['registry']; licences: DueDiligence['licences'] }> {
      const { company, licences } = app.details;
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
    },

    /** Screens the company and its contacts against sanctions lists. */
    async screenSanctions(app: PartnerApplication): Promise<DueDiligence['sanctions']> {
      const names = [app.details.company.legalName, ...app.details.contacts.map((c) => c.name)];
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
    },

    /**
     * After approval, in one transaction: the contract's first version, the provider
     * connection (credential sealed by the API before the workflow started), the webhook with
     * a signing secret minted here, and the partner's ledger accounts. Idempotent: a retry
     * finds everything in place and changes nothing.
     */
    async setUpPartner(app: PartnerApplication): Promise<void> {
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
        }
        if (app.providerConnection) await upsertProviderConnection(client, id, app.providerConnection);
        if (app.webhookUrl) {
          const existing = await webhookOf(client, id);
          if (existing?.url !== app.webhookUrl) {
            if (!secrets) throw new Error('no SecretBox configured to seal the webhook secret');
            await upsertWebhook(client, id, app.webhookUrl, secrets.seal(newWebhookSecret()));
          }
        }
        await ensureAccounts(
          client,
          OPENING_ACCOUNTS.map((name) => partnerAccount(id, name, app.partner.settlementCurrency)),
        );
      });
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
      return { created: true };
    },
  };
}
