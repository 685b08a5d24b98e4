// Disputes of statements: by default the undecided ones, oldest first with their age (the operators'
// queue); any state, newest first, on request. A partner user reads its own (the API scopes it).

const enc = encodeURIComponent;
const STATES = [
  'undecided',
  'open',
  'waiting_for_evidence',
  'accepted',
  'partly_accepted',
  'rejected',
  'expired',
];
const ORDERS = [
  ['age', 'Oldest first'],
  ['newest', 'Newest first'],
];

export async function render(ctx) {
  const { api, h, fmt, link, me, view, query, pagedTable, navigate } = ctx;
  const operator = me.kind === 'operator';
  const asked = query.get('state') || 'undecided';
  const state = asked === 'all' ? '' : STATES.includes(asked) ? asked : 'undecided';
  const order = query.get('order') === 'newest' ? 'newest' : 'age';
  const partnerId = operator ? (query.get('partnerId') || '').trim() : '';

  const stateSelect = h(
    'select',
    { id: 'dispute-state', name: 'state' },
    h('option', { value: 'all', selected: state === '' }, 'Any'),
    STATES.map((s) => h('option', { value: s, selected: s === state }, s.replace(/_/g, ' '))),
  );
  const orderSelect = h(
    'select',
    { id: 'dispute-order', name: 'order' },
    ORDERS.map(([value, text]) => h('option', { value, selected: value === order }, text)),
  );
  const partnerInput = operator
    ? h('input', {
        id: 'dispute-partner',
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
      'aria-label': 'Filter disputes',
      onsubmit: (event) => {
        event.preventDefault();
        const q = new URLSearchParams();
        if (stateSelect.value !== 'undecided') q.set('state', stateSelect.value);
        if (orderSelect.value !== 'age') q.set('order', orderSelect.value);
        if (partnerInput && partnerInput.value.trim()) q.set('partnerId', partnerInput.value.trim());
        navigate(`/console/disputes${q.toString() ? `?${q}` : ''}`);
      },
    },
    h('div', null, h('label', { for: 'dispute-state' }, 'State'), stateSelect),
    h('div', null, h('label', { for: 'dispute-order' }, 'Order'), orderSelect),
    partnerInput ? h('div', null, h('label', { for: 'dispute-partner' }, 'Partner id'), partnerInput) : null,
    h('div', null, h('button', { type: 'submit' }, 'Show')),
  );

  const described = [
    state ? state.replace(/_/g, ' ') : 'any state',
    partnerId ? `partner ${partnerId}` : null,
  ]
    .filter(Boolean)
    .join(', ');
  const money = (key) => ({
    key,
    label: {
      statedAmount: 'Stated',
      amountClaimed: 'Claimed',
      claimedChange: 'Change asked',
      holdAmount: 'Held',
    }[key],
    numeric: true,
    render: (d) => fmt.money(d[key], d.currency),
    csv: (d) => d[key],
  });
  const table = pagedTable({
    caption: `Disputes (${described}), ${order === 'age' ? 'oldest first' : 'newest first'}`,
    csvName: 'disputes.csv',
    columns: [
      { key: 'id', label: 'Dispute' },
      operator
        ? {
            key: 'partnerId',
            label: 'Partner',
            render: (d) => link(`/console/partners/${enc(d.partnerId)}`, d.partnerId),
            csv: (d) => d.partnerId,
          }
        : null,
      {
        key: 'settlementId',
        label: 'Cycle',
        render: (d) => link(`/console/settlements/${enc(d.settlementId)}`, d.settlementId),
        csv: (d) => d.settlementId,
      },
      { key: 'statementVersion', label: 'Version', numeric: true },
      { key: 'line', label: 'Line' },
      money('statedAmount'),
      money('amountClaimed'),
      money('claimedChange'),
      money('holdAmount'),
      { key: 'state', label: 'State', render: (d) => d.state.replace(/_/g, ' '), csv: (d) => d.state },
      {
        key: 'ageHours',
        label: 'Age (hours)',
        numeric: true,
        render: (d) => fmt.int(d.ageHours),
        csv: (d) => d.ageHours,
      },
      { key: 'deadline', label: 'Deadline', render: (d) => fmt.time(d.deadline), csv: (d) => d.deadline },
      operator
        ? {
            key: 'escalated',
            label: 'Escalated',
            render: (d) => (d.escalated ? `yes (${fmt.int(d.remindersSent)} reminders)` : 'no'),
            csv: (d) => (d.escalated ? 'yes' : 'no'),
          }
        : null,
    ].filter(Boolean),
    fetchPage: async (cursor) => {
      const res = await api('/v1/disputes', { state, order, partnerId, cursor, limit: 50 });
      return { rows: res.disputes || [], nextCursor: res.nextCursor };
    },
    empty: state === 'undecided' ? 'No dispute waits for a decision.' : 'No dispute matches.',
  });

  view.append(
    h('h1', null, 'Disputes'),
    h(
      'p',
      { class: 'muted' },
      operator
        ? 'Statement lines a partner disputes: the undecided ones oldest first, with their age and deadline; what each holds back from its payout while undecided.'
        : 'The statement lines you dispute, their state and deadline, and what each holds back from its payout while undecided.',
    ),
    form,
    table,
  );
  await table.loaded;
  return { title: 'Disputes' };
}
