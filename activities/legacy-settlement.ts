import { ensureAccounts, postEntries, type EntryInput } from '../db/ledger';
import type { Db } from '../db/pool';
import { withTransaction } from '../db/retry';
import * as book from '../db/exception-book';
import * as q from '../db/settlement';
import * as accruals from '../db/accruals';
import { NotFoundError, ValidationError } from '../domain/errors';
import { gamingTaxAccount, houseAccount, partnerAccount, type PartnerAccountName } from '../domain/accounts';
import { defaultCurrencies, formatAmount, parseAmount, type CurrencyRegistry } from '../domain/money';
import { ledgerEntryKeys, type Statement } from '../domain/statement';
import type { ResolveExceptionInput, SettlementException, SettlementResolution } from '../domain/settlement';
import { auditWorkflowStep } from './audit';
import { settleOnce, type CycleArgs } from './settlement';

// LEGACY: the steps only `settlementCycle` (workflows/legacy/settlement-cycle-v1.ts) calls —
// money through history as strings, posted by rebuilding entries. Kept, unchanged in what they
// post, until the last cycle started before the cut-over has finished; then deleted with it.
// The fee itself is computed by the same settleOnce as settlementCycleV2's.

/** What the workflow keeps of the fee step: the statement's figures and what to post. */
export interface FeeSummary {
  contractVersion: number;
  grossFee: string;
  taxWithheld: string;
  netPayable: string;
  netPayableMinor: string;
  ggr: string;
  feeBase: string;
  lines: Statement['lines'];
  posting: {
    resolutionEffects: { exceptionId: string; effect: string }[];
    gamingTax: { jurisdiction: string; amount: string } | null;
    carriedIn: string;
    carriedOut: string;
  };
}

function feeSummary(s: Statement, scale: number): FeeSummary {
  const net = parseAmount(s.netPayable, scale);
  if (!net.ok) throw new Error(`statement of ${s.settlementId}: net payable ${s.netPayable}`);
  return {
    contractVersion: s.contractVersion,
    grossFee: s.grossFee,
    taxWithheld: s.taxWithheld,
    netPayable: s.netPayable,
    netPayableMinor: net.minor.toString(),
    ggr: s.revenue.ggr,
    feeBase: s.base.feeBase,
    lines: s.lines,
    posting: {
      // What each resolution's entry moves (its GGR effect less what ingest already accrued).
      resolutionEffects: s.revenue.resolutions
        .filter((r) => r.posted !== formatAmount(0n, scale))
        .map((r) => ({ exceptionId: r.exceptionId, effect: r.posted })),
      gamingTax: s.revenue.gamingTax
        ? { jurisdiction: s.revenue.gamingTax.jurisdiction, amount: s.revenue.gamingTax.amount }
        : null,
      carriedIn: formatAmount(
        s.base.carriedIn.reduce((sum, x) => {
          const p = parseAmount(x.amount, scale, { allowNegative: true });
          if (!p.ok) throw new Error(`statement of ${s.settlementId}: carry ${x.amount}`);
          return sum + p.minor;
        }, 0n),
        scale,
      ),
      carriedOut: s.base.carriedOut.total,
    },
  };
}

export function legacySettlementActivities({
  db,
  currencies = defaultCurrencies,
}: {
  db: Db;
  currencies?: CurrencyRegistry;
}) {
  return {
    /** One resolution of a legacy cycle, through the exception book like any other. */
    async recordResolution(c: CycleArgs, r: ResolveExceptionInput): Promise<void> {
      const amount =
        r.amount === undefined ? null : parseAmount(r.amount, c.currencyScale, { allowNegative: true });
      await book.resolveInBook(db, c.cycleId, {
        items: [
          {
            exceptionId: r.exceptionId,
            resolution: r.resolution,
            amountMinor: amount && amount.ok ? amount.minor : null,
            reason: r.reason.trim(),
          },
        ],
        actor: null,
        name: (r.operator ?? '').trim(),
        updateId: null,
        audit: null,
      });
    },

    /**
     * Settles the period's money: the fee from the contract in force, on the frozen sources at
     * the locked rates, with the operators' resolutions, the carries claimed from earlier
     * periods and the month's position so far (domain/statement.ts decides every figure).
     * `resolutions` come from the workflow's state (what the operators decided), never re-read
     * from the database, where the last one may still be being written by its Update handler.
     * Runs in one transaction under the partner's lock, once: a repeat returns what was decided.
     */
    async computeSettlementFees(c: CycleArgs, resolutions: SettlementResolution[]): Promise<FeeSummary> {
      return withTransaction(db, async (client) => {
        const { statement, fresh } = await settleOnce(client, currencies, c, (records) => {
          const decided = new Map(resolutions.map((r) => [r.exceptionId, r]));
          const exceptions = records.map((e) => {
            const r = decided.get(e.exceptionId);
            if (!r) throw new NotFoundError(`exception ${e.exceptionId} of ${c.cycleId} has no resolution`);
            let amount: string | undefined;
            if (r.amount !== undefined) {
              const parsed = parseAmount(r.amount, c.currencyScale, { allowNegative: true });
              if (!parsed.ok) throw new ValidationError(`amount of ${r.exceptionId}: ${parsed.message}`);
              amount = formatAmount(parsed.minor, c.currencyScale);
            }
            return {
              ...e,
              resolution: {
                resolution: r.resolution,
                ...(amount === undefined ? {} : { amount }),
                reason: (r.reason ?? '').trim(),
                operator: (r.operator ?? '').trim(),
              },
            };
          });
          for (const id of decided.keys())
            if (!exceptions.some((e) => e.exceptionId === id))
              throw new NotFoundError(`exception ${id} is not one of ${c.cycleId}'s`);
          return exceptions;
        });
        const summary = feeSummary(statement, c.currencyScale);
        if (fresh) await q.storeCycleOutputs(client, c.cycleId, { fees: summary });
        return summary;
      });
    },

    /**
     * Posts the period's money under keys derived from the cycle, in one transaction, exactly
     * the entries its statement lists: each resolution that moves GGR (game activity ↔ gaming
     * revenue, so that the ledger's GGR is the statement's), the carry claimed and the carry
     * left (memo accounts: their balance is what later periods still have to absorb), the
     * gaming tax (gaming revenue → the jurisdiction's payable), and the fee (expense →
     * payable, and tax withheld).
     */
    async postSettlement(c: CycleArgs, fees: FeeSummary): Promise<{ entryIds: string[] }> {
      const amount = (s: string) => {
        const p = parseAmount(s, c.currencyScale, { allowNegative: true });
        if (!p.ok) throw new ValidationError(`bad amount ${s}: ${p.message}`);
        return p.minor;
      };
      const p = fees.posting;
      const net = amount(fees.netPayable);
      const tax = amount(fees.taxWithheld);
      const gamingTaxMinor = p.gamingTax ? amount(p.gamingTax.amount) : 0n;
      const carriedIn = amount(p.carriedIn);
      const carriedOut = amount(p.carriedOut);
      const effects = p.resolutionEffects.map((e) => ({ ...e, minor: amount(e.effect) }));
      const keys = ledgerEntryKeys(c.cycleId, {
        resolutionEffects: effects,
        gamingTaxMinor,
        netPayableMinor: net,
        taxWithheldMinor: tax,
        carriedInMinor: carriedIn,
        carriedOutMinor: carriedOut,
      }).filter((k) => !k.endsWith(':payout'));
      if (keys.length === 0) return { entryIds: [] };
      return withTransaction(db, async (client) => {
        const acct = (name: PartnerAccountName) => partnerAccount(c.partnerId, name, c.currency);
        const taxPayable = p.gamingTax ? gamingTaxAccount(p.gamingTax.jurisdiction, c.currency) : null;
        const specs = [
          acct('provider_fees'),
          acct('fees_payable'),
          acct('tax_withheld'),
          acct('game_activity'),
          acct('gaming_revenue'),
          acct('carry_forward'),
          acct('carry_forward_offset'),
          acct('gaming_tax'),
          ...(taxPayable ? [taxPayable] : []),
        ];
        const ids = await ensureAccounts(client, specs);
        const move = (from: { code: string }, to: { code: string }, amountMinor: bigint) => ({
          debitAccountId: ids.get(from.code)!,
          creditAccountId: ids.get(to.code)!,
          currency: c.currency,
          amountMinor,
        });
        // A signed amount between two accounts: positive debits `up`, negative credits it.
        const signed = (up: { code: string }, down: { code: string }, m: bigint) =>
          m > 0n ? move(up, down, m) : move(down, up, -m);
        const entry = (
          key: string,
          sourceKind: EntryInput['sourceKind'],
          metadata: Record<string, unknown>,
          postings: EntryInput['postings'],
        ): EntryInput => ({
          idempotencyKey: key,
          effectiveDate: c.periodEnd,
          sourceKind,
          sourceRef: c.cycleId,
          metadata: { partnerId: c.partnerId, ...metadata },
          postings,
        });
        const entries: EntryInput[] = [];
        for (const e of effects)
          entries.push(
            entry(
              `${c.cycleId}:resolution:${e.exceptionId}`,
              'adjustment',
              { exceptionId: e.exceptionId, ggrEffectMinor: e.minor.toString() },
              // More GGR: game play owes the operator more; less: the reverse.
              [signed(acct('game_activity'), acct('gaming_revenue'), e.minor)],
            ),
          );
        // The carry account's balance is the base still to be absorbed by later periods.
        if (carriedIn !== 0n)
          entries.push(
            entry(`${c.cycleId}:carry-in`, 'settlement', { carriedInMinor: carriedIn.toString() }, [
              signed(acct('carry_forward_offset'), acct('carry_forward'), carriedIn),
            ]),
          );
        if (carriedOut !== 0n)
          entries.push(
            entry(`${c.cycleId}:carry-out`, 'settlement', { carriedOutMinor: carriedOut.toString() }, [
              signed(acct('carry_forward'), acct('carry_forward_offset'), carriedOut),
            ]),
          );
        // Negative when a later period of the month lowered the month's tax: a refund.
        if (gamingTaxMinor !== 0n && taxPayable)
          entries.push(
            entry(
              `${c.cycleId}:gaming-tax`,
              'settlement',
              { jurisdiction: p.gamingTax!.jurisdiction, gamingTax: p.gamingTax!.amount },
              [signed(acct('gaming_tax'), taxPayable, gamingTaxMinor)],
            ),
          );
        // A negative fee (a whole-volume tier step-down or a guarantee true-up) is a credit
        // note: it reduces what the partner is owed (fees payable may turn into a receivable).
        const feePostings = [
          ...(net !== 0n ? [signed(acct('provider_fees'), acct('fees_payable'), net)] : []),
          ...(tax !== 0n ? [signed(acct('provider_fees'), acct('tax_withheld'), tax)] : []),
        ];
        if (feePostings.length > 0)
          entries.push(
            entry(
              `${c.cycleId}:fees`,
              'settlement',
              {
                periodStart: c.periodStart,
                periodEnd: c.periodEnd,
                grossFee: fees.grossFee,
                taxWithheld: fees.taxWithheld,
                netPayable: fees.netPayable,
              },
              feePostings,
            ),
          );
        const posted = entries.map((e) => e.idempotencyKey);
        if (posted.join('|') !== keys.join('|'))
          throw new Error(
            `posting plan ${posted.join(', ')} differs from the statement's ${keys.join(', ')}`,
          );
        const results = await postEntries(client, entries);
        await auditWorkflowStep(client, {
          action: 'settlement.post',
          target: c.cycleId,
          details: {
            netPayable: fees.netPayable,
            currency: c.currency,
            entryIds: results.map((r) => r.entryId),
          },
        });
        return { entryIds: results.map((r) => r.entryId) };
      });
    },

    /**
     * Publishes the statement the fee step computed (its exact bytes are kept with the
     * accrual; this copy is what GET /v1/settlements/{id}/statement serves).
     */
    async buildStatement(
      c: CycleArgs,
      parts: { fees: unknown; entryIds: string[]; exceptions: SettlementException[] },
    ): Promise<{ lines: number }> {
      const done = await accruals.accrualOf(db, c.cycleId);
      if (!done) throw new NotFoundError(`no fees computed for ${c.cycleId}`);
      const statement = JSON.parse(done.statementText) as Statement;
      await q.storeCycleOutputs(db, c.cycleId, { statement });
      return { lines: statement.lines.length + parts.exceptions.length };
    },

    /** Pays the partner: fees payable → payouts clearing, once per cycle. */
    async recordPayout(
      c: CycleArgs,
      p: { netPayableMinor: string; approvers: string[] },
    ): Promise<{ entryId: string | null }> {
      const amount = BigInt(p.netPayableMinor);
      if (amount <= 0n) return { entryId: null };
      return withTransaction(db, async (client) => {
        const payable = partnerAccount(c.partnerId, 'fees_payable', c.currency);
        const clearing = houseAccount('payouts_clearing', c.currency);
        const ids = await ensureAccounts(client, [payable, clearing]);
        const [r] = await postEntries(client, [
          {
            idempotencyKey: `${c.cycleId}:payout`,
            effectiveDate: c.periodEnd,
            sourceKind: 'settlement',
            sourceRef: c.cycleId,
            metadata: { approvers: p.approvers },
            postings: [
              {
                debitAccountId: ids.get(payable.code)!,
                creditAccountId: ids.get(clearing.code)!,
                currency: c.currency,
                amountMinor: amount,
              },
            ],
          },
        ]);
        await auditWorkflowStep(client, {
          action: 'settlement.payout',
          target: c.cycleId,
          details: {
            amountMinor: amount.toString(),
            currency: c.currency,
            approvers: p.approvers,
            entryId: r!.entryId,
          },
        });
        return { entryId: r!.entryId };
      });
    },
  };
}
