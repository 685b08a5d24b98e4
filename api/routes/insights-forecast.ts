import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { partnerToday, settledNetPayables } from '../../db/insights';
import { contractInForce } from '../../db/settlement';
import { forecastMonth, type DailyFigure, type Forecast } from '../../domain/forecast';
import { formatAmount, parseAmount, type CurrencyRegistry } from '../../domain/money';
import { partnerIdSchema } from '../../domain/partner';
import type { AuthDeps } from '../auth';
import type { ApiDeps } from '../deps';
import { mountRoute } from '../route';
import { errorResponses, jsonResponse } from '../schemas';
import { amount, dayFigures, ggrOf, visiblePartnerInPath } from './insights-money';

// Expected payouts for a month: what the partner's daily figures so far say the month will
// come to (domain/forecast.ts: month to date + each remaining day at its weekday's mean over
// the trailing weeks, with an interval), beside last month's actual. Treasury plans cash with
// it; it is labelled a forecast everywhere it is shown.

/** Weeks of history behind the weekday means (forecastMonth's default). */
export const FORECAST_WEEKS = 8;

const DAY_MS = 86_400_000;
const addDays = (d: string, n: number) =>
  new Date(Date.parse(`${d}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
const lastDayOf = (month: string) => {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10);
};
const previousMonth = (month: string) => addDays(`${month}-01`, -1).slice(0, 7);

const forecastResponse = z
  .object({
    partnerId: z.string(),
    label: z.literal('forecast'),
    basis: z.enum(['net_payable', 'ggr']).meta({
      description:
        "net_payable: the net payable of each of the partner's settled daily cycles (it settles daily); ggr: its daily GGR in the settlement currency (indicative conversion where no cycle locked a rate), for partners that settle weekly or monthly",
    }),
    currency: z.string().meta({ description: "The partner's settlement currency" }),
    month: z.string(),
    asOf: z.string().meta({ description: "The last complete day in the partner's timezone" }),
    forecast: z
      .object({
        monthToDate: amount,
        projected: amount,
        low: amount,
        high: amount,
        remainingDays: z.number().int(),
        weeksOfHistory: z.number().int(),
        method: z.string(),
        byWeekday: z.array(
          z.object({
            weekday: z.number().int().meta({ description: 'Monday = 0 … Sunday = 6' }),
            mean: amount,
            days: z.number().int(),
          }),
        ),
      })
      .nullable()
      .meta({ description: 'Null when the history is too short to project (see unavailable)' }),
    unavailable: z.string().nullable(),
    lastMonth: z
      .object({ label: z.literal('actual'), month: z.string(), actual: amount, days: z.number().int() })
      .meta({ description: "Last month's figures summed (days: how many days had one)" }),
    unconverted: z
      .array(z.string())
      .meta({ description: 'ggr basis: currencies left out on some day for want of a rate' }),
  })
  .meta({
    id: 'PayoutForecast',
    example: {
      partnerId: 'nova-slots',
      label: 'forecast',
      basis: 'net_payable',
      currency: 'EUR',
      month: '2026-11',
      asOf: '2026-11-23',
      forecast: {
        monthToDate: '2070.00',
        projected: '2700.00',
        low: '2510.40',
        high: '2889.60',
        remainingDays: 7,
        weeksOfHistory: 8,
        method:
          'Month to date (23 days to 2026-11-23) plus each of the 7 remaining days at the mean of its weekday…',
        byWeekday: [{ weekday: 0, mean: '90.00', days: 8 }],
      },
      unavailable: null,
      lastMonth: { label: 'actual', month: '2026-10', actual: '2790.00', days: 31 },
      unconverted: [],
    },
  });

export function forecastRoutes(
  router: Router,
  registry: OpenAPIRegistry,
  deps: ApiDeps,
  auth: AuthDeps,
  currencies: CurrencyRegistry,
): void {
  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/partners/{partnerId}/forecast',
    summary: "Expected payouts of a month, projected from the partner's daily figures (a forecast)",
    description:
      'The daily figure is the net payable of each settled daily cycle (by the last day of its period) when the ' +
      "partner's contract settles daily; otherwise its daily GGR in the settlement currency (`basis`). Month to date " +
      'through the last complete day in its timezone (`asOf`), each remaining day at the mean of its weekday over ' +
      `the trailing ${FORECAST_WEEKS} weeks, an interval of ±1.96 standard deviations (domain/forecast.ts; \`method\` ` +
      "says it in words), beside last month's actual. `month` defaults to the current one; a later month is projected " +
      'whole from the same weekday means (nothing of it to date).',
    tags: ['insights'],
    auth: 'any',
    partnerView: forecastResponse,
    params: z.object({ partnerId: partnerIdSchema }),
    query: z.object({
      month: z
        .string()
        .regex(/^(?:19[7-9]\d|2\d{3})-(?:0[1-9]|1[0-2])$/, 'a month written YYYY-MM, 1970 to 2999')
        .optional()
        .meta({ example: '2026-11' }),
    }),
    responses: {
      200: jsonResponse(forecastResponse, 'The forecast, beside last month'),
      ...errorResponses(404),
    },
    handler: async ({ params, query, principal }) => {
      const partner = await visiblePartnerInPath(deps.db, principal, params.partnerId);
      const today = (await partnerToday(deps.db, partner.id))!;
      const month = query.month ?? today.slice(0, 7);
      const yesterday = addDays(today, -1);
      const asOf = lastDayOf(month) < yesterday ? lastDayOf(month) : yesterday;
      const last = previousMonth(month);
      const from = [`${last}-01`, addDays(asOf, -7 * FORECAST_WEEKS + 1)].sort()[0]!;
      const scale = currencies.requireScale(partner.settlementCurrency);
      const contract = await contractInForce(deps.db, partner.id, today);
      const daily = contract?.terms.settlement.period === 'daily';

      const history: DailyFigure[] = [];
      const unconverted = new Set<string>();
      if (daily) {
        for (const c of await settledNetPayables(deps.db, { partnerId: partner.id, from, to: asOf })) {
          const parsed = parseAmount(c.netPayable, scale, { allowNegative: true });
          if (parsed.ok) history.push({ date: c.periodEnd, amountMinor: parsed.minor });
        }
      } else {
        const figures = await dayFigures(deps.db, currencies, {
          partners: [partner],
          from,
          to: asOf,
          byGame: false,
        });
        for (const f of figures) {
          if (!f.converted) unconverted.add(f.row.currency);
          else history.push({ date: f.row.businessDate, amountMinor: ggrOf(f.converted.totals) });
        }
      }

      // Net payables exist only for days whose cycle has settled: the forecast stands on the last
      // of them, and the days after it are projected, never counted as nothing.
      const lastSettled = daily
        ? history
            .map((h) => h.date)
            .sort()
            .pop()
        : undefined;
      const standsOn = lastSettled !== undefined && lastSettled < asOf ? lastSettled : asOf;
      const fmt = (m: bigint) => formatAmount(m, scale);
      let forecast: Forecast | null = null;
      let unavailable: string | null = null;
      try {
        forecast = forecastMonth(history, month, standsOn, FORECAST_WEEKS);
      } catch (err) {
        if (!(err instanceof RangeError)) throw err;
        unavailable = err.message;
      }
      const lastDays = history.filter((h) => h.date.startsWith(`${last}-`));
      return {
        status: 200,
        body: {
          partnerId: partner.id,
          label: 'forecast' as const,
          basis: daily ? ('net_payable' as const) : ('ggr' as const),
          currency: partner.settlementCurrency,
          month,
          asOf: standsOn,
          forecast: forecast
            ? {
                monthToDate: fmt(forecast.monthToDateMinor),
                projected: fmt(forecast.projectedMinor),
                low: fmt(forecast.lowMinor),
                high: fmt(forecast.highMinor),
                remainingDays: forecast.remainingDays,
                weeksOfHistory: forecast.weeksOfHistory,
                method: forecast.method,
                byWeekday: forecast.byWeekday.map((w) => ({
                  weekday: w.weekday,
                  mean: fmt(w.meanMinor),
                  days: w.days,
                })),
              }
            : null,
          unavailable,
          lastMonth: {
            label: 'actual' as const,
            month: last,
            actual: fmt(lastDays.reduce((s, h) => s + h.amountMinor, 0n)),
            days: new Set(lastDays.map((h) => h.date)).size,
          },
          unconverted: [...unconverted].sort(),
        },
      };
    },
  });
}
