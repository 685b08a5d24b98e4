import { Client, Connection } from '@temporalio/client';
import type pg from 'pg';
import { journalOf } from '../../db/journals';
import { formatAmount } from '../../domain/money';
import { restatementWorkflowId } from '../../workflows/ids';
import { statementLineTotals, type Statement } from '../../domain/statement';
import { rng, sleep, type Api, type Plan } from './workload';

type Queryable = Pick<pg.Pool, 'query'>;

// What operators and partners do once a chaos run's cycles have completed, the same in both
// runs: a month closed, manual restatements (a tier-fee credit) and a dispute decided in part
// (which requests its own restatement), each restatement approved by two approvers other than
// its requester and waited for until posted. The faulty run SIGKILLs the worker while they
// compute and post (see `onStep`).

/** One partner's steps, in order (a partner's restatements stack, so they are not concurrent). */
export interface PartnerSteps {
  partnerId: string;
  /** The month closed first (every cycle of the plan lies in it). */
  close: string | null;
  /** A manual restatement of this cycle (tier fee −1.00). */
  restate: string | null;
  /** A dispute of this cycle's tier fee, decided accept_in_part. */
  dispute: string | null;
}

/**
 * The seeded choice: about half the partners (at least one, at most three) get a manual
 * restatement of one of their cycles; one partner a dispute; the first chosen partner's month is
 * closed before its restatement (a restatement of a closed period).
 */
export function afterPlan(p: Plan): PartnerSteps[] {
  const rnd = rng(p.seed * 40503 + 11);
  const order = p.partners.map((x) => x.id);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const restated = Math.max(1, Math.min(3, Math.floor(order.length / 2)));
  const day = () => p.days[Math.floor(rnd() * p.days.length)]!;
  const month = p.days[0]!.slice(0, 7);
  const disputed = order[order.length - 1]!;
  return order
    .map((partnerId, i) => ({
      partnerId,
      close: i === 0 ? month : null,
      restate: i < restated ? `settlement:${partnerId}:${day()}` : null,
      dispute: partnerId === disputed ? `settlement:${partnerId}:${day()}` : null,
    }))
    .filter((s) => s.close !== null || s.restate !== null || s.dispute !== null);
}

/**
 * Called before a restatement's last approval: may hold the partner's money lock so that the
 * posting, once approved, waits inside its transaction; the function it returns is called
 * after the approval (true: it went through) and kills the worker there, then lets go.
 */
export type HoldPosting = (partnerId: string) => Promise<((approved: boolean) => Promise<void>) | null>;

export interface RestatementOutcome {
  id: string;
  settlementId: string;
  /** What requested it: `manual:<reference>` or `dispute:<reference>` (stable across runs). */
  label: string;
  state: string;
  detail: string | null;
}

export interface AfterResult {
  restatements: RestatementOutcome[];
  disputes: { id: string; reference: string; state: string }[];
  periods: { partnerId: string; month: string; state: string; blockers: unknown }[];
  /**
   * Ids that differ between runs for the same change (a dispute's id is random, and so is the
   * id of the restatement it requests), each with the stable name both runs share.
   */
  aliases: Map<string, string>;
}

const TERMINAL = ['posted', 'empty', 'rejected', 'failed'];
const enc = encodeURIComponent;

async function waitFor<T>(
  what: string,
  deadline: number,
  look: () => Promise<T | undefined>,
): Promise<T | 'timeout'> {
  for (;;) {
    const got = await look();
    if (got !== undefined) return got;
    if (Date.now() > deadline) {
      process.stdout.write(`gave up waiting for ${what}\n`);
      return 'timeout';
    }
    await sleep(400);
  }
}

/**
 * Approves a restatement with both approvers once it awaits approval, and waits for it to end.
 * A 403 is an approval that went through already (a retried call); a 409 means not awaiting
 * approval (still computing, or decided): look again.
 */
async function approveAndWait(
  api: Api,
  id: string,
  partnerId: string,
  approvers: [string, string],
  deadline: number,
  onStep: (step: 'posting') => void,
  holdPosting?: HoldPosting,
): Promise<{ state: string; detail: string | null }> {
  const given = new Set<number>();
  const end = await waitFor(`restatement ${id}`, deadline, async () => {
    const r = await api.call('GET', `/v1/restatements/${enc(id)}`);
    const state = String(r.body.state);
    if (TERMINAL.includes(state)) return { state, detail: (r.body.detail as string | null) ?? null };
    if (state !== 'awaiting_approval') return undefined;
    for (const [i, token] of approvers.entries()) {
      if (given.has(i)) continue;
      const last = given.size === approvers.length - 1;
      const held = last && holdPosting ? await holdPosting(partnerId) : null;
      const res = await api.call('POST', `/v1/restatements/${enc(id)}/approvals`, {
        token,
        body: { comment: 'chaos run' },
      });
      if (held) await held(res.status === 200 || res.status === 403);
      if (res.status !== 200 && res.status !== 403) break;
      given.add(i);
      if (given.size === approvers.length) onStep('posting');
    }
    return undefined;
  });
  return end === 'timeout' ? { state: 'not finished', detail: null } : end;
}

/**
 * Runs every partner's steps (partners at once, each one's in order) and returns what became of
 * them. `onStep` is told when a restatement was requested (its workflow computes) and when its
 * second approval went through (it posts).
 */
export async function afterSettlement(
  api: Api,
  steps: PartnerSteps[],
  ctx: {
    seed: number;
    tokens: { resolver: string; approvers: [string, string] };
    partnerKeys: Map<string, string>;
    deadlineMs: number;
    onStep: (step: 'computing' | 'posting') => void;
    holdPosting?: HoldPosting;
  },
): Promise<AfterResult> {
  const deadline = Date.now() + ctx.deadlineMs;
  const out: AfterResult = { restatements: [], disputes: [], periods: [], aliases: new Map() };

  const close = async (partnerId: string, month: string) => {
    const started = await api.call('POST', `/v1/periods/${enc(partnerId)}/${month}/close`, {
      token: ctx.tokens.approvers[0],
    });
    // 409: closed already or closing (a retried call that had gone through).
    if (started.status !== 202 && started.status !== 409)
      throw new Error(`close ${partnerId} ${month}: ${started.status} ${JSON.stringify(started.body)}`);
    let last: { state: string; blockers: unknown } = { state: 'unknown', blockers: [] };
    await waitFor(`the close of ${partnerId} ${month}`, deadline, async () => {
      const r = await api.call('GET', `/v1/periods/${enc(partnerId)}/${month}`);
      last = { state: String(r.body.state), blockers: r.body.blockers ?? [] };
      return last.state === 'closed' ? true : undefined;
    });
    out.periods.push({ partnerId, month, ...last });
  };

  const restate = async (settlementId: string) => {
    const reference = `chaos-${ctx.seed}-${settlementId.replace(/^settlement:/, '')}`;
    const res = await api.call('POST', '/v1/restatements', {
      token: ctx.tokens.resolver,
      body: {
        settlementId,
        reason: {
          kind: 'manual',
          line: 'tier_fee',
          amount: '-1.00',
          reference,
          note: 'chaos run: a manual tier-fee credit',
        },
      },
    });
    if (res.status !== 202 && res.status !== 200)
      throw new Error(`restate ${settlementId}: ${res.status} ${JSON.stringify(res.body)}`);
    const id = String(res.body.restatementId);
    ctx.onStep('computing');
    const partnerId = settlementId.split(':')[1]!;
    const end = await approveAndWait(
      api,
      id,
      partnerId,
      ctx.tokens.approvers,
      deadline,
      ctx.onStep,
      ctx.holdPosting,
    );
    out.restatements.push({ id, settlementId, label: `manual:${reference}`, ...end });
  };

  const dispute = async (partnerId: string, settlementId: string) => {
    const key = ctx.partnerKeys.get(partnerId);
    if (!key) throw new Error(`no key for ${partnerId}`);
    const reference = `chaos-dispute-${ctx.seed}-${settlementId.replace(/^settlement:/, '')}`;
    const s = await api.call('GET', `/v1/settlements/${enc(settlementId)}/statement`);
    const statement = s.body as unknown as Statement;
    const scale = 2; // EUR, the settlement currency of every chaos partner
    const stated = statementLineTotals({ lines: statement.lines }, scale).tier_fee;
    // The partner says its tier fee is 1.00 lower; operators grant 0.50 of it.
    const opened = await api.call('POST', `/v1/settlements/${enc(settlementId)}/disputes`, {
      token: key,
      body: {
        line: 'tier_fee',
        amountClaimed: formatAmount(stated - 100n, scale),
        reason: 'chaos run: the tier fee is 1.00 too high',
        evidence: ['chaos-ticket-1'],
        reference,
      },
    });
    if (opened.status !== 201 && opened.status !== 200)
      throw new Error(`dispute ${settlementId}: ${opened.status} ${JSON.stringify(opened.body)}`);
    const id = String(opened.body.id);
    out.aliases.set(id, `dispute:${reference}`);
    // 409: decided already (a retried decision that had gone through).
    const decided = await api.call('POST', `/v1/disputes/${enc(id)}/decision`, {
      token: ctx.tokens.resolver,
      body: { outcome: 'accept_in_part', amount: '-0.50', reason: 'chaos run: half of the claim' },
    });
    if (decided.status !== 200 && decided.status !== 409)
      throw new Error(`decide ${id}: ${decided.status} ${JSON.stringify(decided.body)}`);
    const found = await waitFor(`the restatement of dispute ${id}`, deadline, async () => {
      const d = await api.call('GET', `/v1/disputes/${enc(id)}`);
      const rid = d.body.restatementId;
      return typeof rid === 'string' ? { rid, state: String(d.body.state) } : undefined;
    });
    if (found === 'timeout') {
      out.disputes.push({ id, reference, state: 'no restatement' });
      return;
    }
    out.aliases.set(found.rid, `rst-dispute-${reference}`);
    ctx.onStep('computing');
    const end = await approveAndWait(api, found.rid, partnerId, ctx.tokens.approvers, deadline, ctx.onStep);
    const d = await api.call('GET', `/v1/disputes/${enc(id)}`);
    out.disputes.push({ id, reference, state: String(d.body.state) });
    out.restatements.push({ id: found.rid, settlementId, label: `dispute:${reference}`, ...end });
  };

  await Promise.all(
    steps.map(async (s) => {
      if (s.close) await close(s.partnerId, s.close);
      if (s.restate) await restate(s.restate);
      if (s.dispute) await dispute(s.partnerId, s.dispute);
    }),
  );
  out.restatements.sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  return out;
}

/** Every alias's id replaced by its stable name (ledger keys, statement text). */
export function unalias(text: string, aliases: Map<string, string>): string {
  let t = text;
  for (const [id, name] of aliases) t = t.split(id).join(name);
  return t;
}

/**
 * Each restated cycle's latest statement version: its number and exact stored bytes, with ids
 * replaced by their stable names, by settlement id.
 */
export async function latestVersions(
  db: Queryable,
  settlementIds: string[],
  aliases: Map<string, string>,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const id of [...new Set(settlementIds)].sort()) {
    const { rows } = await db.query<{ version: number; text: string }>(
      `SELECT version, statement_text AS text FROM statement_versions
        WHERE cycle_id = $1 ORDER BY version DESC LIMIT 1`,
      [id],
    );
    const r = rows[0];
    out.set(id, r ? `v${r.version}\n${unalias(r.text, aliases)}` : 'missing');
  }
  return out;
}

/**
 * Each restatement's delta in the ledger against its stored delta journal (`<id>:delta`): the
 * journal's entries, the ledger entries with its source or keyed `<id>:…`, and how many of those
 * are not exactly the journal's keys once each (an entry posted twice, or one missing).
 */
export async function deltaInLedger(
  db: Queryable,
  restatementIds: string[],
): Promise<{ journalEntries: number; ledgerEntries: number; mismatched: string[] }> {
  let journalEntries = 0;
  let ledgerEntries = 0;
  const mismatched: string[] = [];
  for (const id of restatementIds) {
    const journal = await journalOf(db, `${id}:delta`);
    const keys = (journal?.entries ?? []).map((e) => e.key).sort();
    const { rows } = await db.query<{ k: string }>(
      `SELECT idempotency_key AS k FROM ledger_entries
        WHERE source_ref = $1 OR starts_with(idempotency_key, $1 || ':') ORDER BY idempotency_key`,
      [id],
    );
    journalEntries += keys.length;
    ledgerEntries += rows.length;
    if (!journal || JSON.stringify(rows.map((r) => r.k)) !== JSON.stringify(keys))
      mismatched.push(`${id}: journal ${journal ? keys.length : 'missing'}, ledger ${rows.length}`);
  }
  return { journalEntries, ledgerEntries, mismatched };
}

/**
 * Evidence that the kills landed in the restatements: from each restatement workflow's history,
 * its compute and post activities that needed more than one attempt (`postRestatement×2`), and
 * its workflow tasks that timed out or failed (a worker gone while it held one).
 */
export async function restatementRetries(
  temporalAddress: string,
  restatementIds: string[],
): Promise<{ activityRetries: string[]; workflowTaskRetries: number }> {
  const connection = await Connection.connect({ address: temporalAddress });
  try {
    const client = new Client({ connection });
    const activityRetries: string[] = [];
    let workflowTaskRetries = 0;
    for (const id of restatementIds) {
      const history = await client.workflow.getHandle(restatementWorkflowId(id)).fetchHistory();
      const scheduled = new Map<string, string>();
      for (const e of history.events ?? []) {
        const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
        if (name) scheduled.set(String(e.eventId), name);
        const started = e.activityTaskStartedEventAttributes;
        if (started && (started.attempt ?? 1) > 1) {
          const activity = scheduled.get(String(started.scheduledEventId)) ?? 'activity';
          activityRetries.push(`${activity}×${started.attempt}`);
        }
        if (e.workflowTaskTimedOutEventAttributes || e.workflowTaskFailedEventAttributes)
          workflowTaskRetries++;
      }
    }
    return { activityRetries, workflowTaskRetries };
  } finally {
    await connection.close();
  }
}
