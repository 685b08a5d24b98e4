// Alerts: filter by state, kind and partner; each links to its evidence. A partner user sees the
// operational alerts about itself only (the API decides: never integrity signals, never notes).
import { badge, allRows } from '../lib/ui.js';

const enc = encodeURIComponent;
const STATES = ['active', 'resolved', ''];
const KINDS = [
  'rtp_drift',
  'volume_spike',
  'volume_drop',
  'volume_silence',
  'rollback_rate',
  'duplicate_rate',
  'orphan_rollbacks',
  'stale_transactions',
  'late_report',
  'fx_move',
  'big_win',
  'big_win_after_payout',
];

export async function render(ctx) {
  const { api, h, fmt, link, me, view, query, pagedTable, navigate } = ctx;
  const operator = me.kind === 'operator';
  const state = STATES.includes(query.get('state') || '') ? query.get('state') || '' : '';
  const kind = KINDS.includes(query.get('kind') || '') ? query.get('kind') : '';
  const partnerId = operator ? query.get('partnerId') || '' : '';

  let names = new Map();
  if (operator) {
    try {
      const { rows } = await allRows(api, '/v1/partners', { limit: 500 }, 'partners', 10);
      names = new Map(rows.map((p) => [p.id, p.name]));
    } catch {
      names = new Map();
    }
  }
  const nameOf = (id) => names.get(id) || id;

  const stateSelect = h(
    'select',
    { id: 'alert-state', name: 'state' },
    [
      ['', 'Any'],
      ['active', 'Active'],
      ['resolved', 'Resolved'],
    ].map(([value, text]) => h('option', { value, selected: value === state }, text)),
  );
  const kindSelect = h(
    'select',
    { id: 'alert-kind', name: 'kind' },
    h('option', { value: '' }, 'Any'),
    KINDS.map((k) => h('option', { value: k, selected: k === kind }, k.replace(/_/g, ' '))),
  );
  const partnerInput = operator
    ? h('input', {
        id: 'alert-partner',
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
      'aria-label': 'Filter alerts',
      onsubmit: (event) => {
        event.preventDefault();
        const q = new URLSearchParams();
        if (stateSelect.value) q.set('state', stateSelect.value);
        if (kindSelect.value) q.set('kind', kindSelect.value);
        if (partnerInput && partnerInput.value.trim()) q.set('partnerId', partnerInput.value.trim());
        navigate(`/console/alerts${q.toString() ? `?${q}` : ''}`);
      },
    },
    h('div', null, h('label', { for: 'alert-state' }, 'State'), stateSelect),
    h('div', null, h('label', { for: 'alert-kind' }, 'Kind'), kindSelect),
    partnerInput ? h('div', null, h('label', { for: 'alert-partner' }, 'Partner id'), partnerInput) : null,
    h('div', null, h('button', { type: 'submit' }, 'Show')),
  );

  const described = [
    state || 'all',
    kind ? kind.replace(/_/g, ' ') : null,
    partnerId ? `partner ${partnerId}` : null,
  ]
    .filter(Boolean)
    .join(', ');
  const table = pagedTable({
    caption: `Alerts (${described}), newest first`,
    csvName: 'alerts.csv',
    columns: [
      {
        key: 'id',
        label: 'Id',
        render: (r) => link(`/console/alerts/${enc(r.id)}`, `#${r.id}`),
        csv: (r) => r.id,
      },
      {
        key: 'title',
        label: 'Alert',
        render: (r) => link(`/console/alerts/${enc(r.id)}`, r.title),
        csv: (r) => r.title,
      },
      {
        key: 'severity',
        label: 'Severity',
        render: (r) => badge(r.severity, r.severity),
        csv: (r) => r.severity,
      },
      { key: 'kind', label: 'Kind' },
      {
        key: 'partnerId',
        label: 'Partner',
        render: (r) =>
          r.partnerId ? link(`/console/partners/${enc(r.partnerId)}`, nameOf(r.partnerId)) : '—',
        csv: (r) => r.partnerId || '',
      },
      { key: 'state', label: 'State' },
      {
        key: 'firstSeen',
        label: 'First seen',
        render: (r) => fmt.time(r.firstSeen),
        csv: (r) => r.firstSeen,
      },
      { key: 'lastSeen', label: 'Last seen', render: (r) => fmt.time(r.lastSeen), csv: (r) => r.lastSeen },
      {
        key: 'occurrences',
        label: 'Seen',
        numeric: true,
        render: (r) => fmt.int(r.occurrences),
        csv: (r) => r.occurrences,
      },
      {
        key: 'acknowledgement',
        label: 'Acknowledged',
        render: (r) =>
          r.acknowledgement ? `${r.acknowledgement.name ? `by ${r.acknowledgement.name}` : 'yes'}` : 'no',
        csv: (r) => (r.acknowledgement ? r.acknowledgement.name || 'yes' : 'no'),
      },
    ],
    fetchPage: async (cursor) => {
      const res = await api('/v1/alerts', { state, kind, partnerId, cursor, limit: 50 });
      return { rows: res.alerts || res.items || [], nextCursor: res.nextCursor };
    },
    empty: 'No alerts match.',
  });

  view.append(
    h('h1', null, 'Alerts'),
    h(
      'p',
      { class: 'muted' },
      operator
        ? 'Anomalies the watch found, each with its evidence (the numbers and the query that reproduces them). One alert per crossing, refreshed while the condition holds.'
        : 'Operational alerts about your account, such as a late provider report or a silence during expected activity.',
    ),
    form,
    table,
  );
  await table.loaded;
  return { title: 'Alerts' };
}
