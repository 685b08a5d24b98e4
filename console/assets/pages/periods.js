// Accounting periods: each partner's months with their state and what blocks their close, filtered
// by partner and state; each links to its report. A month without a row is open: the form opens
// any partner's month (a partner user: its own) by its address.

const enc = encodeURIComponent;
const STATES = ['open', 'closing', 'closed'];

/** A period's blockers as one line of text ("none" when nothing blocks it). */
export function blockersText(blockers) {
  if (!blockers || blockers.length === 0) return 'none';
  return blockers.map((b) => `${b.kind} ${b.ref}: ${b.detail}`).join('; ');
}

export async function render(ctx) {
  const { api, h, fmt, link, me, view, query, pagedTable, navigate } = ctx;
  const operator = me.kind === 'operator';
  const state = STATES.includes(query.get('state') || '') ? query.get('state') : '';
  const partnerId = operator ? (query.get('partnerId') || '').trim() : me.partnerId || '';

  const stateSelect = h(
    'select',
    { id: 'period-state', name: 'state' },
    h('option', { value: '' }, 'Any'),
    STATES.map((s) => h('option', { value: s, selected: s === state }, s)),
  );
  const partnerInput = operator
    ? h('input', {
        id: 'period-partner',
        name: 'partnerId',
        value: partnerId,
        size: '20',
        autocomplete: 'off',
      })
    : null;
  const filters = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      'aria-label': 'Filter periods',
      onsubmit: (event) => {
        event.preventDefault();
        const q = new URLSearchParams();
        if (stateSelect.value) q.set('state', stateSelect.value);
        if (partnerInput && partnerInput.value.trim()) q.set('partnerId', partnerInput.value.trim());
        navigate(`/console/periods${q.toString() ? `?${q}` : ''}`);
      },
    },
    h('div', null, h('label', { for: 'period-state' }, 'State'), stateSelect),
    partnerInput ? h('div', null, h('label', { for: 'period-partner' }, 'Partner id'), partnerInput) : null,
    h('div', null, h('button', { type: 'submit' }, 'Show')),
  );

  // Any month by its address (open months have no row in the list).
  const openPartner = operator
    ? h('input', { id: 'open-partner', name: 'partnerId', value: partnerId, size: '20', autocomplete: 'off' })
    : null;
  const openMonth = h('input', {
    id: 'open-month',
    name: 'month',
    size: '8',
    placeholder: 'YYYY-MM',
    pattern: '\\d{4}-\\d{2}',
    autocomplete: 'off',
    required: true,
  });
  const opener = h(
    'form',
    {
      class: 'filters',
      'aria-label': 'Open a month',
      onsubmit: (event) => {
        event.preventDefault();
        const p = openPartner ? openPartner.value.trim() : me.partnerId;
        const m = openMonth.value.trim();
        if (!p || !/^\d{4}-\d{2}$/.test(m)) return;
        navigate(`/console/periods/${enc(p)}/${enc(m)}`);
      },
    },
    openPartner
      ? h('div', null, h('label', { for: 'open-partner' }, 'Partner of the month'), openPartner)
      : null,
    h('div', null, h('label', { for: 'open-month' }, 'Month (YYYY-MM)'), openMonth),
    h('div', null, h('button', { type: 'submit' }, 'Open the month')),
  );

  const described = [state || 'any state', partnerId && operator ? `partner ${partnerId}` : null]
    .filter(Boolean)
    .join(', ');
  const table = pagedTable({
    caption: `Accounting periods (${described}), by partner then month`,
    csvName: 'periods.csv',
    columns: [
      {
        key: 'partnerId',
        label: 'Partner',
        render: (r) => link(`/console/partners/${enc(r.partnerId)}`, r.partnerId),
        csv: (r) => r.partnerId,
      },
      {
        key: 'month',
        label: 'Month',
        render: (r) => link(`/console/periods/${enc(r.partnerId)}/${enc(r.month)}`, r.month),
        csv: (r) => r.month,
      },
      { key: 'state', label: 'State' },
      {
        key: 'blockers',
        label: 'Blockers',
        render: (r) => blockersText(r.blockers),
        csv: (r) => blockersText(r.blockers),
      },
      { key: 'closedAt', label: 'Closed', render: (r) => fmt.time(r.closedAt), csv: (r) => r.closedAt || '' },
      {
        key: 'reportDigest',
        label: 'Report digest (sha256)',
        render: (r) => (r.reportDigest ? h('code', null, r.reportDigest.slice(0, 12)) : '—'),
        csv: (r) => r.reportDigest || '',
      },
    ],
    fetchPage: async (cursor) => {
      const res = await api('/v1/periods', { state, partnerId, cursor, limit: 50 });
      return { rows: res.periods || [], nextCursor: res.nextCursor };
    },
    empty: 'No period matches: a month is open until its close is asked for.',
  });

  view.append(
    h('h1', null, 'Accounting periods'),
    h(
      'p',
      { class: 'muted' },
      'A month is open until its close is asked for; it closes once nothing blocks it, and its report (opening, movements by kind, closing, per currency) is then stored with its digest.',
    ),
    filters,
    table,
    h('h2', null, 'A month by its address'),
    opener,
  );
  await table.loaded;
  return { title: 'Accounting periods' };
}
