// Payouts: newest approval first, by state, overdue ones only on request (approved or sent and not
// confirmed after their due date); each row links to its cycle. A partner user reads its own.

const enc = encodeURIComponent;
const STATES = ['approved', 'sent', 'confirmed', 'failed', 'partly_paid'];

export async function render(ctx) {
  const { api, h, fmt, link, me, view, query, pagedTable, navigate } = ctx;
  const operator = me.kind === 'operator';
  const state = STATES.includes(query.get('state') || '') ? query.get('state') : '';
  const overdue = query.get('overdue') === 'true';
  const partnerId = operator ? (query.get('partnerId') || '').trim() : '';

  const stateSelect = h(
    'select',
    { id: 'payout-state', name: 'state' },
    h('option', { value: '' }, 'Any'),
    STATES.map((s) => h('option', { value: s, selected: s === state }, s.replace(/_/g, ' '))),
  );
  const overdueBox = h('input', {
    id: 'payout-overdue',
    name: 'overdue',
    type: 'checkbox',
    checked: overdue,
  });
  const partnerInput = operator
    ? h('input', {
        id: 'payout-partner',
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
      'aria-label': 'Filter payouts',
      onsubmit: (event) => {
        event.preventDefault();
        const q = new URLSearchParams();
        if (stateSelect.value) q.set('state', stateSelect.value);
        if (overdueBox.checked) q.set('overdue', 'true');
        if (partnerInput && partnerInput.value.trim()) q.set('partnerId', partnerInput.value.trim());
        navigate(`/console/payouts${q.toString() ? `?${q}` : ''}`);
      },
    },
    h('div', null, h('label', { for: 'payout-state' }, 'State'), stateSelect),
    h('div', null, h('label', { for: 'payout-overdue' }, 'Overdue only'), overdueBox),
    partnerInput ? h('div', null, h('label', { for: 'payout-partner' }, 'Partner id'), partnerInput) : null,
    h('div', null, h('button', { type: 'submit' }, 'Show')),
  );

  const described = [
    state ? state.replace(/_/g, ' ') : 'any state',
    overdue ? 'overdue' : null,
    partnerId ? `partner ${partnerId}` : null,
  ]
    .filter(Boolean)
    .join(', ');
  const money = (key, label) => ({
    key,
    label,
    numeric: true,
    render: (p) => (p[key] === null || p[key] === undefined ? '—' : fmt.money(p[key], p.currency)),
    csv: (p) => p[key] ?? '',
  });
  const table = pagedTable({
    caption: `Payouts (${described}), newest approval first`,
    csvName: 'payouts.csv',
    columns: [
      {
        key: 'settlementId',
        label: 'Cycle',
        render: (p) => link(`/console/settlements/${enc(p.settlementId)}`, p.settlementId),
        csv: (p) => p.settlementId,
      },
      operator
        ? {
            key: 'partnerId',
            label: 'Partner',
            render: (p) => link(`/console/partners/${enc(p.partnerId)}`, p.partnerId),
            csv: (p) => p.partnerId,
          }
        : null,
      money('toPay', 'To pay'),
      money('held', 'Held'),
      money('amount', 'Payout'),
      money('paid', 'Paid'),
      money('remainder', 'Not paid'),
      { key: 'state', label: 'State', render: (p) => p.state.replace(/_/g, ' '), csv: (p) => p.state },
      {
        key: 'overdue',
        label: 'Overdue',
        render: (p) => (p.overdue ? 'overdue' : 'no'),
        csv: (p) => (p.overdue ? 'yes' : 'no'),
      },
      { key: 'dueDate', label: 'Due' },
      { key: 'paymentReference', label: 'Payment reference' },
      {
        key: 'approvedAt',
        label: 'Approved',
        render: (p) => fmt.time(p.approvedAt),
        csv: (p) => p.approvedAt,
      },
    ].filter(Boolean),
    fetchPage: async (cursor) => {
      const res = await api('/v1/payouts', {
        state,
        overdue: overdue ? 'true' : undefined,
        partnerId,
        cursor,
        limit: 50,
      });
      return { rows: res.payouts || [], nextCursor: res.nextCursor };
    },
    empty: overdue ? 'No payout is overdue.' : 'No payout matches.',
  });

  view.append(
    h('h1', null, 'Payouts'),
    h(
      'p',
      { class: 'muted' },
      'What each approved statement pays: the amount to pay, what open disputes hold back, its state from approval to the bank’s confirmation, and its due date.',
    ),
    form,
    table,
  );
  await table.loaded;
  return { title: 'Payouts' };
}
