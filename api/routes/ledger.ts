import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { balanceAsOf, getAccount, listAccounts, type Account } from '../../db/ledger';
import { NotFoundError } from '../../domain/errors';
import { formatAmount, type CurrencyRegistry } from '../../domain/money';
import { partnerIdSchema } from '../../domain/partner';
import type { ApiDeps } from '../deps';
import { decodeCursor, nextCursorSchema, page, pageQuery } from '../paging';
import { mountRoute } from '../route';
import { errorResponses, instantSchema, jsonResponse } from '../schemas';
import { authDeps } from '../auth';

const accountSchema = z
  .object({
    code: z.string().meta({ example: 'partner:nova-slots:game_activity:EUR' }),
    kind: z.enum(['asset', 'liability', 'equity', 'revenue', 'expense']),
    currency: z.string(),
    partnerId: z.string().nullable(),
    debits: z.string().meta({ description: 'Σ debits, decimal string' }),
    credits: z.string().meta({ description: 'Σ credits, decimal string' }),
    balance: z.string().meta({ description: 'debits − credits (debit-positive), decimal string' }),
  })
  .meta({ id: 'LedgerAccount' });

const balanceSchema = z
  .object({
    code: z.string(),
    currency: z.string(),
    asOf: z
      .object({ date: z.string().optional(), time: z.string().optional() })
      .meta({ description: 'Empty: the current balance.' }),
    balance: z.string(),
  })
  .meta({ id: 'LedgerBalance' });

export function ledgerRoutes(
  router: Router,
  registry: OpenAPIRegistry,
  deps: ApiDeps,
  currencies: CurrencyRegistry,
): void {
  const auth = authDeps(deps.db, deps.config.api);
  const fmt = (minor: bigint, currency: string) => formatAmount(minor, currencies.requireScale(currency));
  const view = (a: Account) => ({
    code: a.code,
    kind: a.kind,
    currency: a.currency,
    partnerId: a.partnerId,
    debits: fmt(a.debitsMinor, a.currency),
    credits: fmt(a.creditsMinor, a.currency),
    balance: fmt(a.balanceMinor, a.currency),
  });

  const accountList = z.object({ accounts: z.array(accountSchema), nextCursor: nextCursorSchema });
  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/ledger/accounts',
    summary: 'Ledger accounts with real-time balances',
    description: "Partners see their own accounts; operators see all, or one partner's with `partnerId`.",
    tags: ['ledger'],
    auth: 'any',
    partnerView: accountList,
    query: z.object({ partnerId: partnerIdSchema.optional(), ...pageQuery }),
    responses: {
      200: jsonResponse(accountList, 'Accounts, by code'),
      ...errorResponses(400, 401),
    },
    handler: async ({ query, principal }) => {
      const partnerId = principal.kind === 'partner' ? principal.partnerId : query.partnerId;
      if (principal.kind === 'partner' && query.partnerId && query.partnerId !== principal.partnerId)
        return { status: 200, body: { accounts: [], nextCursor: null } };
      const after = decodeCursor(query.cursor, z.string());
      const rows = await listAccounts(deps.db, partnerId ? { partnerId } : {}, {
        limit: query.limit + 1,
        after,
      });
      const { items, nextCursor } = page(rows, query.limit, (a) => a.code);
      return { status: 200, body: { accounts: items.map(view), nextCursor } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/ledger/accounts/{code}/balance',
    summary: 'Balance of one account, now or as of a business date or an instant',
    description:
      '`asOfDate` sums postings whose effective (business) date is on or before it — for closing dates, including ' +
      'backdated entries; `asOfTime` sums postings recorded at or before that instant; both together answer what ' +
      'the books said at that instant about the days up to that date.',
    tags: ['ledger'],
    auth: 'any',
    partnerView: balanceSchema,
    params: z.object({ code: z.string().min(3).max(200) }),
    query: z.object({
      asOfDate: z.iso.date().optional().meta({ example: '2026-11-30' }),
      asOfTime: instantSchema.optional().meta({ example: '2026-11-30T23:59:59Z' }),
    }),
    responses: { 200: jsonResponse(balanceSchema, 'The balance'), ...errorResponses(400, 401, 404) },
    handler: async ({ params, query, principal }) => {
      const account = await getAccount(deps.db, params.code);
      const visible =
        account &&
        (principal.kind === 'operator' ||
          (principal.kind === 'partner' && account.partnerId === principal.partnerId));
      if (!account || !visible)
        throw new NotFoundError(`account ${params.code} not found`, [
          { path: 'params.code', message: 'not found' },
        ]);
      const minor =
        query.asOfDate || query.asOfTime
          ? await balanceAsOf(deps.db, account.id, {
              ...(query.asOfDate ? { date: query.asOfDate } : {}),
              ...(query.asOfTime ? { instant: query.asOfTime } : {}),
            })
          : account.balanceMinor;
      return {
        status: 200,
        body: {
          code: account.code,
          currency: account.currency,
          asOf: {
            ...(query.asOfDate ? { date: query.asOfDate } : {}),
            ...(query.asOfTime ? { time: query.asOfTime } : {}),
          },
          balance: fmt(minor, account.currency),
        },
      };
    },
  });
}
