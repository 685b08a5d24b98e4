import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { renderCamt053 } from '../../domain/camt053';

// A simulated bank (a real HTTP server): the operator's settlement account. It is told the
// payments that leave it (POST /payments, as a payment order would: reference, amount,
// currency, booking date) and answers the account's end-of-day statement as ISO 20022 camt.053
// (GET /camt053?date=YYYY-MM-DD), deterministic: the same payments give the same bytes (ids
// derived from the date and the references, entries in reference order). For the demo, one
// payment may be short-paid (POST /faults {"shortPay":{"<reference>":"<amount that arrives>"}}):
// its line then carries that amount instead.
//
//   POST /payments  {"reference","amount":"12.34","currency":"EUR","bookingDate"?: "YYYY-MM-DD"}
//   POST /faults    {"shortPay": {"<reference>": "10.00"}}   ({} clears them)
//   GET  /camt053?date=YYYY-MM-DD                            application/xml
//   GET  /payments                                           what it was told, JSON

export interface BankPayment {
  reference: string;
  amount: string;
  currency: string;
  bookingDate: string;
}

export interface SimulatedBank {
  url: string;
  /** The account's IBAN, as the statements name it. */
  account: string;
  pay(p: Omit<BankPayment, 'bookingDate'> & { bookingDate?: string }): void;
  /** The amount that arrives for `reference` (a short payment), or null to clear it. */
  shortPay(reference: string, amount: string | null): void;
  statement(date: string): string;
  close(): Promise<void>;
}

export const SIMULATED_BANK_ACCOUNT = 'MT84MALT011000012345MTLCAST001S';
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const AMOUNT = /^(0|[1-9][0-9]{0,17})(\.[0-9]{1,18})?$/;

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    let raw = '';
    req.on('data', (c: Buffer) => {
      raw += c.toString();
      if (raw.length > 1_000_000) req.destroy(new Error('too large'));
    });
    req.on('end', () => resolve(raw));
    req.on('error', reject);
  });

export async function startBankServer(
  opts: { port?: number; host?: string; account?: string } = {},
): Promise<SimulatedBank> {
  const account = opts.account ?? SIMULATED_BANK_ACCOUNT;
  const payments = new Map<string, BankPayment>();
  const short = new Map<string, string>();

  const statement = (date: string): string => {
    const day = [...payments.values()]
      .filter((p) => p.bookingDate === date)
      .sort((a, b) => (a.reference < b.reference ? -1 : a.reference > b.reference ? 1 : 0));
    const compact = date.replace(/-/g, '');
    return renderCamt053({
      id: `STMT-${compact}`,
      account,
      createdAt: `${date}T23:59:59Z`,
      fromDate: date,
      toDate: date,
      entries: day.map((p) => ({
        ref: `E${compact}-${createHash('sha256').update(p.reference).digest('hex').slice(0, 10)}`,
        creditDebit: 'DBIT' as const,
        amount: short.get(p.reference) ?? p.amount,
        currency: p.currency,
        bookingDate: p.bookingDate,
        endToEndId: p.reference,
        remittance: `Clearhouse payout ${p.reference}`,
      })),
    });
  };

  const pay: SimulatedBank['pay'] = (p) => {
    const bookingDate = p.bookingDate ?? new Date().toISOString().slice(0, 10);
    if (!p.reference || p.reference.length > 35) throw new Error('reference: 1 to 35 characters');
    if (!AMOUNT.test(p.amount)) throw new Error('amount: a positive decimal string');
    if (!/^[A-Z][A-Z0-9]{2,9}$/.test(p.currency)) throw new Error('currency: a currency code');
    if (!DATE.test(bookingDate)) throw new Error('bookingDate: YYYY-MM-DD');
    // The same payment order again is the same payment (idempotent by reference).
    if (!payments.has(p.reference)) payments.set(p.reference, { ...p, bookingDate });
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://bank');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    void (async () => {
      if (req.method === 'GET' && url.pathname === '/camt053') {
        const date = url.searchParams.get('date') ?? '';
        if (!DATE.test(date)) return json(400, { error: 'date: YYYY-MM-DD' });
        res.writeHead(200, { 'content-type': 'application/xml; charset=utf-8' });
        return void res.end(statement(date));
      }
      if (req.method === 'GET' && url.pathname === '/payments') return json(200, [...payments.values()]);
      if (req.method === 'POST' && (url.pathname === '/payments' || url.pathname === '/faults')) {
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(await readBody(req)) as Record<string, unknown>;
        } catch {
          return json(400, { error: 'a JSON body' });
        }
        if (url.pathname === '/faults') {
          short.clear();
          const s = body.shortPay;
          if (s && typeof s === 'object')
            for (const [ref, amount] of Object.entries(s as Record<string, unknown>))
              if (typeof amount === 'string' && AMOUNT.test(amount)) short.set(ref, amount);
          return json(200, { shortPay: Object.fromEntries(short) });
        }
        try {
          pay({
            reference: str(body.reference),
            amount: str(body.amount),
            currency: str(body.currency),
            ...(typeof body.bookingDate === 'string' ? { bookingDate: body.bookingDate } : {}),
          });
        } catch (err) {
          return json(422, { error: err instanceof Error ? err.message : String(err) });
        }
        return json(200, payments.get(str(body.reference)));
      }
      json(404, { error: 'not found' });
    })().catch((err: unknown) => json(500, { error: String(err) }));
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    account,
    pay,
    shortPay: (reference, amount) => {
      if (amount === null) short.delete(reference);
      else short.set(reference, amount);
    },
    statement,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
