// The transactions of one game on one business day of a partner: paged, filterable by type, player
// and round (the filters live in the URL query, so a filtered view can be linked to and shared).

const enc = encodeURIComponent;
const TYPES = [
  'bet',
  'win',
  'rollback',
  'jackpot_contribution',
  'jackpot_win',
  'bonus_bet',
  'bonus_win',
  'adjustment',
];

export async function render(ctx) {
  // Appends what is there (a section left out is null), never the text "null".
  const add = (...nodes) =>
    ctx.view.append(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
  const { h, api, fmt, link, pagedTable, params, query } = ctx;
  const { partnerId, date, gameId } = params;
  const partnerBase = `/console/partners/${enc(partnerId)}`;
  const here = `${partnerBase}/days/${enc(date)}/games/${enc(gameId)}`;
  const filter = {
    type: TYPES.includes(query.get('type')) ? query.get('type') : '',
    playerId: query.get('playerId') || '',
    roundId: query.get('roundId') || '',
  };
  const hrefWith = (f) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(f)) if (v) q.set(k, v);
    const s = q.toString();
    return s ? `${here}?${s}` : here;
  };

  const partner = await api(`/v1/partners/${enc(partnerId)}`);

  add(
    h('h1', null, `${gameId} on ${date}: transactions`),
    h(
      'nav',
      { 'aria-label': 'Up' },
      h(
        'p',
        null,
        link(`${partnerBase}?month=${date.slice(0, 7)}`, `${partner.name}, month ${date.slice(0, 7)}`),
        ' · ',
        link(`${partnerBase}/days/${enc(date)}`, `All games of ${date}`),
      ),
    ),
  );

  // ── Filters
  const typeSelect = h(
    'select',
    { id: 'tx-type', name: 'type' },
    h('option', { value: '' }, 'Any type'),
    TYPES.map((t) => h('option', { value: t, selected: filter.type === t }, t)),
  );
  const playerInput = h('input', {
    id: 'tx-player',
    name: 'playerId',
    type: 'text',
    value: filter.playerId,
    maxlength: '200',
    autocomplete: 'off',
  });
  const roundInput = h('input', {
    id: 'tx-round',
    name: 'roundId',
    type: 'text',
    value: filter.roundId,
    maxlength: '200',
    autocomplete: 'off',
  });
  const form = h(
    'form',
    {
      class: 'filters',
      'aria-labelledby': 'filters-h',
      onsubmit: (event) => {
        event.preventDefault();
        ctx.navigate(
          hrefWith({
            type: typeSelect.value,
            playerId: playerInput.value.trim(),
            roundId: roundInput.value.trim(),
          }),
        );
      },
    },
    h('div', null, h('label', { for: 'tx-type' }, 'Type'), typeSelect),
    h('div', null, h('label', { for: 'tx-player' }, 'Player id'), playerInput),
    h('div', null, h('label', { for: 'tx-round' }, 'Round id'), roundInput),
    h('button', { type: 'submit' }, 'Apply filters'),
  );
  const active = Object.entries(filter).filter(([, v]) => v);
  add(
    h('h2', { id: 'filters-h' }, 'Filters'),
    form,
    active.length
      ? h(
          'p',
          null,
          `Showing only ${active.map(([k, v]) => `${k} ${v}`).join(', ')}. `,
          link(here, 'Show every transaction of this game and day'),
        )
      : null,
  );

  // ── Transactions
  const txHref = (t) => `${partnerBase}/transactions/${enc(t.id)}`;
  const table = pagedTable({
    caption: `Transactions of ${gameId} on ${date}${active.length ? ' (filtered)' : ''}, by round`,
    columns: [
      { key: 'id', label: 'Transaction', render: (t) => link(txHref(t), t.id), csv: (t) => t.id },
      { key: 'type', label: 'Type' },
      {
        key: 'roundId',
        label: 'Round',
        render: (t) =>
          filter.roundId === t.roundId
            ? t.roundId
            : link(
                hrefWith({ roundId: t.roundId }),
                h('span', null, h('span', { class: 'visually-hidden' }, 'Round '), t.roundId),
              ),
        csv: (t) => t.roundId,
      },
      {
        key: 'playerId',
        label: 'Player',
        render: (t) =>
          filter.playerId === t.playerId
            ? t.playerId
            : link(
                hrefWith({ ...filter, playerId: t.playerId }),
                h('span', null, h('span', { class: 'visually-hidden' }, 'Player '), t.playerId),
              ),
        csv: (t) => t.playerId,
      },
      {
        key: 'amount',
        label: 'Amount',
        numeric: true,
        render: (t) => fmt.money(t.amount, t.currency),
        csv: (t) => t.amount,
      },
      { key: 'currency', label: 'Currency' },
      {
        key: 'occurredAt',
        label: 'Occurred at',
        render: (t) => fmt.time(t.occurredAt),
        csv: (t) => t.occurredAt,
      },
      {
        key: 'refId',
        label: 'Refers to',
        render: (t) =>
          t.refId
            ? link(`${partnerBase}/transactions/${enc(t.refId)}`, t.refId)
            : t.orphan
              ? 'orphan rollback'
              : '—',
        csv: (t) => t.refId || (t.orphan ? 'orphan' : ''),
      },
      { key: 'batchId', label: 'Batch' },
    ],
    csvName: `${partnerId}-${date}-${gameId}-transactions.csv`,
    fetchPage: async (cursor) => {
      const res = await api(`/v1/partners/${enc(partnerId)}/transactions`, {
        date,
        gameId,
        ...filter,
        cursor,
        limit: 100,
      });
      return { rows: res.transactions, nextCursor: res.nextCursor };
    },
  });
  add(h('h2', null, 'Transactions'), table);
  await table.loaded;
  return { title: `${gameId} · ${date} · ${partner.name}` };
}
