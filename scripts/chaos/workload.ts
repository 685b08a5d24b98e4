import { startDueDiligenceService } from '../../providers/simulated/due-diligence-server';
import { toIngestItem, generateDay } from '../../providers/simulated/generator';
import {
  startJsonCursorProvider,
  type Faults,
  type SimulatedProvider,
  type SimulatedTx,
} from '../../providers/simulated/json-cursor-server';

// The workload of a chaos run, the same for the fault-free run and the faulty one: partners
// onboarded through the API, their days of transactions pushed through the API by clients that
// retry, their provider reports (with the same seeded data faults), the settlement cycles and
// the operators who resolve exceptions and approve payouts. Everything is derived from the seed.

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** xorshift32: the same seed, the same run. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

export interface Plan {
  seed: number;
  partners: PartnerPlan[];
  days: string[];
}

export interface PartnerPlan {
  id: string;
  /** Data faults its provider's report carries (both runs). */
  dataFaults: Faults;
  /** The payout needs two approvers (threshold 0) or none. */
  approvals: boolean;
  transactions: SimulatedTx[];
}

const PROFILES = ['clean', 'missing', 'altered', 'extra', 'control totals'] as const;

export function plan(opts: { seed: number; partners: number; days: number; txPerDay: number }): Plan {
  const days = Array.from({ length: opts.days }, (_, i) => `2026-11-${String(2 + i).padStart(2, '0')}`);
  const rnd = rng(opts.seed);
  const partners = Array.from({ length: opts.partners }, (_, i): PartnerPlan => {
    const id = `chaos-${opts.seed}-${i}`;
    const transactions = days.flatMap((d) => generateDay(id, d, opts.txPerDay));
    const pickTx = () => transactions[Math.floor(rnd() * transactions.length)]!;
    const profile = PROFILES[i % PROFILES.length]!;
    const dataFaults: Faults =
      profile === 'missing'
        ? { missing: [pickTx().id] }
        : profile === 'altered'
          ? { altered: { [pickTx().id]: pickTx().amountMinor + 700n } }
          : profile === 'extra'
            ? { extra: [{ ...pickTx(), id: `${id}-only-theirs` }] }
            : profile === 'control totals'
              ? { wrongControlTotals: true }
              : {};
    return { id, dataFaults, approvals: i % 2 === 0, transactions };
  });
  return { seed: opts.seed, partners, days };
}

/** The simulated outside world of a run: one provider per partner, the due-diligence service. */
export async function startOutside(p: Plan) {
  const providers = new Map<string, SimulatedProvider>();
  for (const partner of p.partners) {
    providers.set(
      partner.id,
      await startJsonCursorProvider({
        transactions: partner.transactions,
        faults: { ...partner.dataFaults },
      }),
    );
  }
  const dueDiligence = await startDueDiligenceService();
  return {
    providers,
    dueDiligence,
    close: async () => {
      for (const s of providers.values()) await s.close();
      await dueDiligence.close();
    },
  };
}

/** A JSON answer's fields (empty when the answer was not a JSON object). */
export type Body = Record<string, unknown>;

export interface Api {
  /** A call that a careful client makes: retried on connection errors, 5xx and 429, same body. */
  call: (
    method: string,
    route: string,
    opts?: { body?: unknown; token?: string },
  ) => Promise<{ status: number; body: Body }>;
  /** Answers seen while retrying, by status (and 'network' for no answer). */
  retried: Record<string, number>;
}

export function apiClient(baseUrl: () => string, defaultToken: string, giveUpMs = 600_000): Api {
  const retried: Record<string, number> = {};
  const call: Api['call'] = async (method, route, opts = {}) => {
    const until = Date.now() + giveUpMs;
    for (let attempt = 0; ; attempt++) {
      let status: number | 'network';
      let retryAfterMs = 0;
      try {
        const res = await fetch(`${baseUrl()}${route}`, {
          method,
          headers: {
            authorization: `Bearer ${opts.token ?? defaultToken}`,
            ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
          signal: AbortSignal.timeout(30_000),
        });
        status = res.status;
        const text = await res.text();
        let body: Body = {};
        try {
          const parsed: unknown = text ? JSON.parse(text) : null;
          if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Body;
        } catch {
          /* not JSON: no fields */
        }
        if (status === 429) retryAfterMs = Number(res.headers.get('retry-after') ?? 1) * 1000;
        if (status < 500 && status !== 429) return { status, body };
      } catch {
        status = 'network';
      }
      retried[String(status)] = (retried[String(status)] ?? 0) + 1;
      if (Date.now() > until)
        throw new Error(`${method} ${route}: no answer but ${status} for ${giveUpMs / 1000} s`);
      await sleep(Math.max(retryAfterMs, Math.min(2000, 100 * 2 ** Math.min(attempt, 5))));
    }
  };
  return { call, retried };
}

const contractTerms = (approvals: boolean) => ({
  base: 'ggr',
  tiers: [
    { upToMinor: '5000000', rate: '0.12' },
    { upToMinor: null, rate: '0.10' },
  ],
  tierMode: 'marginal',
  minimumGuaranteeMinor: '0',
  fixedFeeMinor: '0',
  categoryRates: {},
  negativeBase: 'carry_forward',
  jackpots: 'exclude',
  taxWithholdingRate: '0',
  // Without approvals: the highest threshold a contract may set (CONTRACT_MAX_PAYOUT_APPROVAL_THRESHOLD_MINOR).
  settlement: { cutoffGraceMinutes: 0, payoutApprovalThresholdMinor: approvals ? '0' : '100000000' },
});

/**
 * Onboards one partner as operators do: application, checks, an approver's decision,
 * activation; then its key. A key whose one-time pickup answer was lost (the API died while
 * answering) is replaced by a rotation, as an operator would.
 */
export async function onboard(
  api: Api,
  partner: PartnerPlan,
  providerUrl: string,
  approverToken: string,
): Promise<{ apiKey: string; status: string }> {
  const submitted = await api.call('POST', '/v1/partner-applications', {
    body: {
      partnerId: partner.id,
      name: `Chaos ${partner.id}`,
      kind: 'provider',
      timezone: 'UTC',
      settlementCurrency: 'EUR',
      company: { legalName: `Chaos ${partner.id} Ltd`, registrationNumber: 'C 4242', country: 'MT' },
      licences: [{ jurisdiction: 'MT', number: 'MGA/B2B/42/2024' }],
      contacts: [{ name: 'Fiona Finance', email: 'finance@chaos.example', role: 'finance' }],
      providerConnection: { format: 'json-cursor', baseUrl: providerUrl },
      contract: { effectiveFrom: '2026-01-01', terms: contractTerms(partner.approvals) },
    },
  });
  // 409: a retried submission that had already gone through.
  if (submitted.status !== 202 && submitted.status !== 409)
    throw new Error(`application ${partner.id}: ${submitted.status} ${JSON.stringify(submitted.body)}`);
  const status = async () =>
    (await api.call('GET', `/v1/partner-applications/${partner.id}`)).body?.status as string;
  for (let s = await status(); s !== 'Active'; s = await status()) {
    if (['Rejected', 'Expired', 'Failed'].includes(s)) return { apiKey: '', status: s };
    if (s === 'AwaitingDecision' || s === 'ConnectivityFailed') {
      // 422 "already approved": a retried decision that had gone through.
      await api.call('POST', `/v1/partner-applications/${partner.id}/decisions`, {
        body: { decision: 'approve', reason: 'chaos run: checks clear' },
        token: approverToken,
      });
    }
    await sleep(300);
  }
  const picked = await api.call('POST', `/v1/partner-applications/${partner.id}/credentials`, { body: {} });
  if (picked.status === 201) return { apiKey: String(picked.body.apiKey), status: 'Active' };
  const rotated = await api.call('POST', `/v1/partners/${partner.id}/api-keys`, { body: {} });
  if (rotated.status !== 201 && rotated.status !== 200)
    throw new Error(`key for ${partner.id}: ${rotated.status} ${JSON.stringify(rotated.body)}`);
  return { apiKey: String(rotated.body.apiKey), status: 'Active' };
}

export const BATCH = 200;

/** Pushes a partner's transactions in deterministic batches; returns the ids the API acknowledged. */
export async function ingest(
  api: Api,
  partner: PartnerPlan,
  apiKey: string,
  onBatch: () => void = () => {},
): Promise<string[]> {
  const acknowledged: string[] = [];
  for (let i = 0; i < partner.transactions.length; i += BATCH) {
    const txs = partner.transactions.slice(i, i + BATCH);
    const res = await api.call('POST', '/v1/transactions', {
      token: apiKey,
      body: { batchId: `chaos-${i / BATCH}`, transactions: txs.map((t) => toIngestItem(t)) },
    });
    if (res.status !== 200)
      throw new Error(`ingest ${partner.id} batch ${i / BATCH}: ${res.status} ${JSON.stringify(res.body)}`);
    acknowledged.push(...txs.map((t) => t.id));
    onBatch();
  }
  return acknowledged;
}

/** The operators' decision for each kind of exception (the same in every run). */
const RESOLUTION: Record<string, string> = {
  missing_theirs: 'accept_ours',
  missing_ours: 'write_off',
  amount_mismatch: 'accept_theirs',
  control_total_mismatch: 'accept_ours',
};

/**
 * Starts every (partner, day) cycle and acts as the operators until each has ended: resolves
 * open exceptions, gives the two approvals where needed. Returns each cycle's final status.
 */
export async function settle(
  api: Api,
  p: Plan,
  tokens: { resolver: string; approvers: [string, string] },
  deadlineMs: number,
): Promise<Map<string, string>> {
  const ids: string[] = [];
  for (const partner of p.partners)
    for (const day of p.days) {
      const res = await api.call('POST', '/v1/settlements', {
        body: { partnerId: partner.id, periodStart: day },
      });
      if (res.status !== 202 && res.status !== 409)
        throw new Error(`start ${partner.id} ${day}: ${res.status} ${JSON.stringify(res.body)}`);
      ids.push(`settlement:${partner.id}:${day}`);
    }
  const final = new Map<string, string>();
  const until = Date.now() + deadlineMs;
  while (final.size < ids.length) {
    if (Date.now() > until) {
      for (const id of ids) if (!final.has(id)) final.set(id, 'not finished');
      break;
    }
    const open = await api.call('GET', '/v1/exceptions?status=open&limit=200');
    for (const e of (open.body.exceptions ?? []) as {
      settlementId: string;
      exceptionId: string;
      kind: string;
    }[]) {
      await api.call(
        'POST',
        `/v1/settlements/${encodeURIComponent(e.settlementId)}/exceptions/${encodeURIComponent(e.exceptionId)}/resolution`,
        {
          token: tokens.resolver,
          body: { resolution: RESOLUTION[e.kind] ?? 'accept_ours', reason: `chaos: ${e.kind}` },
        },
      );
    }
    for (const id of ids) {
      if (final.has(id)) continue;
      const s = await api.call('GET', `/v1/settlements/${encodeURIComponent(id)}`);
      const status = s.body.status;
      if (status === 'Completed' || status === 'Failed') final.set(id, status);
      else if (status === 'AwaitingPayoutApproval') {
        // Who approved so far, in order (the operators' view: actor key and display name).
        const have = (s.body.approvals ?? []) as { actor: string | null; name: string }[];
        for (const [i, token] of tokens.approvers.entries()) {
          if (have.length > i) continue;
          // 422 "already approved": a retried approval that had gone through.
          await api.call('POST', `/v1/settlements/${encodeURIComponent(id)}/payout-approvals`, {
            token,
            body: {},
          });
        }
      }
    }
    await sleep(500);
  }
  return final;
}

/** Each cycle's statement as the API serves it (its JSON text), by cycle id. */
export async function statements(api: Api, cycleIds: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const id of cycleIds) {
    const res = await api.call('GET', `/v1/settlements/${encodeURIComponent(id)}/statement`);
    out.set(id, res.status === 200 ? JSON.stringify(res.body) : `missing (${res.status})`);
  }
  return out;
}

/** Where two statements differ: the top-level fields whose values are not the same. */
export function statementDifference(a: string, b: string): string {
  if (a.startsWith('missing') || b.startsWith('missing')) return `${a.slice(0, 40)} vs ${b.slice(0, 40)}`;
  const x = JSON.parse(a) as Record<string, unknown>;
  const y = JSON.parse(b) as Record<string, unknown>;
  return [...new Set([...Object.keys(x), ...Object.keys(y)])]
    .filter((k) => JSON.stringify(x[k]) !== JSON.stringify(y[k]))
    .map((k) => `${k}: ${JSON.stringify(x[k]).slice(0, 300)} vs ${JSON.stringify(y[k]).slice(0, 300)}`)
    .join('; ');
}
