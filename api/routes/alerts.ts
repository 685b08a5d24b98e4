import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { acknowledgeAlert, alertKinds, getAlert, listAlerts, type Alert } from '../../db/alerts';
import {
  effectiveBigWinSettings,
  partnerWatchSettings,
  putPartnerWatchSettings,
  type PartnerWatchSettings,
} from '../../db/watch';
import { actorKey } from '../../domain/actors';
import { ConflictError, NotFoundError } from '../../domain/errors';
import { createCurrencyRegistry, formatAmount, parseAmount } from '../../domain/money';
import { partnerIdSchema } from '../../domain/partner';
import { nonBlankText } from '../../domain/text';
import { operatorActor } from '../../platform/operators';
import { authDeps, type Principal } from '../auth';
import type { ApiDeps } from '../deps';
import { decodeCursor, nextCursorSchema, page, pageQuery } from '../paging';
import { mountRoute } from '../route';
import { errorResponses, jsonResponse } from '../schemas';

// The watch's alerts (activities/watch.ts raises them) and each partner's watch settings.
// Disclosure: a partner reads only the operational alerts about itself (a late report, its own
// silence), never an integrity signal (RTP drift, spikes, rollback rates, big wins), and never
// who acknowledged an alert or what they wrote; another partner's alert is a 404 like a missing one.

const alertIdSchema = z
  .string()
  .regex(/^[1-9][0-9]{0,17}$/, 'an alert id (a positive whole number)')
  .meta({ example: '42' });

const isoOrNull = z.string().nullable();

/**
 * A decimal above 0 with at most `whole` and `fraction` digits, as a pattern without lookaheads
 * (the OpenAPI document states exactly what is accepted).
 */
function positiveDecimal(whole: number, fraction: number): RegExp {
  const nonZeroFraction = Array.from(
    { length: fraction },
    (_, zeros) => `0{${zeros}}[1-9]\\d{0,${fraction - zeros - 1}}`,
  ).join('|');
  return new RegExp(`^(?:[1-9]\\d{0,${whole - 1}}(?:\\.\\d{1,${fraction}})?|0\\.(?:${nonZeroFraction}))$`);
}

/** What a partner reads of an alert: no evidence (its queries are ours), no acknowledgement names or notes. */
const partnerAlert = z.object({
  id: z.string(),
  kind: z.string(),
  severity: z.string(),
  state: z.string(),
  partnerId: z.string().nullable(),
  subject: z.string(),
  title: z.string(),
  windowStart: isoOrNull,
  windowEnd: isoOrNull,
  firstSeen: z.string(),
  lastSeen: z.string(),
  occurrences: z.number(),
  resolvedAt: isoOrNull,
  acknowledged: z.boolean(),
});

const operatorAlert = partnerAlert
  .extend({
    dedupKey: z.string().meta({ description: 'One active alert per key: the same condition refreshes it' }),
    disclosure: z.enum(['operational', 'integrity']),
    evidence: z
      .record(z.string(), z.unknown())
      .meta({ description: 'The numbers and `query`, the SQL that reproduces them' }),
    acknowledgement: z
      .object({ actor: z.string(), name: z.string(), note: z.string().nullable(), at: z.string() })
      .nullable(),
    notifiedAt: isoOrNull.meta({ description: 'When the operations webhook accepted it' }),
  })
  .meta({ id: 'Alert' });

const alertList = z
  .object({ alerts: z.array(operatorAlert), nextCursor: nextCursorSchema })
  .meta({ id: 'AlertList' });
const partnerAlertList = z.object({ alerts: z.array(partnerAlert), nextCursor: nextCursorSchema });

const view = (a: Alert) => ({
  id: a.id,
  kind: a.kind,
  severity: a.severity,
  state: a.state,
  partnerId: a.partnerId,
  subject: a.subject,
  title: a.title,
  windowStart: a.windowStart,
  windowEnd: a.windowEnd,
  firstSeen: a.firstSeen,
  lastSeen: a.lastSeen,
  occurrences: a.occurrences,
  resolvedAt: a.resolvedAt,
  acknowledged: a.acknowledgement !== null,
  dedupKey: a.dedupKey,
  disclosure: a.disclosure,
  evidence: a.evidence,
  acknowledgement: a.acknowledgement,
  notifiedAt: a.notifiedAt,
});

/** Whether this caller may see the alert at all (a partner: its own operational ones). */
const visible = (principal: Principal, a: Alert): boolean =>
  principal.kind === 'operator' ||
  (principal.kind === 'partner' && a.partnerId === principal.partnerId && a.disclosure === 'operational');

const notFound = (id: string) =>
  new NotFoundError(`alert ${id} not found`, [{ path: 'params.alertId', message: 'not found' }]);

export function alertRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);
  const currencies = createCurrencyRegistry(deps.config.currencies.extraAssets);

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/alerts',
    summary: 'Alerts of the watch, newest first (a partner sees the operational alerts about itself)',
    description:
      'Anomalies and integrity signals with their evidence (operators), one per crossing: refreshed while the ' +
      'condition holds, resolved when it clears. A partner reads only operational alerts about itself (a late ' +
      'provider report, its traffic gone silent), without evidence or who acknowledged them; asking for another ' +
      "partner's is a 404.",
    tags: ['alerts'],
    auth: 'any',
    partnerView: partnerAlertList,
    query: z.object({
      state: z.enum(['active', 'resolved']).optional(),
      kind: z.enum(alertKinds as [string, ...string[]]).optional(),
      severity: z.enum(['info', 'warning', 'critical']).optional(),
      partnerId: partnerIdSchema.optional(),
      ...pageQuery,
    }),
    responses: { 200: jsonResponse(alertList, 'Alerts'), ...errorResponses(400, 401, 404) },
    handler: async ({ query, principal }) => {
      let partnerId = query.partnerId;
      if (principal.kind === 'partner') {
        if (partnerId !== undefined && partnerId !== principal.partnerId)
          throw new NotFoundError(`partner ${partnerId} not found`, [
            { path: 'query.partnerId', message: 'not found' },
          ]);
        partnerId = principal.partnerId;
      }
      const after = decodeCursor(query.cursor, alertIdSchema);
      const rows = await listAlerts(
        deps.db,
        {
          state: query.state,
          kind: query.kind,
          severity: query.severity,
          partnerId,
          disclosure: principal.kind === 'partner' ? 'operational' : undefined,
        },
        { after, limit: query.limit + 1 },
      );
      const { items, nextCursor } = page(rows, query.limit, (a) => a.id);
      return { status: 200, body: { alerts: items.map(view), nextCursor } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/alerts/{alertId}',
    summary: 'One alert with its evidence (a partner: its own operational alerts, without evidence)',
    tags: ['alerts'],
    auth: 'any',
    partnerView: partnerAlert,
    params: z.object({ alertId: alertIdSchema }),
    responses: { 200: jsonResponse(operatorAlert, 'The alert'), ...errorResponses(400, 401, 404) },
    handler: async ({ params, principal }) => {
      const a = await getAlert(deps.db, params.alertId);
      if (!a || !visible(principal, a)) throw notFound(params.alertId);
      return { status: 200, body: view(a) };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/alerts/{alertId}/acknowledgement',
    summary: 'Acknowledge an alert with a note (resolver); recorded with who did it, and audited',
    description:
      'The acknowledging operator is the caller (from the token, never the body). The same operator sending the ' +
      'same note again changes nothing (`changed: false`); an alert already acknowledged otherwise is a 409. An ' +
      'acknowledged alert stays active while its condition holds (acknowledging is not resolving).',
    tags: ['alerts'],
    auth: 'resolver',
    params: z.object({ alertId: alertIdSchema }),
    body: z
      .object({ note: nonBlankText(2000) })
      .strict()
      .meta({ id: 'AlertAcknowledgement' }),
    bodyExample: { note: 'spike is the partner’s Friday promotion; confirmed with their ops' },
    responses: {
      200: jsonResponse(z.object({ alert: operatorAlert, changed: z.boolean() }), 'Acknowledged'),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
    handler: async ({ params, body, principal }) => {
      if (principal.kind !== 'operator') throw new Error('unreachable: a resolver route');
      const r = await acknowledgeAlert(deps.db, params.alertId, {
        actor: actorKey(operatorActor(principal)),
        name: principal.name,
        note: body.note,
      });
      if (r.outcome === 'not_found') throw notFound(params.alertId);
      if (r.outcome === 'conflict') {
        const ack = r.alert.acknowledgement!;
        throw new ConflictError(`alert ${params.alertId} was acknowledged by ${ack.name} at ${ack.at}`, [
          { path: 'note', message: 'already acknowledged with another note or by another operator' },
        ]);
      }
      return { status: 200, body: { alert: view(r.alert), changed: r.outcome === 'acknowledged' } };
    },
  });

  // Watch settings per partner: the big-win limits (null: the production default).
  const settingsResponse = z
    .object({
      partnerId: z.string(),
      settlementCurrency: z.string(),
      own: z.object({
        bigWinAmount: z
          .string()
          .nullable()
          .meta({ description: 'Major units of the settlement currency; null: default' }),
        bigWinMultiple: z.string().nullable(),
        updatedBy: z.string().nullable(),
        updatedAt: z.string().nullable(),
      }),
      effective: z.object({
        bigWinAmount: z.string(),
        bigWinMultiple: z.string(),
        amountSource: z.enum(['partner', 'default']),
        multipleSource: z.enum(['partner', 'default']),
      }),
    })
    .meta({ id: 'WatchSettings' });

  const settingsOf = async (own: PartnerWatchSettings) => {
    const eff = await effectiveBigWinSettings(deps.db, deps.config, own.partnerId, currencies);
    return {
      partnerId: own.partnerId,
      settlementCurrency: own.settlementCurrency,
      own: {
        bigWinAmount:
          own.bigWinAbsoluteMinor === null ? null : formatAmount(own.bigWinAbsoluteMinor, eff.scale),
        bigWinMultiple: own.bigWinMultiple,
        updatedBy: own.updatedBy,
        updatedAt: own.updatedAt,
      },
      effective: {
        bigWinAmount: formatAmount(eff.absoluteMinor, eff.scale),
        bigWinMultiple: eff.multiple,
        amountSource: eff.amountSource,
        multipleSource: eff.multipleSource,
      },
    };
  };
  const partnerNotFound = (id: string) =>
    new NotFoundError(`partner ${id} not found`, [{ path: 'params.partnerId', message: 'not found' }]);

  mountRoute(router, registry, auth, {
    method: 'put',
    path: '/v1/partners/{partnerId}/watch-settings',
    summary: "Set the partner's big-win limits (admin); null or absent: the production default",
    description:
      'A win is held for review at ingest when it is above bigWinAmount (major units of the settlement currency, at ' +
      "most its decimal places) AND above bigWinMultiple × its round's bets. Defaults: WATCH_BIG_WIN_AMOUNT and " +
      'WATCH_BIG_WIN_MULTIPLE (40,000 and 350×).',
    tags: ['alerts'],
    auth: 'admin',
    params: z.object({ partnerId: partnerIdSchema }),
    body: z
      .object({
        bigWinAmount: z
          .string()
          .regex(positiveDecimal(15, 18), 'a decimal amount above 0, e.g. "25000"')
          .nullable()
          .optional()
          .meta({ description: 'Major units of the settlement currency, at most its decimal places' }),
        bigWinMultiple: z
          .string()
          .regex(positiveDecimal(9, 4), 'a decimal multiple above 0, e.g. "350"')
          .nullable()
          .optional(),
      })
      .strict()
      .meta({ id: 'WatchSettingsInput' }),
    bodyExample: { bigWinAmount: '25000', bigWinMultiple: '500' },
    responses: {
      200: jsonResponse(settingsResponse, 'Stored'),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
    handler: async ({ params, body, principal }) => {
      if (principal.kind !== 'operator') throw new Error('unreachable: an admin route');
      const own = await partnerWatchSettings(deps.db, params.partnerId);
      if (!own) throw partnerNotFound(params.partnerId);
      let amountMinor: bigint | null = null;
      if (body.bigWinAmount !== null && body.bigWinAmount !== undefined) {
        const scale = currencies.requireScale(own.settlementCurrency);
        const parsed = parseAmount(body.bigWinAmount, scale, { allowZero: false });
        // Valid as written; what the partner's settlement currency allows is stored state (a 409).
        if (!parsed.ok)
          throw new ConflictError(`bigWinAmount ${parsed.message} for ${own.settlementCurrency}`, [
            { path: 'bigWinAmount', message: `${parsed.message} for ${own.settlementCurrency}` },
          ]);
        amountMinor = parsed.minor;
      }
      await putPartnerWatchSettings(
        deps.db,
        params.partnerId,
        { bigWinAbsoluteMinor: amountMinor, bigWinMultiple: body.bigWinMultiple ?? null },
        actorKey(operatorActor(principal)),
      );
      return {
        status: 200,
        body: await settingsOf((await partnerWatchSettings(deps.db, params.partnerId))!),
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/partners/{partnerId}/watch-settings',
    summary: "The partner's big-win limits: its own and those in force (operator)",
    tags: ['alerts'],
    auth: 'viewer',
    params: z.object({ partnerId: partnerIdSchema }),
    responses: { 200: jsonResponse(settingsResponse, 'Settings'), ...errorResponses(400, 401, 404) },
    handler: async ({ params }) => {
      const own = await partnerWatchSettings(deps.db, params.partnerId);
      if (!own) throw partnerNotFound(params.partnerId);
      return { status: 200, body: await settingsOf(own) };
    },
  });
}
