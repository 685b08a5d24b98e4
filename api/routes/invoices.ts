import { randomUUID } from 'node:crypto';
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import {
  comparisonOf,
  compareInvoice,
  cycleStatementExists,
  formatLine,
  getInvoice,
  listInvoices,
  monthState,
  resolveVariance,
  submitInvoice,
  type StoredInvoice,
} from '../../db/invoices';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../domain/errors';
import {
  checkInvoice,
  invoiceBodySchema,
  invoiceId,
  varianceResolutions,
  varianceRestatement,
} from '../../domain/invoices';
import { createCurrencyRegistry, formatAmount, parseAmount, type CurrencyRegistry } from '../../domain/money';
import { partnerIdSchema } from '../../domain/partner';
import { statementLineKeys } from '../../domain/statement';
import { nonBlankText } from '../../domain/text';
import { requestRestatement } from '../../services/restatements';
import { hasRole, operatorActor } from '../../platform/operators';
import { actorKey } from '../../domain/actors';
import { authDeps, principalActor, principalRoles, type Principal } from '../auth';
import type { ApiDeps } from '../deps';
import { decodeCursor, nextCursorSchema, page, pageQuery } from '../paging';
import { mountRoute } from '../route';
import { errorResponses, jsonResponse } from '../schemas';
import { visiblePartnerInPath } from './insights-money';

// Partner invoices (issue 20): a partner (its API key, or an admin user in the console) or an
// operator on its behalf submits its invoice for a period; it is compared line by line with the
// statements of that period (domain/reconciliation.ts feeVariance) at once when its period is
// one cycle's and that statement exists, or when its month is closed, else when the month closes
// (activities/invoices.ts compareInvoicesForPeriod). Each line beyond the contract's tolerance is
// a fee_variance exception in the exception book of the period's last cycle: in GET
// /v1/exceptions and the exception queue with its SLA, resolved here.

const INVOICE_ID = /^inv-[0-9a-f]{24}$/;
const invoiceIdSchema = z.string().regex(INVOICE_ID, 'an invoice id such as inv-0123456789abcdef01234567');

const amount = z.string();
const comparisonSchema = z.object({
  trigger: z.enum(['cycle', 'period_close']).meta({
    description: "What compared it: the invoice's period is one cycle's (`cycle`), or its month is closed",
  }),
  comparedAt: z.string(),
  contractVersion: z.number().int(),
  tolerance: z.object({
    absoluteMinor: z.string(),
    percent: z.string(),
    base: z.string(),
    rounding: z.string(),
  }),
  statements: z.array(z.object({ settlementId: z.string(), version: z.number().int() })),
  lines: z.array(
    z.object({
      line: z.enum(statementLineKeys),
      ours: amount,
      theirs: amount,
      difference: amount.meta({ description: 'theirs − ours' }),
      tolerance: amount.meta({ description: 'The largest |difference| the tolerance admits for this line' }),
      exceptionId: z.string().nullable(),
    }),
  ),
  variances: z.number().int(),
  exceptions: z.array(
    z.object({
      exceptionId: z.string(),
      settlementId: z.string(),
      line: z.enum(statementLineKeys),
      ours: amount,
      theirs: amount,
      difference: amount,
      resolution: z.string().nullable(),
      amount: amount.nullable(),
      reason: z.string().nullable(),
      resolvedAt: z.string().nullable(),
    }),
  ),
});

/** What a partner reads of an invoice: everything but who submitted it. */
const invoiceViewForPartner = z.object({
  invoiceId: z.string(),
  partnerId: z.string(),
  reference: z.string(),
  period: z.object({ start: z.string(), end: z.string() }),
  currency: z.string(),
  lines: z.array(z.object({ line: z.enum(statementLineKeys), amount })),
  submittedAt: z.string(),
  comparison: comparisonSchema.nullable(),
  comparisonPending: z.string().nullable(),
});
const invoiceView = invoiceViewForPartner
  // Operators read who submitted it; a partner's view leaves them out.
  .extend({ submittedBy: z.string().optional(), submittedByRole: z.string().optional() })
  .meta({ id: 'PartnerInvoiceView' });

const resolutionBody = z
  .object({
    resolution: z.enum(varianceResolutions).meta({
      description:
        "accept_ours: our statement stands, nothing moves. accept_theirs: the partner's line stands, the cycle is restated by the difference. adjust: the cycle is restated by `amount` (signed, owed to the partner).",
    }),
    amount: z
      .string()
      .regex(/^-?\d{1,18}(\.\d{1,18})?$/, 'a signed decimal amount such as "-12.50"')
      .optional(),
    reason: nonBlankText(500),
  })
  .strict()
  .meta({ id: 'FeeVarianceResolution' });

export function invoiceRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);
  const currencies = createCurrencyRegistry(deps.config.currencies.extraAssets);
  const params = z.object({ partnerId: partnerIdSchema });
  const oneParams = params.extend({ invoiceId: invoiceIdSchema });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/partners/{partnerId}/invoices',
    summary: "Submit the partner's invoice for a period (partner, or an operator on its behalf)",
    description:
      "The partner's API key, a partner user with the admin role, or an operator with the resolver role (on the partner's behalf). " +
      'One amount per statement line key (tier_fee, category_fee, minimum_guarantee_top_up, fixed_fee, adjustment), in the ' +
      "currency's scale; the currency is the partner's settlement currency. The same reference with the same content answers the " +
      "stored invoice (200); with other content, 409. Compared at once when the period is exactly one cycle's period and that " +
      'statement exists, or when its month (of the period end) is closed; otherwise when the month closes. A partner names only itself (another partner: 404).',
    tags: ['invoices'],
    auth: 'any',
    partnerUserRole: 'admin',
    partnerView: invoiceViewForPartner,
    params,
    body: invoiceBodySchema,
    bodyExample: {
      reference: 'INV-2026-11',
      period: { start: '2026-11-01', end: '2026-11-30' },
      currency: 'EUR',
      lines: [
        { line: 'tier_fee', amount: '1234.50' },
        { line: 'fixed_fee', amount: '500.00' },
      ],
    },
    responses: {
      201: jsonResponse(invoiceView, 'Stored (and compared when it could be)'),
      200: jsonResponse(invoiceView, 'The same invoice was already submitted'),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
    handler: async ({ params: p, body, principal }) => {
      onBehalfCheck(principal);
      const partner = await visiblePartnerInPath(deps.db, principal, p.partnerId);
      const content = checkInvoice(body, {
        settlementCurrency: partner.settlementCurrency,
        scale: currencies.scaleOf(body.currency),
      });
      const id = invoiceId(partner.id, content.reference);
      const { invoice, created } = await submitInvoice(deps.db, id, partner.id, content, {
        actor: principalActor(principal),
        role: principalRoles(principal),
      });
      // Compared now when it can be and has not been (a resubmission after a failure compares it).
      if (!(await comparisonOf(deps.db, id))) {
        const trigger = await comparableNow(invoice);
        if (trigger) await compareInvoice(deps.db, currencies, id, trigger);
      }
      return { status: created ? 201 : 200, body: await view(invoice) };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/partners/{partnerId}/invoices',
    summary: "A partner's invoices, the latest period first (a partner sees its own)",
    tags: ['invoices'],
    auth: 'any',
    partnerView: z.object({ invoices: z.array(invoiceViewForPartner), nextCursor: nextCursorSchema }),
    params,
    query: z.object({ ...pageQuery }),
    responses: {
      200: jsonResponse(
        z.object({ invoices: z.array(invoiceView), nextCursor: nextCursorSchema }),
        'Invoices',
      ),
      ...errorResponses(400, 401, 404),
    },
    handler: async ({ params: p, query, principal }) => {
      await visiblePartnerInPath(deps.db, principal, p.partnerId);
      const after = decodeCursor(query.cursor, z.object({ periodEnd: z.string(), id: z.string() }));
      const rows = await listInvoices(deps.db, p.partnerId, { limit: query.limit + 1, after });
      const { items, nextCursor } = page(rows, query.limit, (r) => ({ periodEnd: r.periodEnd, id: r.id }));
      return { status: 200, body: { invoices: await Promise.all(items.map(view)), nextCursor } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/partners/{partnerId}/invoices/{invoiceId}',
    summary: 'One invoice with its comparison and its fee_variance exceptions (a partner sees its own)',
    tags: ['invoices'],
    auth: 'any',
    partnerView: invoiceViewForPartner,
    params: oneParams,
    responses: {
      200: jsonResponse(invoiceView, 'The invoice'),
      ...errorResponses(400, 401, 404),
    },
    handler: async ({ params: p, principal }) => {
      await visiblePartnerInPath(deps.db, principal, p.partnerId);
      return { status: 200, body: await view(await requireInvoice(p.partnerId, p.invoiceId)) };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/partners/{partnerId}/invoices/{invoiceId}/comparison',
    summary: 'Compare an invoice with the statements of its period again (resolver)',
    description:
      'Idempotent: an exception already in the book is not recorded again; the stored comparison is replaced (a ' +
      "restated statement's latest version counts). 409 when no statement of the period exists yet.",
    tags: ['invoices'],
    auth: 'resolver',
    params: oneParams,
    responses: {
      200: jsonResponse(invoiceView, 'Compared'),
      ...errorResponses(400, 401, 403, 404, 409),
    },
    handler: async ({ params: p }) => {
      const invoice = await requireInvoice(p.partnerId, p.invoiceId);
      const closed = (await monthState(deps.db, p.partnerId, invoice.periodEnd.slice(0, 7))) === 'closed';
      const outcome = await compareInvoice(
        deps.db,
        currencies,
        invoice.id,
        closed ? 'period_close' : 'cycle',
      );
      if (!outcome)
        throw new ConflictError(
          `no statement of ${p.partnerId} ends in ${invoice.periodStart}..${invoice.periodEnd} yet: nothing to compare with`,
        );
      return { status: 200, body: await view(invoice) };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/partners/{partnerId}/invoices/{invoiceId}/variances/{line}/resolution',
    summary: 'Resolve one fee_variance of an invoice (resolver)',
    description:
      'Recorded in the exception book of the cycle that holds it (its history: who, when, why; 409 when already resolved). ' +
      'accept_ours moves nothing. accept_theirs (by the difference) and adjust (by `amount`, signed, owed to the partner) ' +
      'request a restatement of that cycle (reason kind `invoice`, the line): it recomputes the period, needs two approvals ' +
      'and posts only the delta (its workflow `restatement:<id>`); the answer names it.',
    tags: ['invoices'],
    auth: 'resolver',
    params: oneParams.extend({ line: z.enum(statementLineKeys) }),
    body: resolutionBody,
    bodyExample: {
      resolution: 'accept_ours',
      reason: 'our statement follows the contract; partner informed',
    },
    responses: {
      200: jsonResponse(
        invoiceView.extend({
          restatement: z.object({ restatementId: z.string(), workflowId: z.string() }).nullable(),
        }),
        'Resolved (with the restatement it requested, if any)',
      ),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
    handler: async ({ params: p, body, principal, req }) => {
      if (principal.kind !== 'operator') throw new ForbiddenError('an operator resolves exceptions');
      const invoice = await requireInvoice(p.partnerId, p.invoiceId);
      const compared = await comparisonOf(deps.db, invoice.id);
      const exception = compared?.exceptions.find((e) => e.line === p.line);
      if (!compared || !exception)
        throw new NotFoundError(`invoice ${invoice.id} has no fee_variance on ${p.line}`, [
          { path: 'params.line', message: 'no fee_variance on this line' },
        ]);
      const scale = currencies.requireScale(invoice.currency);
      let amountMinor: bigint | null = null;
      if (body.resolution === 'adjust') {
        const a = body.amount === undefined ? null : parseAmount(body.amount, scale, { allowNegative: true });
        if (!a || !a.ok)
          throw new ValidationError('adjust needs an amount', [
            { path: 'amount', message: a ? a.message : 'required for adjust' },
          ]);
        amountMinor = a.minor;
      } else if (body.amount !== undefined)
        throw new ValidationError(`${body.resolution} takes no amount`, [
          { path: 'amount', message: 'only for adjust' },
        ]);
      const restatement = varianceRestatement(
        {
          invoiceId: invoice.id,
          line: p.line,
          differenceMinor: BigInt(exception.differenceMinor),
          detail: exception.detail,
        },
        body.resolution,
        amountMinor,
        body.reason,
      );
      if (exception.resolution !== null)
        throw new ConflictError(
          `exception ${exception.exceptionId} was already resolved (${exception.resolution})`,
        );
      const who = operatorActor(principal);
      // The restatement first (idempotent by its change key): a decision is never recorded
      // without the restatement it stands for; a retry after a failed book write asks for the
      // same restatement again and records the decision.
      const restated = restatement
        ? await requestRestatement(deps, {
            partnerId: invoice.partnerId,
            cycleId: exception.settlementId,
            reason: restatement.reason,
            requestedBy: { actor: actorKey(who), name: who.name },
            changeKey: restatement.changeKey,
          })
        : null;
      const result = await resolveVariance(
        deps.db,
        { settlementId: exception.settlementId, exceptionId: exception.exceptionId },
        {
          resolution: body.resolution,
          amountMinor,
          reason: restated ? `${body.reason} (restatement ${restated.restatementId})` : body.reason,
          evidence: restated
            ? {
                restatementId: restated.restatementId,
                workflowId: restated.workflowId,
                ...restatement!.reason,
              }
            : null,
          actor: actorKey(who),
          name: who.name,
          audit: {
            idempotencyKey: `invoice-variance:${randomUUID()}`,
            actor: actorKey(who),
            role: principal.roles.join(' '),
            action: 'invoice.resolveVariance',
            target: exception.exceptionId,
            source: 'api',
            requestId: typeof req.id === 'string' ? req.id : null,
            details: {
              settlementId: exception.settlementId,
              resolution: body.resolution,
              reason: body.reason,
              restatementId: restated?.restatementId ?? null,
            },
          },
        },
      );
      const refused = result.refused[0];
      if (refused)
        throw refused.refusal === 'not_found'
          ? new NotFoundError(refused.reason)
          : new ConflictError(refused.reason);
      return {
        status: 200,
        body: {
          ...(await view(invoice)),
          restatement: restated
            ? { restatementId: restated.restatementId, workflowId: restated.workflowId }
            : null,
        },
      };
    },
  });

  /** An operator submits on a partner's behalf with the resolver role. */
  function onBehalfCheck(principal: Principal): void {
    if (principal.kind === 'operator' && !hasRole(principal, 'resolver'))
      throw new ForbiddenError(
        "submitting an invoice on a partner's behalf needs an operator with the resolver role",
      );
  }

  async function requireInvoice(partnerId: string, id: string): Promise<StoredInvoice> {
    const invoice = await getInvoice(deps.db, partnerId, id);
    if (!invoice)
      throw new NotFoundError(`invoice ${id} of ${partnerId} not found`, [
        { path: 'params.invoiceId', message: 'not found' },
      ]);
    return invoice;
  }

  /** Whether an invoice is compared at submission, and why: its month is closed, or its period is one cycle's with a statement. */
  async function comparableNow(invoice: StoredInvoice): Promise<'cycle' | 'period_close' | null> {
    if ((await monthState(deps.db, invoice.partnerId, invoice.periodEnd.slice(0, 7))) === 'closed')
      return 'period_close';
    if (await cycleStatementExists(deps.db, invoice.partnerId, invoice.periodStart, invoice.periodEnd))
      return 'cycle';
    return null;
  }

  async function view(invoice: StoredInvoice) {
    return invoiceViewOf(invoice, await comparisonOf(deps.db, invoice.id), currencies);
  }
}

function invoiceViewOf(
  invoice: StoredInvoice,
  compared: Awaited<ReturnType<typeof comparisonOf>>,
  currencies: CurrencyRegistry,
) {
  const scale = currencies.requireScale(invoice.currency);
  const fmt = (minor: string) => formatAmount(BigInt(minor), scale);
  return {
    invoiceId: invoice.id,
    partnerId: invoice.partnerId,
    reference: invoice.reference,
    period: { start: invoice.periodStart, end: invoice.periodEnd },
    currency: invoice.currency,
    lines: invoice.lines.map((l) => ({ line: l.line, amount: formatAmount(l.amountMinor, scale) })),
    submittedAt: invoice.submittedAt,
    submittedBy: invoice.submittedBy,
    submittedByRole: invoice.submittedByRole,
    comparison: compared
      ? {
          trigger: compared.trigger,
          comparedAt: compared.comparedAt,
          contractVersion: compared.contractVersion,
          tolerance: compared.tolerance,
          statements: compared.statements.map((s) => ({ settlementId: s.cycleId, version: s.version })),
          lines: compared.lines.map((l) => formatLine(l, scale)),
          variances: compared.variances,
          exceptions: compared.exceptions.map((e) => ({
            exceptionId: e.exceptionId,
            settlementId: e.settlementId,
            line: e.line,
            ours: fmt(e.oursMinor),
            theirs: fmt(e.theirsMinor),
            difference: fmt(e.differenceMinor),
            resolution: e.resolution,
            amount: e.amountMinor === null ? null : fmt(e.amountMinor),
            reason: e.reason,
            resolvedAt: e.resolvedAt,
          })),
        }
      : null,
    comparisonPending: compared
      ? null
      : `compared when the month ${invoice.periodEnd.slice(0, 7)} closes (or at once when its period is one settled cycle's)`,
  };
}
