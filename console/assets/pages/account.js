// One ledger account (operators): its balance and its postings, newest first; each posting links to
// its entry (postings and source) and to the account on its other side.

const enc = encodeURIComponent;

export async function render(ctx) {
  // Appends what is there (a section left out is null), never the text "null".
  const add = (...nodes) =>
    ctx.view.append(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
  const { h, api, fmt, link, pagedTable, params } = ctx;
  const code = params.code;
  const accountHref = (c) => `/console/ledger/accounts/${enc(c)}`;
  const entryHref = (id) => `/console/ledger/entries/${enc(id)}`;

  const balance = await api(`/v1/ledger/accounts/${enc(code)}/balance`);

  const sourceCell = (p) => {
    if (p.sourceKind === 'settlement' && p.sourceRef)
      return link(`/console/settlements/${enc(p.sourceRef)}`, p.sourceRef);
    return p.sourceRef || '—';
  };
  const table = pagedTable({
    caption: `Postings of ${code}, newest first`,
    columns: [
      {
        key: 'entryId',
        label: 'Entry',
        render: (p) => link(entryHref(p.entryId), `Entry ${p.entryId}`),
        csv: (p) => p.entryId,
      },
      { key: 'entryKey', label: 'Entry key' },
      { key: 'effectiveDate', label: 'Effective date' },
      { key: 'postedAt', label: 'Posted at', render: (p) => fmt.time(p.postedAt), csv: (p) => p.postedAt },
      { key: 'direction', label: 'Direction' },
      {
        key: 'amount',
        label: 'Amount',
        numeric: true,
        render: (p) => fmt.money(p.amount, p.currency),
        csv: (p) => p.amount,
      },
      { key: 'currency', label: 'Currency' },
      {
        key: 'otherAccount',
        label: 'Other side',
        render: (p) => (p.otherAccount ? link(accountHref(p.otherAccount), p.otherAccount) : '—'),
        csv: (p) => p.otherAccount,
      },
      { key: 'sourceKind', label: 'Source' },
      { key: 'sourceRef', label: 'Source reference', render: sourceCell, csv: (p) => p.sourceRef },
    ],
    csvName: `ledger-${code.replace(/[^A-Za-z0-9_-]+/g, '_')}-postings.csv`,
    fetchPage: async (cursor) => {
      const res = await api(`/v1/ledger/accounts/${enc(code)}/entries`, { cursor, limit: 100 });
      return { rows: res.postings, nextCursor: res.nextCursor };
    },
  });

  add(
    h('h1', null, `Ledger account ${code}`),
    h(
      'dl',
      { class: 'facts' },
      h('dt', null, 'Balance now (debits − credits)'),
      h('dd', null, fmt.money(balance.balance, balance.currency)),
      h('dt', null, 'Currency'),
      h('dd', null, balance.currency),
    ),
    h('p', null, link('/console/ledger/accounts', 'All ledger accounts')),
    h('h2', null, 'Postings'),
    table,
  );
  await table.loaded;
  return { title: `Account ${code}` };
}
