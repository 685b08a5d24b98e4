// Restatements: newest first, filtered by state (operators: by partner too); each links to its chain
// of periods, the statement versions before and after, and its approvals.

const enc = encodeURIComponent;
const STATES = ['requested', 'awaiting_approval', 'posted', 'empty', 'rejected', 'failed'];
const LIMIT = 200;

export async function render(ctx) {
  const { api, h, fmt, link, me, view, query, pagedTable, navigate } = ctx;
  const operator = me.kind === 'operator';
  const state = STATES.includes(query.get('state') || '') ? query.get('state') : '';
  const partnerId = operator ? (query.get('partnerId') || '').trim() : '';

  const stateSelect = h(
    'select',
    { id: 'restatement-state', name: 'state' },
    h('option', { value: '' }, 'Any'),
    STATES.map((s) => h('option', { value: s, selected: s === state }, s.replace(/_/g, ' '))),
  );
  const partnerInput = operator
    ? h('input', {
        id: 'restatement-partner',
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
      'aria-label': 'Filter restatements',
      onsubmit: (event) => {
        event.preventDefault();
        const q = new URLSearchParams();
        if (stateSelect.value) q.set('state', stateSelect.value);
        if (partnerInput && partnerInput.value.trim()) q.set('partnerId', partnerInput.value.trim());
        navigate(`/console/restatements${q.toString() ? `?${q}` : ''}`);
      },
    },
    h('div', null, h('label', { for: 'restatement-state' }, 'State'), stateSelect),
    partnerInput
      ? h('div', null, h('label', { for: 'restatement-partner' }, 'Partner id'), partnerInput)
      : null,
    h('div', null, h('button', { type: 'submit' }, 'Show')),
  );

  const described = [
    state ? state.replace(/_/g, ' ') : 'any state',
    partnerId ? `partner ${partnerId}` : null,
  ]
    .filter(Boolean)
    .join(', ');
  const status = h('p', { class: 'muted' });
  const table = pagedTable({
    caption: `Restatements (${described}), newest first`,
    csvName: 'restatements.csv',
    columns: [
      {
        key: 'id',
        label: 'Restatement',
        render: (r) => link(`/console/restatements/${enc(r.id)}`, r.id),
        csv: (r) => r.id,
      },
      operator
        ? {
            key: 'partnerId',
            label: 'Partner',
            render: (r) => link(`/console/partners/${enc(r.partnerId)}`, r.partnerId),
            csv: (r) => r.partnerId,
          }
        : null,
      {
        key: 'settlementId',
        label: 'Restated cycle',
        render: (r) => link(`/console/settlements/${enc(r.settlementId)}`, r.settlementId),
        csv: (r) => r.settlementId,
      },
      {
        key: 'reason',
        label: 'Reason',
        render: (r) => (r.reason && r.reason.kind ? r.reason.kind.replace(/_/g, ' ') : '—'),
        csv: (r) => (r.reason && r.reason.kind) || '',
      },
      { key: 'state', label: 'State', render: (r) => r.state.replace(/_/g, ' '), csv: (r) => r.state },
      {
        key: 'netPayableDelta',
        label: 'Net payable change',
        numeric: true,
        render: (r) => (r.computed ? fmt.money(r.computed.netPayableDelta, r.computed.currency) : '—'),
        csv: (r) => (r.computed ? r.computed.netPayableDelta : ''),
      },
      {
        key: 'approvals',
        label: 'Approvals',
        numeric: true,
        render: (r) => fmt.int((r.approvals || []).length),
        csv: (r) => (r.approvals || []).length,
      },
      { key: 'createdAt', label: 'Requested', render: (r) => fmt.time(r.createdAt), csv: (r) => r.createdAt },
    ].filter(Boolean),
    // The API lists the newest (at most 200) without a cursor: one page.
    fetchPage: async () => {
      const res = await api('/v1/restatements', { state, partnerId, limit: LIMIT });
      const rows = res.restatements || [];
      status.textContent =
        rows.length >= LIMIT ? `The newest ${LIMIT} are shown; narrow the filter to see older ones.` : '';
      return { rows, nextCursor: null };
    },
    empty: 'No restatement matches.',
  });

  view.append(
    h('h1', null, 'Restatements'),
    h(
      'p',
      { class: 'muted' },
      'A settled period recomputed with a change (a retroactive contract version, a provider correction, a manual adjustment), with every later period that depended on it; approved by two operators other than the requester, then posted as a delta and issued as new statement versions.',
    ),
    form,
    table,
    status,
  );
  await table.loaded;
  return { title: 'Restatements' };
}
