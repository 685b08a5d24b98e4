import { z } from 'zod';
import { asPartnerSees } from '../domain/reconciliation';
import { resolutions } from '../domain/settlement';

// What a partner reads, as allow-lists: every partner-facing route declares one
// (RouteSpec.partnerView) and mountRoute passes each answer to a partner through it. zod's
// objects drop every key they do not name, so a field added to a cycle, a statement or an
// exception later stays hidden from partners until someone allows it here. Operators'
// decisions show a role, never a person's name: operators are the operator's staff, not the
// partner's contacts (test/partner-view.test.ts walks the route table to hold this).

/** Whoever decided, as a partner reads it: the role, whatever the name was. */
const OPERATIONS = 'operations';
const role = (name: string) => z.unknown().transform(() => name);

const text = z.string();
const amount = z.string();

/** An operator's decision on an exception (in a cycle, a statement). */
const decision = z.object({
  resolution: z.enum(resolutions),
  amount: amount.optional(),
  reason: text,
  operator: role(OPERATIONS),
});

/** An exception inside a cycle's live view. */
const cycleException = z
  .object({
    exceptionId: text,
    kind: text,
    txId: text.nullable(),
    differenceMinor: text,
    detail: text,
    resolution: decision.optional(),
  })
  .transform(asPartnerSees);

/** The fee figures of a cycle (its list row, its live view). */
const feeFigures = z.object({
  contractVersion: z.number(),
  grossFee: amount,
  taxWithheld: amount,
  netPayable: amount,
  ggr: amount.optional(),
  feeBase: amount.optional(),
  lines: z
    .array(z.object({ code: text, description: text, base: amount, rate: text.nullable(), amount }))
    .optional(),
});

const fxRate = z.object({ from: text, to: text, rate: text, source: text, asOf: text });

/** GET /v1/settlements/{id}: a cycle's live state. */
export const cycleView = z.object({
  status: text,
  // The period and its terms as the partner knows them; never who requested the cycle, the
  // approval threshold or the operators' reminder settings.
  input: z.object({
    partnerId: text,
    partnerName: text.optional(),
    periodStart: text,
    periodEnd: text,
    currency: text,
    currencyScale: z.number(),
    cutoffAt: text,
    timezone: text.optional(),
    graceMs: z.number(),
  }),
  frozenAt: text.nullable(),
  reportRows: z.number().nullable(),
  // The first open exceptions (settlementCycleV2; a legacy cycle lists all, with decisions).
  exceptions: z.array(cycleException),
  exceptionsOpen: z.number().optional(),
  exceptionsTotal: z.number().optional(),
  fees: feeFigures.nullable(),
  approvals: z.array(z.unknown()).transform((a) => a.map((_, i) => `approver ${i + 1}`)),
  notification: text,
  fxRates: z.array(fxRate),
});

/** GET /v1/settlements: one row per cycle. */
export const cycleList = z.object({
  settlements: z.array(
    z.object({
      id: text,
      partnerId: text,
      periodStart: text,
      periodEnd: text,
      status: text,
      frozenAt: text.nullable(),
      fees: feeFigures.nullable(),
    }),
  ),
  nextCursor: text.nullable(),
});

/** GET /v1/exceptions: one row per exception, with its decision. */
export const exceptionList = z.object({
  exceptions: z.array(
    z
      .object({
        settlementId: text,
        exceptionId: text,
        kind: text,
        txId: text.nullable(),
        differenceMinor: text,
        detail: text,
        resolution: z.enum(resolutions).nullable(),
        reason: text.nullable(),
        operator: z.unknown().transform((v) => (v === null || v === undefined ? null : OPERATIONS)),
        resolvedAt: z
          .unknown()
          .transform((v) => (v instanceof Date ? v.toISOString() : (v as string | null))),
      })
      .transform(asPartnerSees),
  ),
  nextCursor: text.nullable(),
});

const sourceRow = z.object({
  businessDate: text,
  gameId: text,
  category: text.nullable(),
  currency: text,
  betCount: text,
  bets: amount,
  wins: amount,
  rolledBackBets: amount,
  rolledBackWins: amount,
  ggr: amount,
  bonusCost: amount,
  jackpotContributions: amount,
  jackpotWins: amount,
});
const currencyTotals = {
  stakes: amount,
  wins: amount,
  ggr: amount,
  bonusCost: amount,
  jackpotContributions: amount,
  jackpotWins: amount,
};

/** GET /v1/settlements/{id}/statement (JSON and CSV alike): the statement of domain/statement.ts. */
export const statementView = z.object({
  statementVersion: z.literal(1),
  settlementId: text,
  partnerId: text,
  period: z.object({ start: text, end: text }),
  currency: text,
  contractVersion: z.number(),
  sources: z.array(sourceRow),
  currencies: z.array(
    z.object({
      currency: text,
      ...currencyTotals,
      fx: z.object({ rate: text, source: text, asOf: text }).nullable(),
      inSettlementCurrency: z.object(currencyTotals),
    }),
  ),
  revenue: z.object({
    stakes: amount,
    wins: amount,
    ggrBeforeResolutions: amount,
    resolutions: z.array(
      z.object({
        exceptionId: text,
        resolution: z.enum(resolutions),
        effect: amount,
        posted: amount,
        covers: z.number().int().optional(),
      }),
    ),
    ggr: amount,
    bonusCost: amount,
    jackpotContributions: amount,
    jackpotWins: amount,
    gamingTax: z
      .object({
        jurisdiction: text,
        on: z.enum(['ggr', 'stakes']),
        rate: text,
        monthBase: amount,
        chargedEarlier: amount,
        amount,
      })
      .nullable(),
    ngr: amount,
  }),
  base: z.object({
    contractBase: z.enum(['ggr', 'ngr']),
    jackpots: z.enum(['pass_through', 'exclude']),
    periodBase: amount,
    carriedIn: z.array(z.object({ fromSettlementId: text, amount })),
    feeBase: amount,
    carriedOut: z.object({
      negativeBase: amount,
      deferredResolutions: z.array(z.object({ exceptionId: text, effect: amount })),
      total: amount,
    }),
  }),
  categories: z.array(z.object({ category: text, base: amount })),
  month: z.object({
    month: text,
    closesMonth: z.boolean(),
    volumeBefore: amount,
    volumeAfter: amount,
    variableFeesToDate: amount,
    minimumGuarantee: amount,
    guaranteeAssessed: z.boolean(),
    topUpsToDate: amount,
    fixedFee: text,
  }),
  lines: z.array(z.object({ code: text, description: text, base: amount, rate: text.nullable(), amount })),
  grossFee: amount,
  taxWithheld: amount,
  netPayable: amount,
  rounding: z.array(z.object({ step: text, residue: text })),
  exceptions: z.array(
    z
      .object({
        exceptionId: text,
        kind: text,
        txId: text.nullable(),
        currency: text.nullable(),
        difference: amount,
        detail: text,
        resolution: decision.nullable(),
      })
      .transform(asPartnerSees),
  ),
  expected: z
    .array(z.object({ exceptionId: text, txId: text.nullable(), difference: amount, until: text }))
    .optional(),
  writtenOff: z.array(z.object({ account: text, amount, covers: z.number().int() })).optional(),
  ledgerEntries: z.array(text),
  // A later version's restatement, and the payout section (minimum payout, brought forward).
  restatement: z
    .object({ version: z.number().int(), previousDigest: text, restatementId: text, reason: text })
    .optional(),
  payout: z
    .object({
      netPayable: amount,
      broughtForward: z.array(z.object({ id: text, kind: text, ref: text, amount, note: z.string() })),
      payable: amount,
      minimumPayout: amount,
      toPay: amount,
      rolledToNextStatement: amount,
      note: text,
    })
    .optional(),
});
