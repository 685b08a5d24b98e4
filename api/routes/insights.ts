import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import {
  activityHours,
  cyclesByStatus,
  exceptionEvents,
  ingestMinutes,
  stuckCycles,
} from '../../db/insights';
import { BadRequestError } from '../../domain/errors';
import { createCurrencyRegistry, formatAmount, type CurrencyRegistry } from '../../domain/money';
import { partnerIdSchema } from '../../domain/partner';
import { settlementStatuses } from '../../domain/settlement';
import { authDeps } from '../auth';
import type { ApiDeps } from '../deps';
import { mountRoute } from '../route';
import { errorResponses, instantSchema, jsonResponse } from '../schemas';
import { drillDownRoutes } from './insights-drill-down';
import { forecastRoutes } from './insights-forecast';
import {
  amount,
  checkRange,
  day,
  dayFigures,
  FigureSum,
  figuresOf,
  inSettlementSchema,
  temporalWorkflowUrl,
  visiblePartners,
} from './insights-money';

// The figures the console shows (GET /v1/insights/*): revenue per partner, day, game and hour,
// the ingest rate, cycles by status and why the stuck ones wait, exceptions over time. Every
// number on the console comes from one of these (or the drill-down and forecast routes mounted
// from here), so the console and the API cannot drift.

/** The longest revenue range for one partner, and across every partner (each day reads every partner's positions). */
export const MAX_REVENUE_DAYS = 366;
export const MAX_REVENUE_DAYS_ALL_PARTNERS = 31;
/** Per game, a range reads one row per day, game and currency: a month at most. */
export const MAX_REVENUE_DAYS_BY_GAME = 31;
/** The hourly series covers at most two weeks. */
export const MAX_HOURLY_DAYS = 14;

const NGR_NOTE =
  'NGR = GGR − bonus cost − jackpot contributions (domain/fees.ts netGamingRevenue), **before gaming tax**: ' +
  "gaming tax is assessed per month on a cycle's statement, so these figures never include it.";

const revenueRow = z
  .object({
    partnerId: z.string(),
    businessDate: day.optional().meta({ description: 'groupBy=day only' }),
    gameId: z.string().optional().meta({ description: 'groupBy=game only' }),
    currency: z.string().meta({ description: 'The currency played in; the figures below are in it' }),
    txCount: z.string().meta({ description: 'Transactions stored' }),
    bets: amount.meta({ description: 'Stakes after rollbacks' }),
    wins: amount.meta({ description: 'Wins after rollbacks' }),
    ggr: amount.meta({ description: 'bets − wins' }),
    bonusCost: amount.meta({ description: 'Winnings of bonus play, net of their rollbacks' }),
    jackpotContributions: amount,
    ngr: amount.meta({ description: 'Before gaming tax' }),
    inSettlement: inSettlementSchema.nullable(),
  })
  .meta({ id: 'RevenueRow' });

const revenueTotal = z
  .object({
    partnerId: z.string(),
    currency: z.string().meta({ description: "The partner's settlement currency" }),
    ggr: amount,
    ngr: amount.meta({ description: 'Before gaming tax' }),
    indicative: z.boolean().meta({
      description:
        "True unless every figure converted at a rate a cycle locked (or needed no conversion): until then it is the day's reference rate, indicative",
    }),
    complete: z
      .boolean()
      .meta({ description: 'False when some figure had no rate at all: it is left out of these totals' }),
    unconverted: z.array(z.string()).meta({ description: 'Currencies left out for want of a rate' }),
  })
  .meta({ id: 'RevenueTotal' });

const revenueResponse = z
  .object({
    from: day,
    to: day,
    groupBy: z.enum(['partner', 'day', 'game']),
    partnerId: z.string().nullable(),
    ngrBasis: z.literal('before_gaming_tax'),
    rows: z.array(revenueRow),
    totals: z.array(revenueTotal),
  })
  .meta({
    id: 'Revenue',
    example: {
      from: '2026-11-23',
      to: '2026-11-23',
      groupBy: 'partner',
      partnerId: null,
      ngrBasis: 'before_gaming_tax',
      rows: [
        {
          partnerId: 'nova-slots',
          currency: 'USD',
          txCount: '1200',
          bets: '5000.00',
          wins: '4100.00',
          ggr: '900.00',
          bonusCost: '20.00',
          jackpotContributions: '5.00',
          ngr: '875.00',
          inSettlement: {
            currency: 'EUR',
            ggr: '829.35',
            ngr: '806.31',
            rate: '0.9215',
            rateDay: '2026-11-23',
            source: 'fx-service',
            asOf: '2026-11-23T00:05:00.000Z',
            basis: 'reference',
            ratesUsed: 1,
          },
        },
      ],
      totals: [
        {
          partnerId: 'nova-slots',
          currency: 'EUR',
          ggr: '829.35',
          ngr: '806.31',
          indicative: true,
          complete: true,
          unconverted: [],
        },
      ],
    },
  });

const revenueQuery = z
  .object({
    from: day.optional().meta({ example: '2026-11-01', description: 'First business day (with `to`)' }),
    to: day.optional().meta({ example: '2026-11-30', description: 'Last business day (with `from`)' }),
    date: day
      .optional()
      .meta({ example: '2026-11-23', description: 'One business day: instead of from and to' }),
    partnerId: partnerIdSchema.optional(),
    groupBy: z.enum(['partner', 'day', 'game']).default('partner'),
  })
  .superRefine((q, ctx) => {
    if (q.date !== undefined) {
      if (q.from !== undefined || q.to !== undefined)
        ctx.addIssue({ code: 'custom', path: ['date'], message: 'give either date, or from and to' });
      return;
    }
    if (q.from === undefined) ctx.addIssue({ code: 'custom', path: ['from'], message: 'required (or date)' });
    if (q.to === undefined) ctx.addIssue({ code: 'custom', path: ['to'], message: 'required (or date)' });
    if (q.from !== undefined && q.to !== undefined && q.to < q.from)
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'must not be before from' });
  });

const hourlyResponse = z
  .object({
    from: z.string(),
    to: z.string(),
    partnerId: z.string().nullable(),
    hours: z.array(
      z
        .object({
          hour: z.string().meta({ description: 'Start of the hour (UTC) the transactions occurred in' }),
          partnerId: z.string(),
          currency: z.string(),
          txCount: z.string(),
          betCount: z.string(),
          bets: amount.meta({ description: 'Stakes as received (rollbacks not netted)' }),
          wins: amount.meta({ description: 'Wins as received (rollbacks not netted)' }),
          ggr: amount.meta({ description: 'GGR after rollbacks, as the ledger accrues it' }),
        })
        .meta({ id: 'RevenueHour' }),
    ),
  })
  .meta({
    id: 'HourlyRevenue',
    example: {
      from: '2026-11-23T00:00:00.000Z',
      to: '2026-11-24T00:00:00.000Z',
      partnerId: 'nova-slots',
      hours: [
        {
          hour: '2026-11-23T08:00:00.000Z',
          partnerId: 'nova-slots',
          currency: 'EUR',
          txCount: '320',
          betCount: '200',
          bets: '2000.00',
          wins: '1800.00',
          ggr: '200.00',
        },
      ],
    },
  });

const hourlyQuery = z
  .object({
    from: instantSchema.meta({ example: '2026-11-23T00:00:00Z' }),
    to: instantSchema.meta({ example: '2026-11-24T00:00:00Z' }),
    partnerId: partnerIdSchema.optional(),
  })
  .superRefine((q, ctx) => {
    if (Date.parse(q.to) < Date.parse(q.from))
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'must not be before from' });
    else if (Date.parse(q.to) - Date.parse(q.from) > MAX_HOURLY_DAYS * 86_400_000)
      ctx.addIssue({ code: 'custom', path: ['to'], message: `at most ${MAX_HOURLY_DAYS} days after from` });
  });

const ingestRateResponse = z
  .object({
    minutes: z.number().int(),
    since: z.string(),
    until: z.string(),
    perMinute: z.array(
      z
        .object({
          minute: z.string(),
          batches: z.number().int(),
          received: z.number().int().meta({ description: 'Transactions in the batches received' }),
          accepted: z.number().int().meta({ description: 'New transactions stored' }),
          duplicates: z.number().int().meta({ description: 'received − accepted' }),
        })
        .meta({ id: 'IngestMinute' }),
    ),
    total: z
      .object({
        batches: z.number().int(),
        received: z.number().int(),
        accepted: z.number().int(),
        duplicates: z.number().int(),
        stale: z.number().int().meta({
          description: 'Received more than 24 h after they occurred, or dated more than 5 min ahead',
        }),
        perSecond: z.number().meta({ description: 'Transactions received per second over the window' }),
      })
      .meta({ id: 'IngestTotal' }),
  })
  .meta({
    id: 'IngestRate',
    example: {
      minutes: 2,
      since: '2026-11-23T12:00:00.000Z',
      until: '2026-11-23T12:01:30.000Z',
      perMinute: [
        { minute: '2026-11-23T12:00:00.000Z', batches: 3, received: 3000, accepted: 2990, duplicates: 10 },
        { minute: '2026-11-23T12:01:00.000Z', batches: 1, received: 1000, accepted: 1000, duplicates: 0 },
      ],
      total: { batches: 4, received: 4000, accepted: 3990, duplicates: 10, stale: 0, perSecond: 33.33 },
    },
  });

const cyclesResponse = z
  .object({
    byStatus: z.array(
      z.object({ status: z.string(), count: z.number().int() }).meta({ id: 'CycleStatusCount' }),
    ),
    olderThanMinutes: z.number().int(),
    stuckTotal: z.number().int(),
    stuck: z.array(
      z
        .object({
          id: z.string(),
          partnerId: z.string(),
          status: z.string(),
          periodStart: day,
          periodEnd: day,
          since: z.string().meta({ description: 'When the cycle last changed' }),
          why: z.string().meta({ description: 'What it waits for, from Postgres' }),
          openExceptions: z.number().int(),
          waitingFor: z.array(z.string()).meta({ description: 'Earlier cycles of its month it waits for' }),
          temporalUiUrl: z.string(),
        })
        .meta({ id: 'StuckCycle' }),
    ),
  })
  .meta({
    id: 'CycleInsights',
    example: {
      byStatus: [
        { status: 'AwaitingResolution', count: 2 },
        { status: 'Completed', count: 40 },
      ],
      olderThanMinutes: 60,
      stuckTotal: 1,
      stuck: [
        {
          id: 'settlement:nova-slots:2026-11-23',
          partnerId: 'nova-slots',
          status: 'AwaitingResolution',
          periodStart: '2026-11-23',
          periodEnd: '2026-11-23',
          since: '2026-11-24T01:10:00.000Z',
          why: '3 open exceptions of 5 (oldest found 2026-11-24T01:09:58.000Z): resolve them',
          openExceptions: 3,
          waitingFor: [],
          temporalUiUrl:
            'http://localhost:8233/namespaces/default/workflows/settlement%3Anova-slots%3A2026-11-23',
        },
      ],
    },
  });

const exceptionsOverTimeResponse = z
  .object({
    partnerId: z.string().nullable(),
    openNow: z.number().int(),
    days: z.array(
      z
        .object({
          date: day.meta({ description: 'UTC day' }),
          found: z.number().int(),
          resolved: z.number().int().meta({ description: 'Closed by a decision (net of reversals)' }),
          voided: z.number().int().meta({ description: 'Open ones closed because their run was replaced' }),
          open: z.number().int().meta({ description: 'Open at the end of the day' }),
        })
        .meta({ id: 'ExceptionDay' }),
    ),
  })
  .meta({
    id: 'ExceptionsOverTime',
    example: {
      partnerId: null,
      openNow: 4,
      days: [
        { date: '2026-11-23', found: 6, resolved: 1, voided: 0, open: 5 },
        { date: '2026-11-24', found: 0, resolved: 1, voided: 0, open: 4 },
      ],
    },
  });

/** What stuck cycles wait for, said from Postgres (never asked of the workflow). */
function whyStuck(c: Awaited<ReturnType<typeof stuckCycles>>['cycles'][number]): string {
  switch (c.status) {
    case 'WaitingForCutoff':
      return `its cut-off passed at ${c.cutoffAt}: waiting for the contract's grace window to end (is its worker running?)`;
    case 'Reconciling':
      return c.reportProgressAt
        ? `fetching or reconciling the provider report: ${c.reportPages ?? 'some'} page(s) stored, the last at ${c.reportProgressAt}`
        : 'fetching the provider report: no page stored yet (is the provider answering?)';
    case 'AwaitingResolution':
      return (
        `${c.openExceptions} open exception(s) of ${c.totalExceptions}` +
        (c.oldestOpenFoundAt ? ` (oldest found ${c.oldestOpenFoundAt})` : '') +
        ': resolve them'
      );
    case 'WaitingForEarlierPeriods':
      return c.waitingFor.length > 0
        ? `its fees follow the earlier periods of its month, not computed yet: ${c.waitingFor.join(', ')}`
        : 'its fees follow the earlier periods of its month (all computed now: it should move on)';
    case 'AwaitingPayoutApproval':
      return `its payout${c.netPayable ? ` of ${c.netPayable}` : ''} waits for approval (maker-checker)`;
    default:
      return `${c.status} since ${c.since}: a step that has not finished (see the workflow in the Temporal UI)`;
  }
}

export function insightRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);
  const currencies: CurrencyRegistry = createCurrencyRegistry(deps.config.currencies.extraAssets);

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/insights/revenue',
    summary:
      'GGR and NGR per partner, business day or game, with an indicative conversion (a partner: its own)',
    description:
      'From the positions ingest keeps (stripes summed), per partner, currency and — with `groupBy` — business day ' +
      'or game, over `from`..`to` (or one `date`). Bets and wins are after rollbacks, as the statement counts them. ' +
      `${NGR_NOTE} ` +
      "Each row is also given in the partner's settlement currency (`inSettlement`): at the rate the cycle covering " +
      "the day locked (`basis: locked`, what its statement uses), else at the day's reference rate of the FX service " +
      '(`basis: reference`, indicative), converted field by field half-even as the statement does; null when a day ' +
      "has no rate yet. `totals` sum the converted rows per partner, `indicative: true` until every row's rate is " +
      `locked. Ranges: at most ${MAX_REVENUE_DAYS} days for one partner, ${MAX_REVENUE_DAYS_ALL_PARTNERS} across ` +
      `all partners; \`groupBy=game\` needs one partner and at most ${MAX_REVENUE_DAYS_BY_GAME} days (400 naming the ` +
      'field otherwise). A partner reads its own figures; naming another partner is a 404.',
    tags: ['insights'],
    auth: 'any',
    partnerView: revenueResponse,
    query: revenueQuery,
    responses: { 200: jsonResponse(revenueResponse, 'Revenue rows and totals'), ...errorResponses(404) },
    handler: async ({ query, principal }) => {
      const from = query.date ?? query.from!;
      const to = query.date ?? query.to!;
      const onePartner = principal.kind === 'partner' || query.partnerId !== undefined;
      if (query.groupBy === 'game' && !onePartner)
        throw new BadRequestError('groupBy=game reads one partner: name it', [
          { path: 'query.partnerId', message: 'required with groupBy=game' },
        ]);
      if (query.groupBy === 'game') checkRange(from, to, MAX_REVENUE_DAYS_BY_GAME, 'per game');
      else if (onePartner) checkRange(from, to, MAX_REVENUE_DAYS, 'for one partner');
      else
        checkRange(from, to, MAX_REVENUE_DAYS_ALL_PARTNERS, 'across all partners: name a partner for more');
      const partners = await visiblePartners(deps.db, principal, query.partnerId);
      const figures = await dayFigures(deps.db, currencies, {
        partners,
        from,
        to,
        byGame: query.groupBy === 'game',
      });
      // Rows at the asked grain, in partner, day, game, currency order.
      const groups = new Map<
        string,
        {
          partnerId: string;
          businessDate?: string;
          gameId?: string;
          currency: string;
          to: string;
          sum: FigureSum;
        }
      >();
      const totals = new Map<
        string,
        { sum: FigureSum; unconverted: Set<string>; currency: string; indicative: boolean }
      >();
      for (const f of figures) {
        const key = [
          f.row.partnerId,
          query.groupBy === 'day' ? f.row.businessDate : '',
          query.groupBy === 'game' ? f.row.gameId : '',
          f.row.currency,
        ].join('|');
        let g = groups.get(key);
        if (!g)
          groups.set(
            key,
            (g = {
              partnerId: f.row.partnerId,
              ...(query.groupBy === 'day' ? { businessDate: f.row.businessDate } : {}),
              ...(query.groupBy === 'game' ? { gameId: f.row.gameId! } : {}),
              currency: f.row.currency,
              to: f.partner.settlementCurrency,
              sum: new FigureSum(),
            }),
          );
        g.sum.add(f);
        let t = totals.get(f.row.partnerId);
        if (!t)
          totals.set(
            f.row.partnerId,
            (t = {
              sum: new FigureSum(),
              unconverted: new Set(),
              currency: f.partner.settlementCurrency,
              indicative: false,
            }),
          );
        if (!f.converted) {
          t.unconverted.add(f.row.currency);
          t.indicative = true;
        } else {
          if (f.converted.basis === 'reference') t.indicative = true;
          // Totals add the converted figures, in the settlement currency.
          t.sum.add({ ...f, totals: f.converted.totals, converted: { ...f.converted } });
        }
      }
      const rows = [...groups.values()].map((g) => ({
        partnerId: g.partnerId,
        ...(g.businessDate !== undefined ? { businessDate: g.businessDate } : {}),
        ...(g.gameId !== undefined ? { gameId: g.gameId } : {}),
        currency: g.currency,
        ...figuresOf(g.sum, g.currency, g.to, currencies),
      }));
      return {
        status: 200,
        body: {
          from,
          to,
          groupBy: query.groupBy,
          partnerId: principal.kind === 'partner' ? principal.partnerId : (query.partnerId ?? null),
          ngrBasis: 'before_gaming_tax' as const,
          rows,
          totals: [...totals.entries()].map(([partnerId, t]) => {
            const own = figuresOf(t.sum, t.currency, t.currency, currencies);
            return {
              partnerId,
              currency: t.currency,
              ggr: own.ggr,
              ngr: own.ngr,
              indicative: t.indicative,
              complete: t.unconverted.size === 0,
              unconverted: [...t.unconverted].sort(),
            };
          }),
        },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/insights/revenue/hourly',
    summary: 'Transactions, bets, wins and GGR per hour of occurrence (a partner: its own)',
    description:
      'From the hourly rollup ingest keeps in the same transaction as the rows (activity_hours), per partner, hour ' +
      `(UTC, of occurrence) and currency, over [from, to) — at most ${MAX_HOURLY_DAYS} days. Hours without activity are ` +
      'absent. Bets and wins are as received; GGR is after rollbacks (a rollback counts in its own hour).',
    tags: ['insights'],
    auth: 'any',
    partnerView: hourlyResponse,
    query: hourlyQuery,
    responses: { 200: jsonResponse(hourlyResponse, 'Hours, oldest first'), ...errorResponses(404) },
    handler: async ({ query, principal }) => {
      const partners = await visiblePartners(deps.db, principal, query.partnerId);
      const rows = await activityHours(deps.db, {
        partnerIds: partners.map((p) => p.id),
        from: query.from,
        to: query.to,
      });
      const fmt = (m: string, c: string) => formatAmount(BigInt(m), currencies.requireScale(c));
      return {
        status: 200,
        body: {
          from: query.from,
          to: query.to,
          partnerId: principal.kind === 'partner' ? principal.partnerId : (query.partnerId ?? null),
          hours: rows.map((r) => ({
            hour: r.hour,
            partnerId: r.partnerId,
            currency: r.currency,
            txCount: r.txCount,
            betCount: r.betCount,
            bets: fmt(r.betMinor, r.currency),
            wins: fmt(r.winMinor, r.currency),
            ggr: fmt(r.ggrMinor, r.currency),
          })),
        },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/insights/ingest-rate',
    summary: 'Transactions received, accepted and duplicated per minute (operator)',
    description:
      'From the counts each ingest batch records in its own transaction (ingest_batches), by the minute it was ' +
      'received, over the last `minutes` minutes (every minute listed, quiet ones as zeros); a replayed batch id adds ' +
      'nothing. `perSecond` is the transactions received per second over the window.',
    tags: ['insights'],
    auth: 'viewer',
    query: z.object({
      minutes: z.coerce.number().int().min(1).max(1440).default(60).meta({ description: 'At most a day' }),
      partnerId: partnerIdSchema.optional(),
    }),
    responses: { 200: jsonResponse(ingestRateResponse, 'The ingest rate') },
    handler: async ({ query }) => {
      const got = await ingestMinutes(deps.db, {
        minutes: query.minutes,
        partnerId: query.partnerId ?? null,
      });
      const perMinute = got.minutes.map((m) => ({
        minute: m.minute,
        batches: m.batches,
        received: m.received,
        accepted: m.accepted,
        duplicates: m.received - m.accepted,
      }));
      const sum = (f: (m: (typeof got.minutes)[number]) => number) =>
        got.minutes.reduce((s, m) => s + f(m), 0);
      const received = sum((m) => m.received);
      const seconds = Math.max(1, (Date.parse(got.until) - Date.parse(got.since)) / 1000);
      return {
        status: 200,
        body: {
          minutes: query.minutes,
          since: got.since,
          until: got.until,
          perMinute,
          total: {
            batches: sum((m) => m.batches),
            received,
            accepted: sum((m) => m.accepted),
            duplicates: received - sum((m) => m.accepted),
            stale: sum((m) => m.stale),
            perSecond: Math.round((received / seconds) * 100) / 100,
          },
        },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/insights/cycles',
    summary: 'Cycles by status, and the stuck ones with what each waits for (operator)',
    description:
      "From Postgres, never the workflows: every status's count, and the cycles neither Completed nor Failed that have " +
      'not changed for `olderThanMinutes` (a cycle before its cut-off waits as planned and is not listed), oldest first, ' +
      'each with why — its open exceptions, the earlier periods of its month it waits for, its report fetch, its payout ' +
      'approval — and its page in the Temporal UI.',
    tags: ['insights'],
    auth: 'viewer',
    query: z.object({
      olderThanMinutes: z.coerce.number().int().min(0).max(10_080).default(60),
      limit: z.coerce.number().int().min(1).max(500).default(50),
      partnerId: partnerIdSchema.optional(),
    }),
    responses: { 200: jsonResponse(cyclesResponse, 'Cycles by status, and the stuck ones') },
    handler: async ({ query }) => {
      const [byStatus, stuck] = await Promise.all([
        cyclesByStatus(deps.db, settlementStatuses),
        stuckCycles(deps.db, {
          olderThanMinutes: query.olderThanMinutes,
          limit: query.limit,
          partnerId: query.partnerId ?? null,
        }),
      ]);
      return {
        status: 200,
        body: {
          byStatus,
          olderThanMinutes: query.olderThanMinutes,
          stuckTotal: stuck.total,
          stuck: stuck.cycles.map((c) => ({
            id: c.id,
            partnerId: c.partnerId,
            status: c.status,
            periodStart: c.periodStart,
            periodEnd: c.periodEnd,
            since: c.since,
            why: whyStuck(c),
            openExceptions: c.openExceptions,
            waitingFor: c.waitingFor,
            temporalUiUrl: temporalWorkflowUrl(deps.config, c.id),
          })),
        },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/insights/exceptions-over-time',
    summary: 'Exceptions found, resolved and open per day (a partner: its own)',
    description:
      "From the exception book's history (exception_events) over the last `days` UTC days, today included: found, " +
      'closed by a decision (resolved, or settled as expected; net of reversals), voided with a replaced run, and open ' +
      "at each day's end (counted back from the books' open counts now).",
    tags: ['insights'],
    auth: 'any',
    partnerView: exceptionsOverTimeResponse,
    query: z.object({
      days: z.coerce.number().int().min(1).max(366).default(30),
      partnerId: partnerIdSchema.optional(),
    }),
    responses: {
      200: jsonResponse(exceptionsOverTimeResponse, 'One row per day, oldest first'),
      ...errorResponses(404),
    },
    handler: async ({ query, principal }) => {
      const partners =
        principal.kind === 'partner' || query.partnerId !== undefined
          ? await visiblePartners(deps.db, principal, query.partnerId)
          : null;
      const partnerId = partners ? partners[0]!.id : null;
      const today = new Date().toISOString().slice(0, 10);
      const dates = Array.from({ length: query.days }, (_, i) =>
        new Date(Date.parse(`${today}T00:00:00Z`) - (query.days - 1 - i) * 86_400_000)
          .toISOString()
          .slice(0, 10),
      );
      const got = await exceptionEvents(deps.db, { partnerId, fromDay: dates[0]! });
      const byDay = new Map(got.days.map((d) => [d.day, d]));
      // Open at the end of each day: now's count, less what each later day changed.
      let open = got.openNow;
      const out = [];
      for (let i = dates.length - 1; i >= 0; i--) {
        const d = byDay.get(dates[i]!) ?? { found: 0, resolved: 0, voided: 0 };
        out.push({ date: dates[i]!, found: d.found, resolved: d.resolved, voided: d.voided, open });
        open -= d.found - d.resolved - d.voided;
      }
      return { status: 200, body: { partnerId, openNow: got.openNow, days: out.reverse() } };
    },
  });

  drillDownRoutes(router, registry, deps, auth, currencies);
  forecastRoutes(router, registry, deps, auth, currencies);
}
