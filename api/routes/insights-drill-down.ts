import { transactionSchema } from './transactions';
import { asPartnerSees } from '../../domain/reconciliation';
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import {
  accountPostings,
  cycleLedgerEntries,
  cycleRecord,
  dayTransactions,
  exceptionOf,
  ingestBatchOf,
  ledgerEntry,
  ourTxIds,
  theirAggregate,
  theirRows,
  transactionsById,
} from '../../db/drill-down';
import { exceptionHistory } from '../../db/exception-book';
import { entryExceptions, journalOf } from '../../db/journals';
import { getAccount } from '../../db/ledger';
import { matchGroupsOf } from '../../db/matching';
import type { StoredTransaction } from '../../db/positions';
import { lockedRates } from '../../db/settlement';
import { NotFoundError } from '../../domain/errors';
import { payoutJournalId, settlementJournalId, type Journal } from '../../domain/journal';
import { formatAmount, type CurrencyRegistry } from '../../domain/money';
import { partnerIdSchema } from '../../domain/partner';
import { providerId, transactionTypes } from '../../domain/transactions';
import type { AuthDeps, Principal } from '../auth';
import type { ApiDeps } from '../deps';
import { decodeCursor, nextCursorSchema, page, pageQuery } from '../paging';
import { mountRoute } from '../route';
import { errorResponses, jsonResponse, settlementIdSchema } from '../schemas';
import { amount, day, temporalWorkflowUrl, visiblePartnerInPath } from './insights-money';

// Every number is a link: a day and game → its transactions; an exception → both sides, its
// match group and its history; a cycle → its record (statement figures, FX locks, journal and
// ledger entries, its workflow in the Temporal UI); a ledger account → its postings → an entry
// → its source (an ingest batch and its transactions, or a cycle and its journal).

/** Whoever decided, as a partner reads it: reconciliation and the matcher by name, anyone else as `operations`. */
const OPERATIONS = 'operations';
const SYSTEM_SHOWN = new Set(['reconciliation', 'matcher']);
/** The history a partner reads: what happened to the money, not who worked on it (assignment, escalation). */
const PARTNER_EVENTS = new Set(['found', 'resolved', 'reversed', 'expected', 'arrived', 'expired', 'voided']);

const txSchema = transactionSchema;

const txListResponse = z
  .object({
    partnerId: z.string(),
    date: day,
    transactions: z.array(txSchema),
    nextCursor: nextCursorSchema,
  })
  .meta({
    id: 'DayTransactions',
    example: {
      partnerId: 'nova-slots',
      date: '2026-11-23',
      transactions: [
        {
          id: 'tx-1',
          type: 'bet',
          roundId: 'r-1',
          playerId: 'p-42',
          gameId: 'book-of-sun',
          amount: '10.00',
          currency: 'EUR',
          occurredAt: '2026-11-23T21:15:00.000Z',
          businessDate: '2026-11-23',
          refId: null,
          orphan: false,
          reason: null,
          batchId: 'batch-2026-11-23-0001',
          receivedAt: '2026-11-23T21:15:01.000Z',
        },
      ],
      nextCursor: null,
    },
  });

const reportRowSchema = z
  .object({
    ord: z.number().int().meta({ description: 'Row number in the provider report' }),
    txId: z.string(),
    type: z.string(),
    roundId: z.string(),
    gameId: z.string(),
    currency: z.string(),
    amount,
    occurredAt: z.string(),
    businessDate: z.string(),
    roundStatus: z.string().nullable(),
  })
  .meta({ id: 'ProviderReportRow' });

const decisionSchema = z.object({
  resolution: z.string(),
  amount: amount.nullable(),
  reason: z.string().nullable(),
  by: z.string().meta({ description: "Who decided (operators' names are shown to operators only)" }),
  at: z.string().nullable(),
});

const historyEvent = z.object({
  event: z.string(),
  at: z.string(),
  generation: z.number().int(),
  resolution: z.string().nullable(),
  amount: amount.nullable(),
  reason: z.string().nullable(),
  by: z.string(),
  byKind: z.enum(['person', 'system']),
});

const exceptionCore = {
  settlementId: z.string(),
  exceptionId: z.string(),
  kind: z.string(),
  txId: z.string().nullable(),
  businessDate: z.string().nullable(),
  gameId: z.string().nullable(),
  currency: z.string().meta({ description: 'The currency of ours, theirs and difference' }),
  ours: amount.nullable(),
  theirs: amount.nullable(),
  difference: amount,
  detail: z.string(),
  state: z.enum(['open', 'resolved', 'voided']),
  foundAt: z.string(),
  expectedUntil: z.string().nullable(),
};

const matchGroupSchema = z
  .object({
    id: z.string(),
    shape: z.string(),
    confidence: z.number().int(),
    decision: z.string(),
    state: z.string(),
    evidence: z.record(z.string(), z.unknown()),
    members: z.array(z.object({ exceptionId: z.string(), side: z.string(), txIds: z.array(z.string()) })),
  })
  .meta({ id: 'ExceptionMatchGroup' });

const exceptionDetailResponse = z
  .object({
    exception: z.object({
      ...exceptionCore,
      resolution: decisionSchema.nullable(),
      generation: z.number().int(),
      assignee: z.object({ actor: z.string(), name: z.string() }).nullable(),
      escalatedTier: z.string().nullable(),
      resolutionGroup: z.string().nullable(),
      writeOffAccount: z.string().nullable(),
      evidence: z.unknown(),
      suggestion: z.unknown(),
    }),
    ours: txSchema.nullable(),
    theirs: z.array(reportRowSchema),
    theirsAggregate: z
      .object({ betCount: z.string(), bets: amount, wins: amount })
      .nullable()
      .meta({ description: "The provider's totals for the day, game and currency (aggregated reports)" }),
    matchGroup: matchGroupSchema.nullable(),
    history: z.array(
      historyEvent.extend({
        actor: z.string(),
        version: z.number().int(),
        updateId: z.string().nullable(),
        assignee: z.string().nullable(),
        assigneeName: z.string().nullable(),
        tier: z.string().nullable(),
      }),
    ),
    temporalUiUrl: z.string(),
  })
  .meta({
    id: 'ExceptionDetail',
    example: {
      exception: {
        settlementId: 'settlement:nova-slots:2026-11-23',
        exceptionId: 'amount_mismatch:tx-2',
        kind: 'amount_mismatch',
        txId: 'tx-2',
        businessDate: '2026-11-23',
        gameId: 'book-of-sun',
        currency: 'EUR',
        ours: '25.50',
        theirs: '25.60',
        difference: '0.10',
        detail: 'amount differs',
        state: 'open',
        foundAt: '2026-11-24T01:05:00.000Z',
        expectedUntil: null,
        resolution: null,
        generation: 1,
        assignee: null,
        escalatedTier: null,
        resolutionGroup: null,
        writeOffAccount: null,
        evidence: null,
        suggestion: null,
      },
      ours: null,
      theirs: [],
      theirsAggregate: null,
      matchGroup: null,
      history: [],
      temporalUiUrl:
        'http://localhost:8233/namespaces/default/workflows/settlement%3Anova-slots%3A2026-11-23',
    },
  });

/** What a partner reads of an exception: no operator, actor, assignee, evidence; decisions by role. */
const exceptionDetailPartnerView = z.object({
  exception: z
    .object({
      ...exceptionCore,
      resolution: decisionSchema.extend({ by: z.unknown().transform(() => OPERATIONS) }).nullable(),
    })
    .transform(asPartnerSees),
  ours: txSchema.nullable(),
  theirs: z.array(reportRowSchema),
  theirsAggregate: z.object({ betCount: z.string(), bets: amount, wins: amount }).nullable(),
  matchGroup: matchGroupSchema.nullable(),
  history: z
    .array(historyEvent)
    .transform((events) =>
      events
        .filter((e) => PARTNER_EVENTS.has(e.event))
        .map((e) => ({ ...e, by: e.byKind === 'system' && SYSTEM_SHOWN.has(e.by) ? e.by : OPERATIONS })),
    ),
});

const journalSchema = z
  .object({
    id: z.string(),
    kind: z.string(),
    digest: z.string(),
    entries: z.array(
      z.object({
        key: z.string(),
        effectiveDate: z.string(),
        sourceKind: z.string(),
        line: z.string().nullable().meta({ description: 'The statement line the entry comes from' }),
        postings: z.array(z.object({ debit: z.string(), credit: z.string(), amount, currency: z.string() })),
      }),
    ),
  })
  .meta({ id: 'CycleJournal' });

const feesSchema = z
  .object({
    contractVersion: z.number().optional(),
    grossFee: amount.optional(),
    taxWithheld: amount.optional(),
    netPayable: amount.optional(),
    ggr: amount.optional(),
    feeBase: amount.optional(),
    lines: z
      .array(
        z.object({
          code: z.string(),
          description: z.string(),
          base: amount,
          rate: z.string().nullable(),
          amount,
        }),
      )
      .optional(),
  })
  .meta({ id: 'CycleFees', description: 'The fee figures the fee step stored' });

const recordCore = {
  id: z.string(),
  partnerId: z.string(),
  status: z.string(),
  period: z.object({ start: day, end: day }),
  currency: z.string(),
  frozenAt: z.string().nullable(),
  feesComputedAt: z.string().nullable(),
  statementPublishedAt: z.string().nullable(),
  fees: feesSchema.nullable(),
  book: z.object({ version: z.number().int(), total: z.number().int(), open: z.number().int() }).nullable(),
  fxLocks: z.array(
    z.object({ from: z.string(), to: z.string(), rate: z.string(), source: z.string(), asOf: z.string() }),
  ),
  journal: journalSchema.nullable(),
  payoutJournal: journalSchema.nullable(),
  ledgerEntries: z.array(
    z.object({ id: z.string(), key: z.string(), sourceKind: z.string(), effectiveDate: z.string() }),
  ),
};

const recordResponse = z
  .object({
    ...recordCore,
    requestedBy: z
      .object({ name: z.string(), plannedBy: z.string() })
      .nullable()
      .meta({ description: 'Operators only' }),
    temporalUiUrl: z
      .string()
      .meta({ description: "The cycle's workflow in the Temporal UI (operators only)" }),
  })
  .meta({
    id: 'CycleRecord',
    example: {
      id: 'settlement:nova-slots:2026-11-23',
      partnerId: 'nova-slots',
      status: 'Completed',
      period: { start: '2026-11-23', end: '2026-11-23' },
      currency: 'EUR',
      frozenAt: '2026-11-24T01:00:00.000Z',
      feesComputedAt: '2026-11-24T01:02:00.000Z',
      statementPublishedAt: '2026-11-24T01:02:01.000Z',
      fees: { contractVersion: 1, grossFee: '90.00', taxWithheld: '0.00', netPayable: '90.00' },
      book: { version: 2, total: 1, open: 0 },
      fxLocks: [],
      journal: null,
      payoutJournal: null,
      ledgerEntries: [],
      requestedBy: { name: 'ana', plannedBy: 'api' },
      temporalUiUrl:
        'http://localhost:8233/namespaces/default/workflows/settlement%3Anova-slots%3A2026-11-23',
    },
  });
const recordPartnerView = z.object(recordCore);

const postingSchema = z
  .object({
    entryId: z.string(),
    line: z.number().int(),
    entryKey: z.string(),
    effectiveDate: z.string(),
    postedAt: z.string(),
    direction: z.enum(['debit', 'credit']),
    amount,
    currency: z.string(),
    otherAccount: z.string().meta({ description: 'The account on the other side of the posting' }),
    sourceKind: z.string(),
    sourceRef: z.string(),
  })
  .meta({ id: 'AccountPosting' });

const accountEntriesResponse = z
  .object({
    code: z.string(),
    currency: z.string(),
    postings: z.array(postingSchema),
    nextCursor: nextCursorSchema,
  })
  .meta({
    id: 'AccountPostings',
    example: {
      code: 'partner:nova-slots:game_activity:EUR',
      currency: 'EUR',
      postings: [
        {
          entryId: '1042',
          line: 0,
          entryKey: 'ingest:nova-slots:batch-1:EUR:2026-11-23',
          effectiveDate: '2026-11-23',
          postedAt: '2026-11-23T21:15:01.000Z',
          direction: 'debit',
          amount: '120.00',
          currency: 'EUR',
          otherAccount: 'partner:nova-slots:gaming_revenue:EUR',
          sourceKind: 'ingest_batch',
          sourceRef: 'nova-slots/batch-1',
        },
      ],
      nextCursor: null,
    },
  });

const entryResponse = z
  .object({
    id: z.string(),
    key: z.string(),
    effectiveDate: z.string(),
    postedAt: z.string(),
    sourceKind: z.string(),
    sourceRef: z.string(),
    metadata: z.record(z.string(), z.unknown()),
    reversesEntryId: z.string().nullable(),
    reversedBy: z.string().nullable(),
    postings: z.array(
      z.object({
        line: z.number().int(),
        debit: z.string(),
        credit: z.string(),
        amount,
        currency: z.string(),
      }),
    ),
    source: z
      .discriminatedUnion('kind', [
        z.object({
          kind: z.literal('ingest_batch'),
          partnerId: z.string(),
          batchId: z.string(),
          receivedAt: z.string().nullable(),
          received: z.number().int().nullable(),
          accepted: z.number().int().nullable(),
          duplicates: z.number().int().nullable(),
          stale: z.number().int().nullable(),
          transactions: z.string().meta({
            description: "The batch's transactions of the entry's business day (a path of this API)",
          }),
        }),
        z.object({
          kind: z.literal('settlement'),
          settlementId: z.string(),
          journalId: z.string().nullable(),
          record: z.string().meta({ description: "The cycle's record (a path of this API)" }),
          exceptions: z.array(z.object({ exceptionId: z.string(), amount })),
        }),
        z.object({ kind: z.literal('other'), ref: z.string() }),
      ])
      .meta({ id: 'LedgerEntrySource' }),
  })
  .meta({
    id: 'LedgerEntryDetail',
    example: {
      id: '1042',
      key: 'ingest:nova-slots:batch-1:EUR:2026-11-23',
      effectiveDate: '2026-11-23',
      postedAt: '2026-11-23T21:15:01.000Z',
      sourceKind: 'ingest_batch',
      sourceRef: 'nova-slots/batch-1',
      metadata: { partnerId: 'nova-slots', batchId: 'batch-1', ggrMinor: '12000' },
      reversesEntryId: null,
      reversedBy: null,
      postings: [
        {
          line: 0,
          debit: 'partner:nova-slots:game_activity:EUR',
          credit: 'partner:nova-slots:gaming_revenue:EUR',
          amount: '120.00',
          currency: 'EUR',
        },
      ],
      source: {
        kind: 'ingest_batch',
        partnerId: 'nova-slots',
        batchId: 'batch-1',
        receivedAt: '2026-11-23T21:15:01.000Z',
        received: 3,
        accepted: 3,
        duplicates: 0,
        stale: 0,
        transactions: '/v1/partners/nova-slots/transactions?date=2026-11-23&batchId=batch-1',
      },
    },
  });

/** A partner sees only its own cycles; another partner's is indistinguishable from none. */
function visibleCycle(principal: Principal, id: string): boolean {
  return (
    principal.kind === 'operator' ||
    (principal.kind === 'partner' && id.startsWith(`settlement:${principal.partnerId}:`))
  );
}

const isSystemActor = (actor: string) =>
  actor === 'reconciliation' ||
  actor === 'matcher' ||
  actor.startsWith('rule:') ||
  actor.startsWith('bulk:') ||
  actor.startsWith('workflow:') ||
  actor.startsWith('sla');

export function drillDownRoutes(
  router: Router,
  registry: OpenAPIRegistry,
  deps: ApiDeps,
  auth: AuthDeps,
  currencies: CurrencyRegistry,
): void {
  const fmt = (minor: bigint | string, currency: string) =>
    formatAmount(BigInt(minor), currencies.requireScale(currency));
  const txView = (t: StoredTransaction) => ({
    id: t.tx_id,
    type: t.type,
    roundId: t.round_id,
    playerId: t.player_id,
    gameId: t.game_id,
    amount: fmt(t.amount_minor, t.currency),
    currency: t.currency,
    occurredAt: t.occurred_at.toISOString(),
    businessDate: t.business_date,
    refId: t.ref_id,
    orphan: t.type === 'rollback' && t.ref_type === null,
    reason: t.reason,
    batchId: t.batch_id,
    receivedAt: t.received_at.toISOString(),
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/partners/{partnerId}/transactions',
    summary:
      "A business day's transactions of a partner, by game, round and id (operator, or the partner itself)",
    description:
      "One business day (the partner's timezone), in (gameId, roundId, id) order, paged with cursors; filtered by " +
      'game, type, player, round or the batch that delivered them. Read through the index of a day and game ' +
      '(partner, day, game, round, id): a page reads its own rows, never the partner’s history; naming the game ' +
      'narrows the read to that game.',
    tags: ['transactions'],
    auth: 'any',
    partnerView: txListResponse,
    params: z.object({ partnerId: partnerIdSchema }),
    query: z.object({
      date: day.meta({ example: '2026-11-23', description: 'The business day' }),
      gameId: providerId.optional(),
      type: z.enum(transactionTypes).optional(),
      playerId: providerId.optional(),
      roundId: providerId.optional(),
      batchId: providerId.optional(),
      ...pageQuery,
    }),
    responses: { 200: jsonResponse(txListResponse, 'A page of transactions'), ...errorResponses(404) },
    handler: async ({ params, query, principal }) => {
      const partner = await visiblePartnerInPath(deps.db, principal, params.partnerId);
      const after = decodeCursor(query.cursor, z.tuple([z.string(), z.string(), z.string()]));
      const rows = await dayTransactions(deps.db, {
        partnerId: partner.id,
        date: query.date,
        gameId: query.gameId,
        type: query.type,
        playerId: query.playerId,
        roundId: query.roundId,
        batchId: query.batchId,
        after: after ? { gameId: after[0], roundId: after[1], txId: after[2] } : null,
        limit: query.limit + 1,
      });
      const { items, nextCursor } = page(rows, query.limit, (r) => [r.game_id, r.round_id, r.tx_id]);
      return {
        status: 200,
        body: { partnerId: partner.id, date: query.date, transactions: items.map(txView), nextCursor },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    // Not /exceptions/{exceptionId} itself: that template would also match the POST-only
    // /exceptions/import, /bulk and /resolutions, and their 405s would advertise a GET.
    path: '/v1/settlements/{id}/exceptions/{exceptionId}/detail',
    summary: 'An exception with both sides, its match group and its history (a partner: its own cycles)',
    description:
      "Our transaction and the provider's report rows it is about (or the provider's totals, for an aggregated " +
      'report), the match group it belongs to with its confidence and evidence, and its history. Operators read who ' +
      "decided, its assignee and the rules' evidence; a partner reads decisions as `operations` (reconciliation and " +
      'the matcher by name) and the history of the money only (no assignments or escalations).',
    tags: ['settlements'],
    auth: 'any',
    partnerView: exceptionDetailPartnerView,
    params: z.object({ id: settlementIdSchema, exceptionId: z.string().min(1).max(300) }),
    responses: { 200: jsonResponse(exceptionDetailResponse, 'The exception'), ...errorResponses(404) },
    handler: async ({ params, principal }) => {
      const missing = () =>
        new NotFoundError(`no exception ${params.exceptionId} in settlement ${params.id}`, [
          { path: 'params.exceptionId', message: 'not found' },
        ]);
      if (!visibleCycle(principal, params.id)) throw missing();
      const e = await exceptionOf(deps.db, params.id, params.exceptionId);
      if (!e) throw missing();
      const currency = e.currency ?? e.settlementCurrency;
      const groups = (await matchGroupsOf(deps.db, params.id, params.exceptionId)).filter(
        (g) => g.generation === e.generation,
      );
      const group = groups[groups.length - 1] ?? null;
      const members = group?.members ?? [];
      const memberIds = [...new Set([e.exceptionId, ...members.map((m) => m.exceptionId)])];
      const [oursIds, theirs, history] = await Promise.all([
        ourTxIds(deps.db, params.id, e.generation, memberIds),
        theirRows(deps.db, params.id, e.generation, memberIds),
        exceptionHistory(deps.db, params.id, params.exceptionId),
      ]);
      const ownTxIds = new Set([
        ...(e.txId ? [e.txId] : []),
        ...oursIds.filter((o) => o.exceptionId === e.exceptionId).map((o) => o.txId),
      ]);
      const ours = await transactionsById(deps.db, e.partnerId, [...ownTxIds]);
      const aggregate =
        e.txId === null && e.gameId !== null && e.businessDate !== null && e.currency !== null
          ? await theirAggregate(deps.db, params.id, {
              businessDate: e.businessDate,
              gameId: e.gameId,
              currency: e.currency,
            })
          : null;
      const txIdsOf = (exceptionId: string, side: string) =>
        side === 'ours'
          ? oursIds.filter((o) => o.exceptionId === exceptionId).map((o) => o.txId)
          : [...new Set(theirs.filter((t) => t.exceptionId === exceptionId).map((t) => t.txId))];
      const state = e.generation < e.currentGeneration ? 'voided' : e.resolvedAt ? 'resolved' : 'open';
      const resolutionBy = e.operator ?? e.actor ?? 'unknown';
      return {
        status: 200,
        body: {
          exception: {
            settlementId: e.cycleId,
            exceptionId: e.exceptionId,
            kind: e.kind,
            txId: e.txId,
            businessDate: e.businessDate,
            gameId: e.gameId,
            currency,
            ours: e.oursMinor === null ? null : fmt(e.oursMinor, currency),
            theirs: e.theirsMinor === null ? null : fmt(e.theirsMinor, currency),
            difference: fmt(e.differenceMinor, currency),
            detail: e.detail,
            state,
            foundAt: e.foundAt,
            expectedUntil: e.expectedUntil,
            resolution:
              e.resolution === null
                ? null
                : {
                    resolution: e.resolution,
                    // An adjustment's amount is in the cycle's settlement currency.
                    amount:
                      e.resolutionAmountMinor === null
                        ? null
                        : fmt(e.resolutionAmountMinor, e.settlementCurrency),
                    reason: e.reason,
                    by: resolutionBy,
                    at: e.resolvedAt,
                  },
            generation: e.generation,
            assignee: e.assignee === null ? null : { actor: e.assignee, name: e.assigneeName ?? e.assignee },
            escalatedTier: e.escalatedTier,
            resolutionGroup: e.resolutionGroup,
            writeOffAccount: e.writeOffAccount,
            evidence: e.evidence ?? null,
            suggestion: e.suggestion ?? null,
          },
          ours: ((t) => (t ? txView(t) : null))(ours.find((t) => t.tx_id === e.txId) ?? ours[0]),
          theirs: theirs
            .filter((t) => t.exceptionId === e.exceptionId)
            .map((t) => ({
              ord: t.ord,
              txId: t.txId,
              type: t.type,
              roundId: t.roundId,
              gameId: t.gameId,
              currency: t.currency,
              amount: fmt(t.amountMinor, t.currency),
              occurredAt: t.occurredAt,
              businessDate: t.businessDate,
              roundStatus: t.roundStatus,
            })),
          theirsAggregate:
            aggregate && e.currency
              ? {
                  betCount: aggregate.betCount,
                  bets: fmt(aggregate.betMinor, e.currency),
                  wins: fmt(aggregate.winMinor, e.currency),
                }
              : null,
          matchGroup: group
            ? {
                id: group.groupId,
                shape: group.shape,
                confidence: group.confidence,
                decision: group.decision,
                state: group.state,
                evidence: group.evidence as unknown as Record<string, unknown>,
                members: members.map((m) => ({
                  exceptionId: m.exceptionId,
                  side: m.side,
                  txIds: txIdsOf(m.exceptionId, m.side),
                })),
              }
            : null,
          history: history.map((h) => {
            const actor = String(h.actor);
            const amountMinor = h.amountMinor as string | null;
            return {
              event: String(h.event),
              at: (h.at as Date).toISOString(),
              generation: Number(h.generation),
              resolution: (h.resolution as string | null) ?? null,
              amount: amountMinor === null ? null : fmt(amountMinor, e.settlementCurrency),
              reason: (h.reason as string | null) ?? null,
              by: typeof h.actorName === 'string' ? h.actorName : actor,
              byKind: isSystemActor(actor) ? ('system' as const) : ('person' as const),
              actor,
              version: Number(h.version),
              updateId: (h.updateId as string | null) ?? null,
              assignee: (h.assignee as string | null) ?? null,
              assigneeName: (h.assigneeName as string | null) ?? null,
              tier: (h.tier as string | null) ?? null,
            };
          }),
          temporalUiUrl: temporalWorkflowUrl(deps.config, params.id),
        },
      };
    },
  });

  const journalView = async (id: string) => {
    const j: (Journal & { digest: string }) | null = await journalOf(deps.db, id);
    if (!j) return null;
    return {
      id: j.id,
      kind: j.kind,
      digest: j.digest,
      entries: j.entries.map((e) => ({
        key: e.key,
        effectiveDate: e.effectiveDate,
        sourceKind: e.sourceKind,
        line: typeof e.metadata.line === 'string' ? e.metadata.line : null,
        postings: e.postings.map((p) => ({
          debit: p.debit.code,
          credit: p.credit.code,
          amount: fmt(p.amountMinor, p.currency),
          currency: p.currency,
        })),
      })),
    };
  };

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/settlements/{id}/record',
    summary:
      "A cycle's record from Postgres: figures, FX locks, journal, ledger entries (a partner: its own)",
    description:
      'What Postgres holds of the cycle, never asking its workflow: status, period, when its sources froze, its fee ' +
      "figures, its exception book's version and counts, the FX rates it locked, its settlement and payout journals " +
      '(entries and postings by account code, with the digest they were stored under) and the ledger entries it ' +
      'posted. Operators also read who requested it and a link to its workflow in the Temporal UI.',
    tags: ['settlements'],
    auth: 'any',
    partnerView: recordPartnerView,
    params: z.object({ id: settlementIdSchema }),
    responses: { 200: jsonResponse(recordResponse, "The cycle's record"), ...errorResponses(404) },
    handler: async ({ params, principal }) => {
      const missing = () =>
        new NotFoundError(`settlement ${params.id} not found`, [{ path: 'params.id', message: 'not found' }]);
      if (!visibleCycle(principal, params.id)) throw missing();
      const c = await cycleRecord(deps.db, params.id);
      if (!c) throw missing();
      const [fxLocks, journal, payoutJournal, entries] = await Promise.all([
        lockedRates(deps.db, c.id),
        journalView(settlementJournalId(c.id)),
        journalView(payoutJournalId(c.id)),
        cycleLedgerEntries(deps.db, c.id),
      ]);
      const fees = feesSchema.safeParse(c.fees);
      return {
        status: 200,
        body: {
          id: c.id,
          partnerId: c.partnerId,
          status: c.status,
          period: { start: c.periodStart, end: c.periodEnd },
          currency: c.currency,
          frozenAt: c.frozenAt,
          feesComputedAt: c.feesComputedAt,
          statementPublishedAt: c.statementPublishedAt,
          fees: c.fees !== null && fees.success ? fees.data : null,
          book: c.book ? { version: c.book.version, total: c.book.total, open: c.book.open } : null,
          fxLocks,
          journal,
          payoutJournal,
          ledgerEntries: entries.map((e) => ({
            id: e.id,
            key: e.key,
            sourceKind: e.sourceKind,
            effectiveDate: e.effectiveDate,
          })),
          requestedBy:
            c.requestedByName && c.plannedBy ? { name: c.requestedByName, plannedBy: c.plannedBy } : null,
          temporalUiUrl: temporalWorkflowUrl(deps.config, c.id),
        },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/ledger/accounts/{code}/entries',
    summary: "An account's postings, newest first (operator)",
    description:
      'Each posting that moved the account: its entry (id and idempotency key), effective (business) date, when it was ' +
      'posted, debit or credit, the amount, the account on the other side and the source (an ingest batch ' +
      '`partnerId/batchId`, a cycle id). Newest effective date first, then newest entry; paged with cursors.',
    tags: ['ledger'],
    auth: 'viewer',
    params: z.object({ code: z.string().min(3).max(200) }),
    query: z.object(pageQuery),
    responses: { 200: jsonResponse(accountEntriesResponse, 'A page of postings'), ...errorResponses(404) },
    handler: async ({ params, query }) => {
      const account = await getAccount(deps.db, params.code);
      if (!account)
        throw new NotFoundError(`account ${params.code} not found`, [
          { path: 'params.code', message: 'not found' },
        ]);
      const after = decodeCursor(
        query.cursor,
        z.object({ d: day, e: z.string().regex(/^\d{1,19}$/), l: z.number().int().min(0).max(32767) }),
      );
      const rows = await accountPostings(deps.db, account.id, {
        after: after ? { effectiveDate: after.d, entryId: after.e, line: after.l } : null,
        limit: query.limit + 1,
      });
      const { items, nextCursor } = page(rows, query.limit, (r) => ({
        d: r.effectiveDate,
        e: r.entryId,
        l: r.line,
      }));
      return {
        status: 200,
        body: {
          code: account.code,
          currency: account.currency,
          postings: items.map((r) => ({
            entryId: r.entryId,
            line: r.line,
            entryKey: r.entryKey,
            effectiveDate: r.effectiveDate,
            postedAt: r.postedAt,
            direction: r.direction,
            amount: fmt(r.amountMinor, r.currency),
            currency: r.currency,
            otherAccount: r.otherAccount,
            sourceKind: r.sourceKind,
            sourceRef: r.sourceRef,
          })),
          nextCursor,
        },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/ledger/entries/{id}',
    summary: 'A ledger entry, its postings and its source (operator)',
    description:
      'The entry with its postings by account code, and where it came from: an ingest batch (partner, batch id, when ' +
      "it arrived, its counts, and the path of the batch's transactions of that business day), or a cycle (its " +
      'journal, its record, and the exceptions a resolution entry covers).',
    tags: ['ledger'],
    auth: 'viewer',
    params: z.object({ id: z.string().regex(/^[1-9][0-9]{0,18}$/, 'a ledger entry id') }),
    responses: { 200: jsonResponse(entryResponse, 'The entry'), ...errorResponses(404) },
    handler: async ({ params }) => {
      const e = BigInt(params.id) <= 2n ** 63n - 1n ? await ledgerEntry(deps.db, params.id) : null;
      if (!e)
        throw new NotFoundError(`ledger entry ${params.id} not found`, [
          { path: 'params.id', message: 'not found' },
        ]);
      let source: z.infer<typeof entryResponse>['source'] = { kind: 'other', ref: e.sourceRef };
      const slash = e.sourceRef.indexOf('/');
      if (e.sourceKind === 'ingest_batch' && slash > 0) {
        const partnerId = e.sourceRef.slice(0, slash);
        const batchId = e.sourceRef.slice(slash + 1);
        const batch = await ingestBatchOf(deps.db, partnerId, batchId);
        source = {
          kind: 'ingest_batch',
          partnerId,
          batchId,
          receivedAt: batch?.receivedAt ?? null,
          received: batch?.received ?? null,
          accepted: batch?.accepted ?? null,
          duplicates:
            batch && batch.received !== null && batch.accepted !== null
              ? batch.received - batch.accepted
              : null,
          stale: batch?.stale ?? null,
          transactions: `/v1/partners/${encodeURIComponent(partnerId)}/transactions?date=${e.effectiveDate}&batchId=${encodeURIComponent(batchId)}`,
        };
      } else if (e.sourceRef.startsWith('settlement:')) {
        const journal = (await journalOf(deps.db, settlementJournalId(e.sourceRef)))?.entries.some(
          (x) => x.key === e.key,
        )
          ? settlementJournalId(e.sourceRef)
          : (await journalOf(deps.db, payoutJournalId(e.sourceRef)))?.entries.some((x) => x.key === e.key)
            ? payoutJournalId(e.sourceRef)
            : null;
        const currency = e.postings[0]?.currency;
        source = {
          kind: 'settlement',
          settlementId: e.sourceRef,
          journalId: journal,
          record: `/v1/settlements/${encodeURIComponent(e.sourceRef)}/record`,
          exceptions: (await entryExceptions(deps.db, e.key)).map((x) => ({
            exceptionId: x.exceptionId,
            amount: currency ? fmt(x.amountMinor, currency) : x.amountMinor,
          })),
        };
      }
      return {
        status: 200,
        body: {
          id: e.id,
          key: e.key,
          effectiveDate: e.effectiveDate,
          postedAt: e.postedAt,
          sourceKind: e.sourceKind,
          sourceRef: e.sourceRef,
          metadata: e.metadata,
          reversesEntryId: e.reversesEntryId,
          reversedBy: e.reversedBy,
          postings: e.postings.map((p) => ({
            line: p.line,
            debit: p.debit,
            credit: p.credit,
            amount: fmt(p.amountMinor, p.currency),
            currency: p.currency,
          })),
          source,
        },
      };
    },
  });
}
