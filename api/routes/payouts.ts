import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import express, { type Request, type Response, type Router } from 'express';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  acknowledgeIssue,
  bankStatementOf,
  cycleOf,
  importBankStatements,
  listPayouts,
  openDisputeCount,
  payoutConfirmed,
  payoutFailed,
  payoutOfCycle,
  payoutSent,
  statementIssue,
  type BankLineRow,
  type PayoutRow,
  type StatementIssue,
} from '../../db/payouts';
import { withTransaction } from '../../db/retry';
import { listAudit } from '../../db/audit';
import { parseCamt053 } from '../../domain/camt053';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../../domain/errors';
import { createCurrencyRegistry, formatAmount, MAX_AMOUNT_CHARS, parseAmount } from '../../domain/money';
import { partnerIdSchema } from '../../domain/partner';
import {
  acknowledgementState,
  BANK_LINE_EXCEPTIONS,
  isOverdue,
  PAYMENT_REFERENCE,
  payoutStates,
  payoutStepJournalId,
  type AcknowledgementState,
} from '../../domain/payouts';
import { payoutJournalId } from '../../domain/journal';
import { nonBlankText } from '../../domain/text';
import { authDeps, principalActor, type Principal } from '../auth';
import type { ApiDeps } from '../deps';
import { decodeCursor, nextCursorSchema, page, pageQuery } from '../paging';
import { BODY_DIGEST, mountRoute } from '../route';
import { errorResponses, jsonResponse, settlementIdSchema } from '../schemas';

// Statement acknowledgement (partners), the payout's life (operators record sent, confirmed,
// failed; both sides read it) and bank statements (camt.053) reconciled against payouts.
// Postgres decides every state change under a row lock (db/payouts.ts); each step posts its
// journal in the same transaction.

/** The largest camt.053 document one request carries. */
export const MAX_BANK_STATEMENT_BYTES = 5 * 1024 * 1024;

/** The smallest camt.053 this API accepts: one statement, no lines (the OpenAPI example). */
const CAMT053_EXAMPLE =
  '<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">' +
  '<BkToCstmrStmt><GrpHdr><MsgId>MSG-1</MsgId><CreDtTm>2026-12-07T18:00:00Z</CreDtTm></GrpHdr>' +
  '<Stmt><Id>STMT-2026-12-07</Id><CreDtTm>2026-12-07T18:00:00Z</CreDtTm></Stmt></BkToCstmrStmt></Document>';

const OPERATIONS = 'operations';
const nullableRole = z.unknown().transform((v) => (v === null || v === undefined ? null : OPERATIONS));

// ---- Acknowledgement ---------------------------------------------------------------------------

const acknowledgementSchema = z
  .object({
    settlementId: z.string(),
    state: z.enum(['not_issued', 'issued', 'acknowledged', 'disputed', 'accepted_by_silence']).meta({
      description:
        '`issued`: waiting for the partner until acknowledgeBy; `acknowledged` by the partner; `disputed` while a dispute of it is open; `accepted_by_silence`: neither by acknowledgeBy (computed when read)',
    }),
    version: z.number().int().nullable(),
    digest: z
      .string()
      .nullable()
      .meta({ description: 'sha256 (hex) of the statement JSON as GET …/statement serves it' }),
    issuedAt: z.string().nullable(),
    acknowledgeBy: z.string().nullable(),
    acknowledgementDays: z.number().int().nullable(),
    acknowledgedAt: z.string().nullable(),
    acknowledgedBy: z.string().nullable(),
    openDisputes: z.number().int(),
    webhook: z.string().nullable(),
    note: z.string(),
  })
  .meta({ id: 'StatementAcknowledgement' });
/** What a partner reads of it: everything (it is the partner's own answer). */
const acknowledgementPartnerView = acknowledgementSchema;

const acknowledgementBody = z
  .object({
    version: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .meta({ description: 'The issued version being acknowledged' }),
    digest: z
      .string()
      .regex(
        /^[0-9a-f]{64}$/,
        'the sha256 digest (64 lowercase hex digits) the statement.issued webhook carried',
      ),
  })
  .strict()
  .meta({
    id: 'StatementAcknowledgementRequest',
    description: 'The partner is the caller (its key): the acknowledgement is recorded under its identity.',
  });

function noteOf(state: AcknowledgementState, i: StatementIssue | null): string {
  if (!i) return 'not issued yet: a statement is issued once published, before its payout is approved';
  const by = i.acknowledgeBy.toISOString();
  switch (state) {
    case 'acknowledged':
      return `acknowledged by the partner at ${i.acknowledgedAt!.toISOString()}`;
    case 'disputed':
      return 'disputed: a dispute of this statement is open (GET /v1/disputes); its amount is held from the payout when raised before it';
    case 'accepted_by_silence':
      return `accepted by silence: neither acknowledged nor disputed by ${by} (${i.acknowledgementDays} days after issue, per contract)`;
    default:
      return `issued: acknowledge (POST …/acknowledgement) or dispute (POST …/disputes) by ${by}; silence until then counts as accepted`;
  }
}

async function acknowledgementView(deps: ApiDeps, cycleId: string, now = new Date()) {
  const issue = await statementIssue(deps.db, cycleId);
  const open = await openDisputeCount(deps.db, cycleId);
  const state = acknowledgementState(issue, open > 0, now);
  return {
    settlementId: cycleId,
    state,
    version: issue?.version ?? null,
    digest: issue?.digest ?? null,
    issuedAt: issue?.issuedAt.toISOString() ?? null,
    acknowledgeBy: issue?.acknowledgeBy.toISOString() ?? null,
    acknowledgementDays: issue?.acknowledgementDays ?? null,
    acknowledgedAt: issue?.acknowledgedAt?.toISOString() ?? null,
    acknowledgedBy: issue?.acknowledgedBy ?? null,
    openDisputes: open,
    webhook: issue?.webhook ?? null,
    note: noteOf(state, issue),
  };
}

// ---- Payouts -------------------------------------------------------------------------------------

const amount = z.string().meta({ description: "Decimal string in the payout's currency" });
const payoutSchema = z
  .object({
    settlementId: z.string(),
    partnerId: z.string(),
    currency: z.string(),
    toPay: amount.meta({
      description: 'What the statement says is to pay (before disputes hold anything back)',
    }),
    amount: amount.meta({ description: 'What the payout pays: toPay − held' }),
    held: amount.meta({ description: 'Held back by disputes open when the payout was prepared' }),
    state: z.enum(payoutStates),
    overdue: z
      .boolean()
      .meta({ description: 'Approved or sent, and not confirmed after dueDate (computed when read)' }),
    dueDate: z.string().meta({
      description: "Approval's business day (partner's timezone) + the contract's paymentTermsDays",
    }),
    paymentReference: z.string().nullable(),
    approvedAt: z.string(),
    approvedBy: z.array(z.string()),
    sentAt: z.string().nullable(),
    sentBy: z.string().nullable(),
    confirmedAt: z.string().nullable(),
    confirmedBy: z.string().nullable(),
    paid: amount.nullable(),
    remainder: amount
      .nullable()
      .meta({ description: 'Not paid (failed, partly paid): owed to the partner on its next statement' }),
    overpaid: amount
      .nullable()
      .meta({ description: 'Paid above the amount: owed back by the partner on its next statement' }),
    failedAt: z.string().nullable(),
    failedBy: z.string().nullable(),
    failureReason: z.string().nullable(),
    source: z.enum(['operator', 'bank_statement']).nullable(),
    bankStatementId: z.string().nullable(),
    bankLineRef: z.string().nullable(),
    journals: z
      .array(z.string())
      .meta({ description: 'The journals its steps posted (GET /v1/ledger/entries by key)' }),
  })
  .meta({ id: 'Payout' });

/** A partner reads its payouts with every operator's name as a role. */
const payoutPartnerView = payoutSchema.extend({
  approvedBy: z.array(z.unknown()).transform((a) => a.map((_, i) => `approver ${i + 1}`)),
  sentBy: nullableRole,
  confirmedBy: nullableRole,
  failedBy: nullableRole,
});

function payoutView(p: PayoutRow) {
  const fmt = (m: bigint) => formatAmount(m, p.currencyScale);
  const paid = p.state === 'failed' ? 0n : p.paidMinor;
  const journals = [payoutJournalId(p.cycleId)];
  if (p.heldMinor > 0n) journals.push(payoutStepJournalId(p.cycleId, 'held'));
  if (p.state !== 'approved') journals.push(payoutStepJournalId(p.cycleId, 'sent'));
  if (p.state === 'confirmed') journals.push(payoutStepJournalId(p.cycleId, 'confirmed'));
  if (p.state === 'partly_paid') journals.push(payoutStepJournalId(p.cycleId, 'partly-paid'));
  if (p.state === 'failed') journals.push(payoutStepJournalId(p.cycleId, 'failed'));
  return {
    settlementId: p.cycleId,
    partnerId: p.partnerId,
    currency: p.currency,
    toPay: fmt(p.netMinor),
    amount: fmt(p.amountMinor),
    held: fmt(p.heldMinor),
    state: p.state,
    overdue: isOverdue(p, p.today),
    dueDate: p.dueDate,
    paymentReference: p.paymentReference,
    approvedAt: p.approvedAt.toISOString(),
    approvedBy: p.approvedBy,
    sentAt: p.sentAt?.toISOString() ?? null,
    sentBy: p.sentBy,
    confirmedAt: p.confirmedAt?.toISOString() ?? null,
    confirmedBy: p.confirmedBy,
    paid: paid === null ? null : fmt(paid),
    remainder: paid !== null && paid < p.amountMinor ? fmt(p.amountMinor - paid) : null,
    overpaid: paid !== null && paid > p.amountMinor ? fmt(paid - p.amountMinor) : null,
    failedAt: p.failedAt?.toISOString() ?? null,
    failedBy: p.failedBy,
    failureReason: p.failureReason,
    source: p.settledSource,
    bankStatementId: p.bankStatementId,
    bankLineRef: p.bankLineRef,
    journals,
  };
}

const paymentReference = z
  .string()
  .regex(
    PAYMENT_REFERENCE,
    "1 to 35 characters of the SWIFT set (letters, digits, space and / - ? : ( ) . , ' +)",
  )
  .meta({
    description: 'The EndToEndId the payment carries: the bank statement line names the payout by it',
  });

const sentBody = z.object({ paymentReference }).strict().meta({ id: 'PayoutSent' });
const confirmedBody = z
  .object({
    amount: z.string().max(MAX_AMOUNT_CHARS).optional().meta({
      description: 'What arrived, if not the full amount: less is partly paid, more an overpayment',
    }),
  })
  .strict()
  .meta({ id: 'PayoutConfirmed' });
const failedBody = z
  .object({ reason: nonBlankText(500) })
  .strict()
  .meta({ id: 'PayoutFailed' });

const cycleIdParam = z.object({ cycleId: settlementIdSchema });

/** A partner sees only its own cycles; another partner's is indistinguishable from none. */
function visibleCycle(principal: Principal, cycleId: string): boolean {
  return (
    principal.kind === 'operator' ||
    (principal.kind === 'partner' && cycleId.startsWith(`settlement:${principal.partnerId}:`))
  );
}

// ---- Bank statements -------------------------------------------------------------------------

const bankLineSchema = z.object({
  lineRef: z.string(),
  ord: z.number().int(),
  creditDebit: z.enum(['CRDT', 'DBIT']),
  amount: z.string(),
  currency: z.string(),
  bookingDate: z.string().nullable(),
  reference: z.string().nullable(),
  outcome: z.string().meta({
    description:
      'confirmed, partly_paid, overpaid (the payout moved); unmatched, currency_mismatch, not_sent, already_settled, unknown_currency (exceptions: nothing moved); not_a_payout (a credit)',
  }),
  exception: z.boolean(),
  settlementId: z.string().nullable(),
  difference: z.string().nullable(),
  reason: z.string(),
});
const bankStatementSchema = z
  .object({
    id: z.string(),
    account: z.string().nullable(),
    createdAt: z.string().nullable(),
    fromDate: z.string().nullable(),
    toDate: z.string().nullable(),
    digest: z.string(),
    importedAt: z.string(),
    importedBy: z.string(),
    lines: z.array(bankLineSchema),
    exceptions: z.number().int(),
  })
  .meta({ id: 'BankStatement' });
const importAnswer = z
  .object({
    statements: z.array(
      bankStatementSchema.extend({
        created: z
          .boolean()
          .meta({ description: 'False: imported before (only lines it did not hold are new)' }),
        newLines: z.number().int(),
        notBooked: z.number().int(),
      }),
    ),
  })
  .meta({ id: 'BankStatementImport' });

function lineView(l: BankLineRow, scaleOf: (c: string) => number | undefined) {
  return {
    lineRef: l.lineRef,
    ord: l.ord,
    creditDebit: l.creditDebit,
    amount: l.amount,
    currency: l.currency,
    bookingDate: l.bookingDate,
    reference: l.reference,
    outcome: l.outcome,
    exception: BANK_LINE_EXCEPTIONS.includes(l.outcome),
    settlementId: l.payoutCycleId,
    difference: l.differenceMinor === null ? null : formatAmount(l.differenceMinor, scaleOf(l.currency) ?? 0),
    reason: l.reason,
  };
}

const rawXml = express.raw({ type: () => true, limit: MAX_BANK_STATEMENT_BYTES });
function readXml(req: Request, res: Response): Promise<Buffer> {
  if (!req.is(['application/xml', 'text/xml', 'application/*+xml']))
    return Promise.reject(
      new UnsupportedMediaTypeError('expected Content-Type: application/xml (a camt.053 document)', [
        { path: 'headers.content-type', message: `${req.get('content-type') ?? 'none'} is not XML` },
      ]),
    );
  return new Promise((resolve, reject) =>
    rawXml(req, res, (err?: unknown) => {
      if (err) reject(err instanceof Error ? err : new Error('unreadable body'));
      else resolve(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
    }),
  );
}

export function payoutRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);
  const currencies = createCurrencyRegistry(deps.config.currencies.extraAssets);
  const scaleOf = (c: string) => currencies.scaleOf(c);

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/settlements/{id}/acknowledgement',
    summary: "The statement's acknowledgement: issued, acknowledged, disputed or accepted by silence",
    description:
      'A statement is issued (signed webhook `statement.issued` with its sha256 digest and version) once published, ' +
      'before its payout is approved, so that a dispute raised then holds its amount from the payout. The partner ' +
      'acknowledges it (POST …/acknowledgement) or disputes it (POST …/disputes) by `acknowledgeBy` (issue + the ' +
      "contract's acknowledgementDays); silence until then reads `accepted_by_silence`, computed when read.",
    tags: ['settlements'],
    auth: 'any',
    partnerView: acknowledgementPartnerView,
    params: z.object({ id: settlementIdSchema }),
    responses: {
      200: jsonResponse(acknowledgementSchema, 'Where the statement stands'),
      ...errorResponses(400, 401, 404),
    },
    handler: async ({ params, principal }) => {
      if (!visibleCycle(principal, params.id)) throw new NotFoundError(`settlement ${params.id} not found`);
      const cycle = await cycleOf(deps.db, params.id);
      if (!cycle) throw new NotFoundError(`settlement ${params.id} not found`);
      return { status: 200, body: await acknowledgementView(deps, params.id) };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/settlements/{id}/acknowledgement',
    summary: 'Acknowledge an issued statement (partner), by its version and digest',
    description:
      'Acknowledges the latest issued version, named by `version` and `digest` as the `statement.issued` webhook ' +
      'carried them: another version or digest is a 409 naming the field (the partner acknowledges what it read, ' +
      'nothing else). Refused while a dispute of the statement is open. Acknowledging again answers the same.',
    tags: ['settlements'],
    auth: 'partner',
    partnerView: acknowledgementPartnerView,
    params: z.object({ id: settlementIdSchema }),
    body: acknowledgementBody,
    bodyExample: { version: 1, digest: '9f2c…64 hex digits' },
    responses: {
      200: jsonResponse(acknowledgementSchema, 'Acknowledged'),
      ...errorResponses(400, 401, 403, 404, 409, 422),
    },
    handler: async ({ params, principal, body }) => {
      if (!visibleCycle(principal, params.id)) throw new NotFoundError(`settlement ${params.id} not found`);
      await withTransaction(deps.db, async (client) => {
        const issue = await statementIssue(client, params.id, undefined, { forUpdate: true });
        if (!issue) {
          if (!(await cycleOf(client, params.id)))
            throw new NotFoundError(`settlement ${params.id} not found`);
          throw new ConflictError(`${params.id} has no issued statement yet`, [
            { path: 'params.id', message: 'a statement is issued once published' },
          ]);
        }
        if (body.version !== issue.version)
          throw new ConflictError(
            `version ${body.version} is not the issued statement (version ${issue.version})`,
            [{ path: 'version', message: `the issued version is ${issue.version}` }],
          );
        if (body.digest !== issue.digest)
          throw new ConflictError('the digest is not the issued statement’s: acknowledge what was issued', [
            { path: 'digest', message: `version ${issue.version} has digest ${issue.digest}` },
          ]);
        if (issue.acknowledgedAt) return;
        if ((await openDisputeCount(client, params.id)) > 0)
          throw new ConflictError(
            `${params.id} has an open dispute: it is acknowledged once the dispute is decided`,
            [{ path: 'params.id', message: 'disputed' }],
          );
        await acknowledgeIssue(client, params.id, issue.version, principalActor(principal));
      });
      return { status: 200, body: await acknowledgementView(deps, params.id) };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/payouts',
    summary: 'Payouts by partner and state; overdue ones (operators: all; a partner: its own)',
    tags: ['payouts'],
    auth: 'any',
    partnerView: z.object({ payouts: z.array(payoutPartnerView), nextCursor: nextCursorSchema }),
    query: z.object({
      partnerId: partnerIdSchema.optional(),
      state: z.enum(payoutStates).optional(),
      overdue: z
        .enum(['true', 'false'])
        .optional()
        .meta({ description: 'true: only payouts approved or sent and not confirmed after their due date' }),
      ...pageQuery,
    }),
    responses: {
      200: jsonResponse(
        z.object({ payouts: z.array(payoutSchema), nextCursor: nextCursorSchema }),
        'Newest approval first',
      ),
      ...errorResponses(400, 401, 404),
    },
    handler: async ({ query, principal }) => {
      if (
        principal.kind === 'partner' &&
        query.partnerId !== undefined &&
        query.partnerId !== principal.partnerId
      )
        throw new NotFoundError(`partner ${query.partnerId} not found`, [
          { path: 'query.partnerId', message: 'not found' },
        ]);
      const partnerId = principal.kind === 'partner' ? principal.partnerId : query.partnerId;
      const after = decodeCursor(query.cursor, z.object({ approvedAt: z.string(), cycleId: z.string() }));
      const rows = await listPayouts(deps.db, {
        ...(partnerId ? { partnerId } : {}),
        ...(query.state ? { state: query.state } : {}),
        overdue: query.overdue === 'true',
        limit: query.limit + 1,
        ...(after ? { before: after } : {}),
      });
      const { items, nextCursor } = page(rows, query.limit, (p) => ({
        approvedAt: p.approvedAt.toISOString(),
        cycleId: p.cycleId,
      }));
      return { status: 200, body: { payouts: items.map(payoutView), nextCursor } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/payouts/{cycleId}',
    summary: "A cycle's payout: its state, amounts, reference, due date and journals",
    tags: ['payouts'],
    auth: 'any',
    partnerView: payoutPartnerView,
    params: cycleIdParam,
    responses: { 200: jsonResponse(payoutSchema, 'The payout'), ...errorResponses(400, 401, 404) },
    handler: async ({ params, principal }) => {
      if (!visibleCycle(principal, params.cycleId))
        throw new NotFoundError(`payout ${params.cycleId} not found`);
      const p = await payoutOfCycle(deps.db, params.cycleId);
      if (!p)
        throw new NotFoundError(`no payout for ${params.cycleId}`, [
          { path: 'params.cycleId', message: 'no payout' },
        ]);
      return { status: 200, body: payoutView(p) };
    },
  });

  const step = (
    path: string,
    summary: string,
    description: string,
    body: z.ZodType,
    example: unknown,
    run: (
      client: Parameters<typeof payoutSent>[0],
      cycleId: string,
      by: string,
      body: never,
    ) => Promise<{ payout: PayoutRow; changed: boolean }>,
  ) =>
    mountRoute(router, registry, auth, {
      method: 'post',
      path: `/v1/payouts/{cycleId}/${path}`,
      summary,
      description:
        `${description} Role resolver: recording what the bank did is reconciliation work, kept apart from the ` +
        'approvers who decided the payout. The operator is the caller (its verified identity from the token, in the ' +
        'payout and the audit trail). The step posts its journal, dated the business day it happens (partner timezone). ' +
        'Repeating the same step answers the same payout and posts nothing twice.',
      tags: ['payouts'],
      auth: 'resolver',
      params: cycleIdParam,
      body,
      bodyExample: example,
      responses: {
        200: jsonResponse(payoutSchema, 'The payout after the step'),
        ...errorResponses(400, 401, 403, 404, 409, 422),
      },
      handler: async ({ params, principal, body: b }) => {
        // Maker-checker on the bank's facts too: one who approved the payout does not record
        // what became of it (compared by verified subject, from the audit trail of approvals).
        const by = principalActor(principal);
        const approvers = await listAudit(
          deps.db,
          { target: params.cycleId, action: 'settlement.approvePayout' },
          null,
          10,
        );
        if (approvers.some((e) => e.actor === by))
          throw new ForbiddenError(
            `you approved the payout of ${params.cycleId}: another resolver records what the bank did with it`,
          );
        const { payout } = await withTransaction(deps.db, (client) =>
          run(client, params.cycleId, by, b as never),
        );
        return { status: 200, body: payoutView(payout) };
      },
    });

  step(
    'sent',
    'Record a payout sent, with its payment reference (approved → sent)',
    'Moves the payout from payouts clearing to payouts in transit.',
    sentBody,
    { paymentReference: 'CH-NOVA-20261123' },
    (client, cycleId, by, b: z.infer<typeof sentBody>) =>
      payoutSent(client, cycleId, { by, paymentReference: b.paymentReference }),
  );
  step(
    'confirmed',
    'Confirm a sent payout arrived (sent → confirmed, or partly paid with a smaller amount)',
    'Without `amount`, the full amount arrived (in transit → bank). A smaller amount is partly paid: the rest goes back ' +
      "to the partner's fees payable and onto its next statement; a larger one is confirmed with an overpayment the " +
      'partner owes back (next statement).',
    confirmedBody,
    {},
    async (client, cycleId, by, b: z.infer<typeof confirmedBody>) => {
      if (b.amount === undefined) return payoutConfirmed(client, cycleId, { by });
      const p = await payoutOfCycle(client, cycleId);
      if (!p)
        throw new NotFoundError(`no payout for ${cycleId}`, [
          { path: 'params.cycleId', message: 'no payout' },
        ]);
      const parsed = parseAmount(b.amount, p.currencyScale, { allowZero: false });
      if (!parsed.ok)
        throw new ValidationError(`amount ${parsed.message}`, [{ path: 'amount', message: parsed.message }]);
      return payoutConfirmed(client, cycleId, { by, paidMinor: parsed.minor });
    },
  );
  step(
    'failed',
    'Record a sent payout failed (returned or rejected by the bank)',
    "The amount goes back from payouts in transit to the partner's fees payable and onto its next statement.",
    failedBody,
    { reason: 'returned by the beneficiary bank: account closed (AC04)' },
    (client, cycleId, by, b: z.infer<typeof failedBody>) =>
      payoutFailed(client, cycleId, { by, reason: b.reason }),
  );

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/bank-statements',
    summary: 'Import a bank statement (ISO 20022 camt.053): its lines reconciled against payouts',
    description:
      `The body is a camt.053 document (Content-Type: application/xml, at most ${MAX_BANK_STATEMENT_BYTES} bytes). ` +
      'Each booked debit line is matched to a sent payout by its reference (TxDtls/Refs/EndToEndId, else RmtInf/Ustrd) ' +
      'and its amount (Amt, Ccy): the same amount confirms it, less is partly paid, more is confirmed with an ' +
      'overpayment; each posts its journal. A line with no payout of that reference, in another currency, for a ' +
      'payout not sent or already settled is an exception: recorded with its reason, nothing moved (GET ' +
      '/v1/bank-statements/{id}). Idempotent per statement (Stmt/Id) and line (NtryRef, else AcctSvcrRef): importing ' +
      'the same statement again changes nothing. A malformed document is a 422 naming where; nothing is imported.',
    tags: ['payouts'],
    auth: 'resolver',
    rawBody: {
      contentType: 'application/xml',
      description: 'An ISO 20022 camt.053 BankToCustomerStatement document (UTF-8)',
      example: CAMT053_EXAMPLE,
    },
    responses: {
      200: jsonResponse(importAnswer, 'Imported (or already imported): every statement with its lines'),
      ...errorResponses(400, 401, 403, 413, 415, 422),
    },
    handler: async ({ principal, req, res }) => {
      const bytes = await readXml(req, res);
      const digest = createHash('sha256').update(bytes).digest('hex');
      res.locals[BODY_DIGEST] = digest;
      let xml: string;
      try {
        xml = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        throw new ValidationError('the document is not UTF-8 text', [{ path: 'body', message: 'not UTF-8' }]);
      }
      const statements = parseCamt053(xml);
      const results = await withTransaction(deps.db, (client) =>
        importBankStatements(client, statements, { by: principalActor(principal), digest, scaleOf }),
      );
      const out = [];
      for (const r of results) {
        const s = (await bankStatementOf(deps.db, r.statementId))!;
        out.push({ ...statementView(s), created: r.created, newLines: r.newLines, notBooked: r.notBooked });
      }
      return { status: 200, body: { statements: out } };
    },
  });

  const statementView = (s: NonNullable<Awaited<ReturnType<typeof bankStatementOf>>>) => {
    const lines = s.lines.map((l) => lineView(l, scaleOf));
    return {
      id: s.statement.id,
      account: s.statement.account,
      createdAt: s.statement.createdAt?.toISOString() ?? null,
      fromDate: s.statement.fromDate,
      toDate: s.statement.toDate,
      digest: s.statement.digest,
      importedAt: s.statement.importedAt.toISOString(),
      importedBy: s.statement.importedBy,
      lines,
      exceptions: lines.filter((l) => l.exception).length,
    };
  };

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/bank-statements/{id}',
    summary: 'An imported bank statement: every line and what reconciliation made of it (exceptions named)',
    tags: ['payouts'],
    auth: 'viewer',
    params: z.object({ id: z.string().min(1).max(35) }),
    responses: {
      200: jsonResponse(bankStatementSchema, 'The statement'),
      ...errorResponses(400, 401, 403, 404),
    },
    handler: async ({ params }) => {
      const s = await bankStatementOf(deps.db, params.id);
      if (!s)
        throw new NotFoundError(`bank statement ${params.id} not found`, [
          { path: 'params.id', message: 'not imported' },
        ]);
      return { status: 200, body: statementView(s) };
    },
  });
}
