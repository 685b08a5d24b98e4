// One ledger entry (operators): its postings (each account a link) and its source — an ingest batch
// (its partner's business day, the batch's counts) or a settlement cycle (its page and journal).

const enc = encodeURIComponent;

export async function render(ctx) {
  // Appends what is there (a section left out is null), never the text "null".
  const add = (...nodes) =>
    ctx.view.append(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
  const { h, api, fmt, link, pagedTable, params } = ctx;
  const id = params.id;
  const entry = await api(`/v1/ledger/entries/${enc(id)}`);
  const postings = entry.postings;
  const source = entry.source;
  const accountLink = (code) => link(`/console/ledger/accounts/${enc(code)}`, code);
  const entryLink = (other) => link(`/console/ledger/entries/${enc(other)}`, `Entry ${other}`);
  const row = (label, value) => [h('dt', null, label), h('dd', null, value)];

  add(
    h('h1', null, `Ledger entry ${entry.id}`),
    h(
      'dl',
      { class: 'facts' },
      row('Key', h('code', null, entry.key)),
      row('Effective date', entry.effectiveDate),
      row('Posted at', fmt.time(entry.postedAt)),
      row('Source', `${entry.sourceKind}: ${entry.sourceRef}`),
      entry.reversesEntryId ? row('Reverses', entryLink(entry.reversesEntryId)) : null,
      entry.reversedBy ? row('Reversed by', entryLink(entry.reversedBy)) : null,
    ),
  );

  const table = pagedTable({
    caption: `Postings of entry ${entry.id}`,
    columns: [
      { key: 'line', label: 'Line', numeric: true },
      { key: 'debit', label: 'Debit account', render: (p) => accountLink(p.debit), csv: (p) => p.debit },
      { key: 'credit', label: 'Credit account', render: (p) => accountLink(p.credit), csv: (p) => p.credit },
      {
        key: 'amount',
        label: 'Amount',
        numeric: true,
        render: (p) => fmt.money(p.amount, p.currency),
        csv: (p) => p.amount,
      },
      { key: 'currency', label: 'Currency' },
    ],
    csvName: `ledger-entry-${entry.id}.csv`,
    fetchPage: async () => ({ rows: postings, nextCursor: null }),
  });
  add(h('h2', null, 'Postings'), table);

  add(h('h2', null, 'Source'), sourceView(ctx, entry, source));

  const metadata = entry.metadata && typeof entry.metadata === 'object' ? entry.metadata : null;
  if (metadata && Object.keys(metadata).length)
    add(
      h('h2', null, 'Metadata'),
      h(
        'dl',
        { class: 'facts' },
        Object.entries(metadata).map(([k, v]) =>
          row(k, typeof v === 'object' && v !== null ? h('code', null, JSON.stringify(v)) : String(v)),
        ),
      ),
    );

  await table.loaded;
  return { title: `Ledger entry ${entry.id}` };
}

function sourceView(ctx, entry, source) {
  const { h, api, fmt, link, pagedTable } = ctx;
  const row = (label, value) => [h('dt', null, label), h('dd', null, value)];
  const count = (n) => (n === null || n === undefined ? '—' : fmt.int(n));

  if (source && source.kind === 'ingest_batch') {
    const partnerId = source.partnerId;
    const base = `/console/partners/${enc(partnerId)}`;
    const date = entry.effectiveDate;
    const txHref = (t) => `${base}/transactions/${enc(t.id)}`;
    return h(
      'div',
      null,
      h(
        'dl',
        { class: 'facts' },
        row('Kind', 'ingest batch (transactions the partner pushed)'),
        row('Partner', link(`${base}?month=${date.slice(0, 7)}`, partnerId)),
        row('Batch', source.batchId),
        row('Received at', fmt.time(source.receivedAt)),
        row('Items received', count(source.received)),
        row('New transactions stored', count(source.accepted)),
        row('Duplicates', count(source.duplicates)),
        row('Stale (far outside their business day)', count(source.stale)),
        row(
          'Business day',
          link(`${base}/days/${enc(date)}`, `${partnerId}, business day ${date}: its games`),
        ),
      ),
      h('h3', null, `Transactions of batch ${source.batchId} on ${date}`),
      pagedTable({
        caption: `Transactions of batch ${source.batchId}, business day ${date}`,
        columns: [
          { key: 'id', label: 'Transaction', render: (t) => link(txHref(t), t.id), csv: (t) => t.id },
          { key: 'type', label: 'Type' },
          {
            key: 'gameId',
            label: 'Game',
            render: (t) => link(`${base}/days/${enc(t.businessDate)}/games/${enc(t.gameId)}`, t.gameId),
            csv: (t) => t.gameId,
          },
          { key: 'roundId', label: 'Round' },
          { key: 'playerId', label: 'Player' },
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
        ],
        csvName: `batch-${source.batchId}-${date}.csv`,
        fetchPage: async (cursor) => {
          // The API names the path of the batch's transactions of that day.
          const res = await api(source.transactions, { cursor, limit: 100 });
          return { rows: res.transactions, nextCursor: res.nextCursor };
        },
      }),
    );
  }
  if (source && source.kind === 'settlement') {
    const cycleId = source.settlementId;
    const exceptionHref = (x) => `/console/settlements/${enc(cycleId)}/exceptions/${enc(x)}`;
    const currency = entry.postings && entry.postings[0] ? entry.postings[0].currency : '';
    return h(
      'div',
      null,
      h(
        'dl',
        { class: 'facts' },
        row('Kind', 'settlement cycle'),
        row('Cycle', link(`/console/settlements/${enc(cycleId)}`, `Settlement cycle ${cycleId}`)),
        row('Journal', source.journalId ?? 'not in a stored journal'),
      ),
      source.exceptions.length
        ? pagedTable({
            caption: 'Exceptions this entry covers',
            columns: [
              {
                key: 'exceptionId',
                label: 'Exception',
                render: (x) => link(exceptionHref(x.exceptionId), x.exceptionId),
                csv: (x) => x.exceptionId,
              },
              {
                key: 'amount',
                label: 'Amount',
                numeric: true,
                render: (x) => fmt.money(x.amount, currency),
                csv: (x) => x.amount,
              },
            ],
            csvName: `ledger-entry-${entry.id}-exceptions.csv`,
            fetchPage: async () => ({ rows: source.exceptions, nextCursor: null }),
          })
        : null,
    );
  }
  return h(
    'dl',
    { class: 'facts' },
    row('Kind', entry.sourceKind),
    row('Reference', (source && source.ref) || entry.sourceRef),
  );
}
