// One restatement: what it changes, its chain of periods (each from one statement version to the
// next), the statement lines before and after side by side, the delta entries it posts, its
// approvals, and every version of each statement in the chain (links to the API's stored JSON).
import { facts, section, badge, problem } from '../lib/ui.js';

const enc = encodeURIComponent;
const versionHref = (settlementId, n) => `/v1/settlements/${enc(settlementId)}/statements/${enc(n)}`;

function reasonText(reason, fmt) {
  if (!reason || !reason.kind) return '—';
  const parts = [reason.kind.replace(/_/g, ' ')];
  if (reason.contractVersion !== undefined) parts.push(`contract version ${reason.contractVersion}`);
  if (reason.line) parts.push(`line ${reason.line}`);
  if (reason.amountMinor !== undefined) parts.push(`${fmt.int(reason.amountMinor)} in minor units`);
  if (reason.reference) parts.push(`reference ${reason.reference}`);
  if (reason.note) parts.push(`“${reason.note}”`);
  return parts.join(' · ');
}

export async function render(ctx) {
  const { api, h, fmt, link, me, view, params, pagedTable } = ctx;
  const operator = me.kind === 'operator';
  const r = await api(`/v1/restatements/${enc(params.id)}`);
  const computed = r.computed || null;
  const currency = computed ? computed.currency : undefined;
  const heading = `Restatement ${r.id}`;
  const approvals = r.approvals || [];

  view.append(
    h('h1', null, heading),
    facts([
      ['Partner', link(`/console/partners/${enc(r.partnerId)}`, r.partnerId)],
      ['Restated cycle', link(`/console/settlements/${enc(r.settlementId)}`, r.settlementId)],
      ['Reason', reasonText(r.reason, fmt)],
      [
        'State',
        badge(
          r.state.replace(/_/g, ' '),
          r.state === 'posted' ? 'ok' : r.state === 'failed' || r.state === 'rejected' ? 'bad' : null,
        ),
      ],
      ['Requested', fmt.time(r.createdAt)],
      ['Requested by', operator && r.requestedBy ? r.requestedBy.name : undefined],
      ['Detail', r.detail || undefined],
      ['Posting date', computed ? computed.postingDate : undefined],
      ['Net payable change', computed ? fmt.money(computed.netPayableDelta, currency) : 'not computed yet'],
      ['Delta journal', r.deltaJournalId ? h('code', null, r.deltaJournalId) : undefined],
      ['Workflow', operator && r.workflowId ? h('code', null, r.workflowId) : undefined],
    ]),
  );

  const periods = computed ? computed.periods || [] : [];
  const tables = [];
  const add = (t) => {
    tables.push(t);
    return t;
  };
  const versionLink = (settlementId, n) =>
    n === null || n === undefined
      ? 'unchanged'
      : h('a', { href: versionHref(settlementId, n) }, `version ${n}`);
  view.append(
    section(
      'Chain of periods',
      'chain',
      add(
        pagedTable({
          caption: 'The restated period and every later one that depended on it, in order',
          csvName: `${r.id}-periods.csv`,
          columns: [
            {
              key: 'settlementId',
              label: 'Cycle',
              render: (p) => link(`/console/settlements/${enc(p.settlementId)}`, p.settlementId),
              csv: (p) => p.settlementId,
            },
            { key: 'periodStart', label: 'Period start' },
            { key: 'periodEnd', label: 'Period end' },
            {
              key: 'fromVersion',
              label: 'Before',
              render: (p) => versionLink(p.settlementId, p.fromVersion),
              csv: (p) => p.fromVersion,
            },
            {
              key: 'toVersion',
              label: 'After',
              render: (p) => versionLink(p.settlementId, p.toVersion),
              csv: (p) => p.toVersion ?? '',
            },
            {
              key: 'netPayableDelta',
              label: 'Net payable change',
              numeric: true,
              render: (p) => fmt.money(p.netPayableDelta, currency),
              csv: (p) => p.netPayableDelta,
            },
          ],
          fetchPage: async () => ({ rows: periods, nextCursor: null }),
          empty: computed ? 'No period changes.' : 'The chain is not computed yet.',
        }),
      ),
    ),
  );

  const changed = periods.filter((p) => (p.lines || []).length > 0);
  view.append(
    section(
      'Statement lines, before and after',
      'lines',
      changed.length === 0
        ? h('p', { class: 'notice' }, computed ? 'No statement line changes.' : 'Not computed yet.')
        : null,
      changed.map((p) =>
        add(
          pagedTable({
            caption: `${p.settlementId}: version ${p.fromVersion} → ${p.toVersion === null ? 'unchanged' : `version ${p.toVersion}`}`,
            csvName: `${r.id}-${p.settlementId}-lines.csv`,
            columns: [
              { key: 'field', label: 'Line' },
              {
                key: 'before',
                label: `Before (version ${p.fromVersion})`,
                numeric: true,
                render: (l) => fmt.money(l.before, currency),
                csv: (l) => l.before,
              },
              {
                key: 'after',
                label: p.toVersion === null ? 'After' : `After (version ${p.toVersion})`,
                numeric: true,
                render: (l) => fmt.money(l.after, currency),
                csv: (l) => l.after,
              },
            ],
            fetchPage: async () => ({ rows: p.lines, nextCursor: null }),
          }),
        ),
      ),
    ),
  );

  const postings = computed
    ? (computed.delta || []).flatMap((e) => e.postings.map((x) => ({ key: e.key, ...x })))
    : [];
  view.append(
    section(
      'Delta entries',
      'delta',
      add(
        pagedTable({
          caption: `What it posts (dated ${computed ? computed.postingDate : 'when computed'}), one row per posting`,
          csvName: `${r.id}-delta.csv`,
          columns: [
            { key: 'key', label: 'Entry' },
            { key: 'debit', label: 'Debit' },
            { key: 'credit', label: 'Credit' },
            {
              key: 'amount',
              label: 'Amount',
              numeric: true,
              render: (x) => fmt.money(x.amount, currency),
              csv: (x) => x.amount,
            },
          ],
          fetchPage: async () => ({ rows: postings, nextCursor: null }),
          empty: computed ? 'Nothing to post.' : 'Not computed yet.',
        }),
      ),
    ),
  );

  view.append(
    section(
      'Approvals',
      'approvals',
      add(
        pagedTable({
          caption: `Approvals (${approvals.length} of 2)`,
          csvName: `${r.id}-approvals.csv`,
          columns: operator
            ? [
                { key: 'name', label: 'Approver' },
                { key: 'at', label: 'At', render: (a) => fmt.time(a.at), csv: (a) => a.at },
              ]
            : [{ key: 'approved', label: 'Approval', render: () => 'approved', csv: () => 'approved' }],
          fetchPage: async () => ({ rows: approvals, nextCursor: null }),
          empty: 'No approval yet.',
        }),
      ),
      r.rejectedBy
        ? h(
            'p',
            { class: 'notice' },
            operator && r.rejectedBy.name ? `Rejected by ${r.rejectedBy.name}.` : 'Rejected.',
          )
        : null,
    ),
  );

  // Every version of each statement in the chain (the restated cycle first).
  const cycles = [...new Set([r.settlementId, ...periods.map((p) => p.settlementId)])];
  const versions = section('Statement versions', 'versions');
  view.append(versions);
  await Promise.all(
    cycles.map(async (id) => {
      const holder = h('div');
      versions.append(holder);
      try {
        const res = await api(`/v1/settlements/${enc(id)}/statements`);
        const t = pagedTable({
          caption: `Statement versions of ${id}, oldest first`,
          csvName: `${id}-statement-versions.csv`,
          columns: [
            {
              key: 'version',
              label: 'Version',
              render: (v) => h('a', { href: v.href || versionHref(id, v.version) }, `version ${v.version}`),
              csv: (v) => v.version,
            },
            {
              key: 'createdAt',
              label: 'Issued',
              render: (v) => fmt.time(v.createdAt),
              csv: (v) => v.createdAt,
            },
            {
              key: 'netPayable',
              label: 'Net payable',
              numeric: true,
              render: (v) => fmt.money(v.netPayable, currency),
              csv: (v) => v.netPayable,
            },
            {
              key: 'restatementId',
              label: 'Restated by',
              render: (v) =>
                v.restatementId
                  ? link(`/console/restatements/${enc(v.restatementId)}`, v.restatementId)
                  : 'the cycle',
              csv: (v) => v.restatementId || '',
            },
            {
              key: 'digest',
              label: 'Digest (sha256)',
              render: (v) => h('code', null, v.digest.slice(0, 12)),
              csv: (v) => v.digest,
            },
          ],
          fetchPage: async () => ({ rows: res.versions || [], nextCursor: null }),
          empty: 'No statement issued.',
        });
        holder.append(t);
        await t.loaded;
      } catch (err) {
        holder.append(problem(err, `Statement versions of ${id}`));
      }
    }),
  );
  await Promise.all(tables.map((t) => t.loaded));
  return { title: heading };
}
