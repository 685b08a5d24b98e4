// One partner's month: its state, what blocks its close, and its period report — per currency and
// account, opening, movements by kind and closing, on both axes (by effective date, as recorded);
// a closed period's report is the stored one, with its digest. `?asRecordedAt=` shows what the books
// said at an instant instead.
import { facts, section, badge } from '../lib/ui.js';
import { blockersText } from './periods.js';

const enc = encodeURIComponent;
const AXES = [
  ['byEffectiveDate', 'by effective date'],
  ['asRecorded', 'as recorded'],
];

export async function render(ctx) {
  const { api, h, fmt, link, me, view, params, query, pagedTable, navigate } = ctx;
  const operator = me.kind === 'operator';
  const { partnerId, month } = params;
  const base = `/v1/periods/${enc(partnerId)}/${enc(month)}`;
  const asRecordedAt = (query.get('asRecordedAt') || '').trim();
  const period = await api(base);
  const report = asRecordedAt ? await api(`${base}/report`, { asRecordedAt }) : period.report;
  const heading = `Period ${month} of ${partnerId}`;

  const who = (v) => (v && typeof v === 'object' ? v.name || v.actor : v || undefined);
  view.append(
    h('h1', null, heading),
    facts([
      ['Partner', link(`/console/partners/${enc(partnerId)}`, partnerId)],
      [
        'State',
        badge(period.state, period.state === 'closed' ? 'ok' : period.blockers.length ? 'warning' : null),
      ],
      ['Blockers', blockersText(period.blockers)],
      ['Blocked since', period.blockedAt ? fmt.time(period.blockedAt) : undefined],
      [
        'Close requested',
        period.closeRequestedBy
          ? `${who(period.closeRequestedBy)}${period.closeRequestedBy.at ? ` at ${fmt.time(period.closeRequestedBy.at)}` : ''}`
          : undefined,
      ],
      ['Closing since', period.closingAt ? fmt.time(period.closingAt) : undefined],
      ['Closed', period.closedAt ? fmt.time(period.closedAt) : undefined],
      ['Closed by', period.closedBy ? who(period.closedBy) : undefined],
      [
        'Report digest (sha256)',
        period.reportDigest ? h('code', null, period.reportDigest) : 'none until the period closes',
      ],
      [
        'Report',
        `${report.from} to ${report.to} (${report.timezone}), postings recorded by ${fmt.time(report.asRecordedAt)}`,
      ],
    ]),
  );

  if (period.blockers.length) {
    view.append(
      section(
        'What blocks the close',
        'blockers',
        pagedTable({
          caption: `Blockers of ${month}`,
          csvName: `period-${partnerId}-${month}-blockers.csv`,
          columns: [
            { key: 'kind', label: 'Kind' },
            { key: 'ref', label: 'Reference' },
            { key: 'detail', label: 'Detail' },
          ],
          fetchPage: async () => ({ rows: period.blockers, nextCursor: null }),
        }),
      ),
    );
  }

  // What the books said at an instant (operators and partners alike: the API scopes it).
  const instant = h('input', {
    id: 'as-recorded-at',
    name: 'asRecordedAt',
    value: asRecordedAt,
    size: '26',
    placeholder: '2026-12-01T00:00:00Z',
    autocomplete: 'off',
  });
  const asOf = h(
    'form',
    {
      class: 'filters',
      'aria-label': 'Report as recorded at an instant',
      onsubmit: (event) => {
        event.preventDefault();
        const v = instant.value.trim();
        navigate(`/console/periods/${enc(partnerId)}/${enc(month)}${v ? `?asRecordedAt=${enc(v)}` : ''}`);
      },
    },
    h(
      'div',
      null,
      h('label', { for: 'as-recorded-at' }, 'As recorded at (RFC 3339, empty: now or the stored report)'),
      instant,
    ),
    h('div', null, h('button', { type: 'submit' }, 'Show the report')),
  );

  const kinds = report.movementKinds || [];
  const reportParts = [asOf];
  const tables = [];
  if (!report.currencies || report.currencies.length === 0) {
    reportParts.push(h('p', { class: 'notice' }, 'No postings for this partner in this month.'));
  }
  for (const c of report.currencies || []) {
    const rows = c.accounts.flatMap((a) =>
      AXES.map(([axis, label]) => ({ account: a, axis: label, figures: a[axis] })),
    );
    const table = pagedTable({
      caption: `${c.currency}: opening, movements by kind and closing per account, on both axes`,
      csvName: `period-${partnerId}-${month}-${c.currency}.csv`,
      columns: [
        {
          key: 'account',
          label: 'Account',
          render: (r) =>
            operator
              ? link(`/console/ledger/accounts/${enc(r.account.code)}`, r.account.name || r.account.code)
              : r.account.name || r.account.code,
          csv: (r) => r.account.code,
        },
        { key: 'axis', label: 'Axis' },
        {
          key: 'opening',
          label: 'Opening',
          numeric: true,
          render: (r) => fmt.money(r.figures.opening),
          csv: (r) => r.figures.opening,
        },
        ...kinds.map((k) => ({
          key: k,
          label: k,
          numeric: true,
          render: (r) => fmt.money(r.figures.movements[k]),
          csv: (r) => r.figures.movements[k],
        })),
        {
          key: 'closing',
          label: 'Closing',
          numeric: true,
          render: (r) => fmt.money(r.figures.closing),
          csv: (r) => r.figures.closing,
        },
      ],
      fetchPage: async () => ({ rows, nextCursor: null }),
      empty: 'No accounts.',
    });
    tables.push(table);
    reportParts.push(table);
  }
  reportParts.push(
    h(
      'p',
      { class: 'muted' },
      'Balances are debit-positive, in major units of each currency, as the API reports them.',
    ),
  );
  view.append(
    section(
      asRecordedAt ? `Report as recorded at ${asRecordedAt}` : 'Period report',
      'report',
      ...reportParts,
    ),
  );

  const cycles = report.cycles || [];
  const late = report.late || [];
  view.append(
    section(
      'Cycles and late entries',
      'cycles',
      pagedTable({
        caption: `Settlement cycles in ${month}`,
        csvName: `period-${partnerId}-${month}-cycles.csv`,
        columns: [
          {
            key: 'id',
            label: 'Cycle',
            render: (r) => link(`/console/settlements/${enc(r.id)}`, r.id),
            csv: (r) => r.id,
          },
          { key: 'periodStart', label: 'Period start' },
          { key: 'periodEnd', label: 'Period end' },
          { key: 'status', label: 'Status' },
        ],
        fetchPage: async () => ({ rows: cycles, nextCursor: null }),
        empty: 'No cycle in this month.',
      }),
      pagedTable({
        caption: `Late entries (${fmt.int(report.lateCount ?? late.length)}): dated in another day, or posted after the day's cycle`,
        csvName: `period-${partnerId}-${month}-late.csv`,
        columns: [
          { key: 'entryKey', label: 'Entry' },
          { key: 'kind', label: 'Kind' },
          { key: 'forDay', label: 'For day' },
          { key: 'effectiveDate', label: 'Effective' },
          { key: 'postedAt', label: 'Posted', render: (r) => fmt.time(r.postedAt), csv: (r) => r.postedAt },
          {
            key: 'ggr',
            label: 'GGR',
            numeric: true,
            render: (r) => fmt.money(r.ggr, r.currency),
            csv: (r) => r.ggr,
          },
          { key: 'currency', label: 'Currency' },
        ],
        fetchPage: async () => ({ rows: late, nextCursor: null }),
        empty: 'No late entries.',
      }),
    ),
  );
  await Promise.all(tables.map((t) => t.loaded));
  // A wide report scrolls sideways: its region takes the keyboard focus so it can be scrolled.
  for (const t of tables) {
    const scroller = t.querySelector('.table-scroll');
    if (scroller) {
      scroller.setAttribute('tabindex', '0');
      scroller.setAttribute('role', 'region');
      scroller.setAttribute('aria-label', t.querySelector('caption').textContent);
    }
  }
  return { title: heading };
}
