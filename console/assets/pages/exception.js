// One reconciliation exception: what was found, our transaction and the provider's report rows
// side by side, the match group with its confidence and evidence, and the resolution history (who,
// when, why; a partner reads "operations" where an operator's name would be). Operators also get
// the link that opens the cycle's workflow in the Temporal UI.

const enc = encodeURIComponent;

/** A value of evidence as text (objects as compact JSON). */
function show(value) {
  if (value === undefined || value === null || value === '') return '—';
  if (Array.isArray(value)) return value.map(show).join(', ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

const present = (v) => v !== undefined && v !== null;

/** 'amountDriftMinor' → 'Amount drift minor'. */
function words(key) {
  const spaced = String(key)
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/_/g, ' ')
    .toLowerCase();
  return spaced.charAt(0).toUpperCase() + spaced.slice(1);
}

export async function render(ctx) {
  // Appends what is there (a section left out is null), never the text "null".
  const add = (...nodes) =>
    ctx.view.append(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
  const { h, api, fmt, link, pagedTable, me, params } = ctx;
  const { id, exceptionId } = params;
  const operator = me.kind === 'operator';
  const data = await api(`/v1/settlements/${enc(id)}/exceptions/${enc(exceptionId)}/detail`);
  const x = data.exception;
  const partnerId = (/^settlement:(.+):\d{4}-\d{2}-\d{2}$/.exec(id) || [])[1];
  // A resolution's amount (an adjustment) is in the cycle's settlement currency.
  const partner = await api(`/v1/partners/${enc(partnerId)}`);
  const settlementCurrency = partner.settlementCurrency;
  const partnerBase = `/console/partners/${enc(partnerId)}`;
  const txHref = (txId) => `${partnerBase}/transactions/${enc(txId)}`;
  const exceptionHref = (other) => `/console/settlements/${enc(id)}/exceptions/${enc(other)}`;
  const slug = `${id}_${exceptionId}`.replace(/[^A-Za-z0-9_-]+/g, '_');
  const row = (label, value) => [h('dt', null, label), h('dd', null, value)];
  const decision = x.resolution;

  add(
    h('h1', null, `Exception ${exceptionId}`),
    h(
      'dl',
      { class: 'facts' },
      row('Cycle', link(`/console/settlements/${enc(id)}`, `Settlement cycle ${id}`)),
      row('Kind', x.kind),
      row('State', x.state),
      row('Transaction', x.txId ? link(txHref(x.txId), `Transaction ${x.txId}`) : '—'),
      x.businessDate && x.gameId
        ? row(
            'Day and game',
            link(
              `${partnerBase}/days/${enc(x.businessDate)}/games/${enc(x.gameId)}`,
              `${x.gameId} on ${x.businessDate}`,
            ),
          )
        : null,
      row('Our amount', fmt.money(x.ours, x.currency)),
      row('Their amount', fmt.money(x.theirs, x.currency)),
      row('Difference (theirs − ours)', fmt.money(x.difference, x.currency)),
      row('Detail', x.detail),
      row('Found at', fmt.time(x.foundAt)),
      x.expectedUntil ? row('Awaited until', fmt.time(x.expectedUntil)) : null,
      operator && x.assignee ? row('Assigned to', x.assignee.name) : null,
      operator && x.escalatedTier ? row('Escalated at tier', x.escalatedTier) : null,
      row(
        'Resolution',
        decision
          ? `${decision.resolution}${decision.amount ? ` ${fmt.money(decision.amount, settlementCurrency)}` : ''}` +
              ` by ${decision.by}${decision.at ? ` at ${fmt.time(decision.at)}` : ''}${decision.reason ? `: ${decision.reason}` : ''}`
          : 'none yet',
      ),
      operator && x.resolutionGroup ? row('Decided by', x.resolutionGroup) : null,
      operator && x.writeOffAccount
        ? row('Written off to', link(`/console/ledger/accounts/${enc(x.writeOffAccount)}`, x.writeOffAccount))
        : null,
      operator && data.temporalUiUrl
        ? row('Workflow', h('a', { href: data.temporalUiUrl, rel: 'noopener' }, 'Open in the Temporal UI'))
        : null,
    ),
  );

  // ── Both sides
  const ours = data.ours;
  const theirs = data.theirs || [];
  const roundHref = (t) =>
    `${partnerBase}/days/${enc(t.businessDate)}/games/${enc(t.gameId)}?roundId=${enc(t.roundId)}`;
  const fields = [
    ['Transaction', (t) => t.id ?? t.txId, (t) => link(txHref(t.id), `Our transaction ${t.id}`)],
    ['Type', (t) => t.type],
    ['Round', (t) => t.roundId, (t) => link(roundHref(t), `Round ${t.roundId}`)],
    ['Player', (t) => t.playerId],
    ['Game', (t) => t.gameId],
    ['Amount', (t) => fmt.money(t.amount, t.currency)],
    ['Currency', (t) => t.currency],
    ['Occurred at', (t) => fmt.time(t.occurredAt)],
    ['Business day', (t) => t.businessDate],
    ['Round status', (t) => t.roundStatus],
    ['Report row', (t) => t.ord],
    ['Refers to', (t) => t.refId, (t) => link(txHref(t.refId), `Transaction ${t.refId}`)],
  ];
  const sideRows = fields
    .map(([field, get, linkOf]) => ({ field, get, linkOf }))
    .filter((f) => (ours && present(f.get(ours))) || theirs.some((t) => present(f.get(t))));
  add(
    h('h2', null, 'Ours and theirs'),
    pagedTable({
      caption: `Our transaction and the provider's report ${theirs.length === 1 ? 'row' : 'rows'}, side by side`,
      columns: [
        { key: 'field', label: 'Field' },
        {
          key: 'ours',
          label: 'Ours',
          render: (f) => {
            if (!ours) return 'not on our side';
            const v = f.get(ours);
            if (!present(v)) return '—';
            return f.linkOf ? f.linkOf(ours) : show(v);
          },
          csv: (f) => (ours ? show(f.get(ours)) : ''),
        },
        ...(theirs.length
          ? theirs.map((t, i) => ({
              key: `theirs${i}`,
              label: theirs.length === 1 ? 'Theirs (provider report)' : `Theirs, report row ${t.ord}`,
              render: (f) => show(f.get(t)),
              csv: (f) => show(f.get(t)),
            }))
          : [
              {
                key: 'theirs',
                label: 'Theirs (provider report)',
                render: () => 'not in their report',
                csv: () => '',
              },
            ]),
      ],
      csvName: `${slug}-sides.csv`,
      fetchPage: async () => ({ rows: sideRows, nextCursor: null }),
      empty: 'Neither side has a transaction for this exception (a difference of totals).',
    }),
  );
  if (data.theirsAggregate) {
    const a = data.theirsAggregate;
    add(
      h('h3', null, "The provider's totals for the day, game and currency"),
      h(
        'dl',
        { class: 'facts' },
        row('Bets (count)', fmt.int(a.betCount)),
        row('Bets', fmt.money(a.bets, x.currency)),
        row('Wins', fmt.money(a.wins, x.currency)),
      ),
    );
  }

  // ── Match group
  const group = data.matchGroup;
  add(h('h2', null, 'Match group'));
  if (!group) {
    add(h('p', null, 'Not part of a match group.'));
  } else {
    add(
      h(
        'dl',
        { class: 'facts' },
        row('Group', group.id),
        row('Shape', group.shape),
        row('Confidence', `${fmt.int(group.confidence)} of 100`),
        row('Decision', group.decision),
        row('State', group.state),
      ),
      h('h3', null, 'Evidence'),
      h(
        'dl',
        { class: 'facts' },
        Object.entries(group.evidence || {}).map(([k, v]) => row(words(k), show(v))),
      ),
      h('h3', null, 'Members'),
      pagedTable({
        caption: 'Members of the match group',
        columns: [
          {
            key: 'exceptionId',
            label: 'Exception',
            render: (m) =>
              m.exceptionId === exceptionId
                ? `${m.exceptionId} (this one)`
                : link(exceptionHref(m.exceptionId), m.exceptionId),
            csv: (m) => m.exceptionId,
          },
          { key: 'side', label: 'Side' },
          {
            key: 'txIds',
            label: 'Transactions',
            render: (m) =>
              m.txIds.length === 0
                ? '—'
                : h(
                    'span',
                    null,
                    m.txIds.map((t, i) => [i > 0 ? ', ' : null, m.side === 'ours' ? link(txHref(t), t) : t]),
                  ),
            csv: (m) => m.txIds.join(' '),
          },
        ],
        csvName: `${slug}-group.csv`,
        fetchPage: async () => ({ rows: group.members, nextCursor: null }),
      }),
    );
  }

  if (operator && (x.evidence || x.suggestion)) {
    add(h('h2', null, 'Rule evidence and suggestion'));
    if (x.evidence) add(h('h3', null, 'Evidence'), h('pre', null, JSON.stringify(x.evidence, null, 2)));
    if (x.suggestion) add(h('h3', null, 'Suggestion'), h('pre', null, JSON.stringify(x.suggestion, null, 2)));
  }

  // ── History
  add(
    h('h2', null, 'History'),
    pagedTable({
      caption: 'What happened to this exception, oldest first (who, when, why)',
      columns: [
        { key: 'at', label: 'When', render: (e) => fmt.time(e.at), csv: (e) => e.at },
        { key: 'event', label: 'Event' },
        {
          key: 'by',
          label: 'Who',
          render: (e) => (e.byKind === 'system' ? `${e.by} (automatic)` : e.by),
          csv: (e) => e.by,
        },
        { key: 'resolution', label: 'Resolution', render: (e) => e.resolution ?? '—' },
        {
          key: 'amount',
          label: 'Amount',
          numeric: true,
          render: (e) => (e.amount ? fmt.money(e.amount, settlementCurrency) : '—'),
          csv: (e) => e.amount,
        },
        { key: 'reason', label: 'Why', render: (e) => e.reason ?? '—' },
        ...(operator
          ? [
              {
                key: 'assignee',
                label: 'Assignee',
                render: (e) => e.assigneeName ?? e.assignee ?? '—',
              },
              { key: 'tier', label: 'Tier', render: (e) => e.tier ?? '—' },
            ]
          : []),
      ],
      csvName: `${slug}-history.csv`,
      fetchPage: async () => ({ rows: data.history, nextCursor: null }),
      empty: 'No history recorded.',
    }),
  );

  return { title: `Exception ${exceptionId}` };
}
