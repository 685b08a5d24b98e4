// Settlement cycles: how many are in each status, which are stuck and what each waits for
// (operators), and the list of cycles filtered by status and partner; each links to its record.
import { cards, allRows, section, problem } from '../lib/ui.js';

const enc = encodeURIComponent;

function whyText(r) {
  if (typeof r.why === 'string') return r.why;
  if (Array.isArray(r.why)) return r.why.join('; ');
  return r.why ? JSON.stringify(r.why) : '—';
}

export async function render(ctx) {
  const { api, h, fmt, link, me, view, query, pagedTable, navigate } = ctx;
  const operator = me.kind === 'operator';
  const status = (query.get('status') || '').slice(0, 40);
  const partnerId = operator ? query.get('partnerId') || '' : '';
  view.append(h('h1', null, status ? `Cycles: ${status}` : 'Settlement cycles'));

  const parts = [];
  if (operator) {
    const summary = h('div');
    try {
      const insights = await api('/v1/insights/cycles');
      summary.append(
        cards(
          (insights.byStatus || []).map((s) => ({
            label: s.status,
            value: fmt.int(s.count),
            href: `/console/cycles?status=${enc(s.status)}`,
          })),
          'Cycles by status',
        ),
      );
      const stuck = insights.stuck || [];
      summary.append(
        pagedTable({
          caption: 'Stuck cycles and what each waits for',
          csvName: 'stuck-cycles.csv',
          columns: [
            { key: 'id', label: 'Cycle', render: (r) => link(`/console/settlements/${enc(r.id)}`, r.id) },
            {
              key: 'partnerId',
              label: 'Partner',
              render: (r) => link(`/console/partners/${enc(r.partnerId)}`, r.partnerId),
            },
            { key: 'status', label: 'Status' },
            { key: 'since', label: 'Since', render: (r) => fmt.time(r.since), csv: (r) => r.since },
            { key: 'why', label: 'Waiting for', render: whyText, csv: whyText },
            {
              key: 'temporalUiUrl',
              label: 'Workflow',
              render: (r) =>
                r.temporalUiUrl ? h('a', { href: r.temporalUiUrl }, 'Open in the Temporal UI') : '—',
              csv: (r) => r.temporalUiUrl || '',
            },
          ],
          fetchPage: async () => ({ rows: stuck, nextCursor: null }),
          empty: 'No cycle is stuck.',
        }),
      );
    } catch (err) {
      summary.append(problem(err, 'Cycles by status'));
    }
    parts.push(section('By status', 'by-status', summary));
  } else {
    // A partner user: its own cycles counted from the list the API scopes to it.
    try {
      const { rows, complete } = await allRows(api, '/v1/settlements', { limit: 500 }, 'settlements', 4);
      const counts = new Map();
      for (const c of rows) counts.set(c.status, (counts.get(c.status) || 0) + 1);
      parts.push(
        section(
          'By status',
          'by-status',
          cards(
            [...counts.entries()].map(([s, n]) => ({
              label: s,
              value: `${complete ? '' : '≥ '}${fmt.int(n)}`,
              href: `/console/cycles?status=${enc(s)}`,
            })),
            'Your cycles by status',
          ),
        ),
      );
    } catch (err) {
      parts.push(problem(err, 'Cycles'));
    }
  }

  const statusInput = h('input', {
    id: 'cycle-status',
    name: 'status',
    value: status,
    size: '20',
    autocomplete: 'off',
  });
  const partnerInput = operator
    ? h('input', {
        id: 'cycle-partner',
        name: 'partnerId',
        value: partnerId,
        size: '20',
        autocomplete: 'off',
      })
    : null;
  const form = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      'aria-label': 'Filter cycles',
      onsubmit: (event) => {
        event.preventDefault();
        const q = new URLSearchParams();
        if (statusInput.value.trim()) q.set('status', statusInput.value.trim());
        if (partnerInput && partnerInput.value.trim()) q.set('partnerId', partnerInput.value.trim());
        navigate(`/console/cycles${q.toString() ? `?${q}` : ''}`);
      },
    },
    h('div', null, h('label', { for: 'cycle-status' }, 'Status'), statusInput),
    partnerInput ? h('div', null, h('label', { for: 'cycle-partner' }, 'Partner id'), partnerInput) : null,
    h('div', null, h('button', { type: 'submit' }, 'Show')),
  );
  const table = pagedTable({
    caption: `Cycles${status ? ` with status ${status}` : ''}${partnerId ? ` of ${partnerId}` : ''}, newest period first`,
    csvName: 'cycles.csv',
    columns: [
      { key: 'id', label: 'Cycle', render: (r) => link(`/console/settlements/${enc(r.id)}`, r.id) },
      {
        key: 'partnerId',
        label: 'Partner',
        render: (r) => link(`/console/partners/${enc(r.partnerId)}`, r.partnerId),
      },
      { key: 'periodStart', label: 'Period start' },
      { key: 'periodEnd', label: 'Period end' },
      { key: 'status', label: 'Status' },
      {
        key: 'frozenAt',
        label: 'Frozen',
        render: (r) => (r.frozenAt ? fmt.time(r.frozenAt) : '—'),
        csv: (r) => r.frozenAt || '',
      },
    ],
    fetchPage: async (cursor) => {
      const res = await api('/v1/settlements', { status, partnerId, cursor, limit: 50 });
      return { rows: res.settlements || [], nextCursor: res.nextCursor };
    },
    empty: 'No cycles match.',
  });
  parts.push(section('Cycles', 'list', form, table));
  view.append(...parts);
  await table.loaded;
  return { title: status ? `Cycles: ${status}` : 'Cycles' };
}
