// One settlement cycle: its record from Postgres (status, period, fees, exception book, FX locks,
// journal and ledger entries; for operators, a link that opens its workflow in the Temporal UI)
// and its statement (fee lines, revenue and resolutions, currencies with their FX, sources per
// business day and game, exceptions). The statement downloads as the API's own CSV.
import { download } from '../lib/index.js';

const enc = encodeURIComponent;

export async function render(ctx) {
  // Appends what is there (a section left out is null), never the text "null".
  const add = (...nodes) =>
    ctx.view.append(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
  const { h, api, fmt, link, pagedTable, statusLine, me, params } = ctx;
  const id = params.id;
  const operator = me.kind === 'operator';

  const record = await api(`/v1/settlements/${enc(id)}/record`);
  let statement = null;
  let statementProblem = null;
  try {
    statement = await api(`/v1/settlements/${enc(id)}/statement`);
  } catch (err) {
    if (err.status === 401) throw err;
    statementProblem = err.message;
  }

  const partnerId = record.partnerId;
  const period = record.period;
  const ccy = record.currency;
  const partnerBase = `/console/partners/${enc(partnerId)}`;
  const dayHref = (date) => `${partnerBase}/days/${enc(date)}`;
  const exceptionHref = (exceptionId) => `/console/settlements/${enc(id)}/exceptions/${enc(exceptionId)}`;
  // Ledger pages are the operators': a partner reads account codes and entry keys as text.
  const accountLink = (code) => (operator ? link(`/console/ledger/accounts/${enc(code)}`, code) : code);
  const entryLink = (entryId, text) =>
    operator ? link(`/console/ledger/entries/${enc(entryId)}`, text) : text;
  const row = (label, value) => [h('dt', null, label), h('dd', null, value)];
  const money = (value, currency = ccy) => fmt.money(value, currency);
  const moneyCol = (key, label, currencyOf = () => ccy) => ({
    key,
    label,
    numeric: true,
    render: (r) => fmt.money(r[key], currencyOf(r)),
    csv: (r) => r[key],
  });
  const rowsOnce = (rows) => async () => ({ rows: rows || [], nextCursor: null });
  const slug = id.replace(/:/g, '_');

  // ── The record
  const fees = record.fees;
  const book = record.book;
  add(
    h('h1', null, `Settlement cycle ${id}`),
    h('p', null, `${partnerId}, ${period.start} to ${period.end}, settled in ${ccy}.`),
    h(
      'dl',
      { class: 'facts' },
      row(
        'Partner',
        link(
          `${partnerBase}?month=${period.start.slice(0, 7)}`,
          `${partnerId}, month ${period.start.slice(0, 7)}`,
        ),
      ),
      row('Period', `${period.start} to ${period.end}`),
      row('Settlement currency', ccy),
      row('Status', record.status),
      row('Sources frozen at', fmt.time(record.frozenAt)),
      row('Fees computed at', fmt.time(record.feesComputedAt)),
      row('Statement published at', fmt.time(record.statementPublishedAt)),
      book
        ? row(
            'Exception book',
            h(
              'span',
              null,
              `version ${book.version}: `,
              link('#exceptions-h', `${fmt.int(book.total)} exceptions, ${fmt.int(book.open)} open`),
            ),
          )
        : row('Exception book', 'not opened yet'),
      fees && fees.ggr !== undefined ? row('GGR', money(fees.ggr)) : null,
      fees && fees.feeBase !== undefined ? row('Fee base', money(fees.feeBase)) : null,
      fees ? row('Gross fee', money(fees.grossFee)) : null,
      fees ? row('Tax withheld', money(fees.taxWithheld)) : null,
      fees ? row('Net payable', money(fees.netPayable)) : row('Fees', 'not computed yet'),
      operator && record.requestedBy
        ? row('Requested by', `${record.requestedBy.name} (${record.requestedBy.plannedBy})`)
        : null,
      operator && record.temporalUiUrl
        ? row('Workflow', h('a', { href: record.temporalUiUrl, rel: 'noopener' }, 'Open in the Temporal UI'))
        : null,
    ),
  );

  // ── FX locks
  add(
    h('h2', null, 'FX rates locked for the cycle'),
    pagedTable({
      caption: `FX rates locked for this cycle (each currency into ${ccy})`,
      columns: [
        { key: 'from', label: 'From' },
        { key: 'to', label: 'To' },
        { key: 'rate', label: 'Rate', numeric: true },
        { key: 'source', label: 'Source' },
        { key: 'asOf', label: 'As of', render: (r) => fmt.time(r.asOf), csv: (r) => r.asOf },
      ],
      csvName: `${slug}-fx.csv`,
      fetchPage: rowsOnce(record.fxLocks),
      empty: 'No rate locked (every amount is in the settlement currency, or the cycle has not locked yet).',
    }),
  );

  // ── Journals and ledger entries
  const ledgerEntries = record.ledgerEntries || [];
  const idOfKey = new Map(ledgerEntries.map((e) => [e.key, e.id]));
  const journalTable = (journal, caption) =>
    pagedTable({
      caption,
      columns: [
        {
          key: 'key',
          label: 'Entry',
          render: (e) => (idOfKey.has(e.key) ? entryLink(idOfKey.get(e.key), e.key) : e.key),
          csv: (e) => e.key,
        },
        { key: 'effectiveDate', label: 'Effective date' },
        { key: 'line', label: 'Statement line', render: (e) => e.line ?? '—' },
        { key: 'debit', label: 'Debit account', render: (e) => accountLink(e.debit), csv: (e) => e.debit },
        {
          key: 'credit',
          label: 'Credit account',
          render: (e) => accountLink(e.credit),
          csv: (e) => e.credit,
        },
        moneyCol('amount', 'Amount', (e) => e.currency),
        { key: 'currency', label: 'Currency' },
      ],
      csvName: `${slug}-${journal.kind}-journal.csv`,
      fetchPage: rowsOnce(journalRows(journal)),
    });
  add(h('h2', null, 'Journals and ledger entries'));
  for (const [journal, name] of [
    [record.journal, 'Settlement journal'],
    [record.payoutJournal, 'Payout journal'],
  ]) {
    if (!journal) {
      add(h('h3', null, name), h('p', null, `No ${name.toLowerCase()} yet.`));
      continue;
    }
    add(
      h('h3', null, `${name}: ${journal.id}`),
      h('p', null, 'Digest (sha256) it was stored under: ', h('code', null, journal.digest)),
      journalTable(journal, `${name}: each posting it makes (entries link to the ledger once posted)`),
    );
  }
  add(
    h('h3', null, 'Posted ledger entries'),
    pagedTable({
      caption: 'Ledger entries this cycle posted',
      columns: [
        {
          key: 'id',
          label: 'Entry',
          render: (e) => entryLink(e.id, `Ledger entry ${e.id}`),
          csv: (e) => e.id,
        },
        { key: 'key', label: 'Key' },
        { key: 'sourceKind', label: 'Source' },
        { key: 'effectiveDate', label: 'Effective date' },
      ],
      csvName: `${slug}-ledger-entries.csv`,
      fetchPage: rowsOnce(ledgerEntries),
      empty: 'Nothing posted to the ledger yet.',
    }),
  );

  // ── The statement
  add(h('h2', null, 'Statement'));
  if (!statement) {
    add(
      h('p', { class: 'notice' }, `No statement: ${statementProblem}`),
      h('h3', { id: 'exceptions-h' }, 'Exceptions'),
    );
    add(exceptionTable(ctx, id, null, partnerBase));
    return { title: `Cycle ${partnerId} ${period.start}` };
  }

  const s = statement;
  const status = statusLine('');
  const csvButton = h(
    'button',
    {
      type: 'button',
      class: 'secondary',
      onclick: async () => {
        csvButton.disabled = true;
        status.set('Downloading the statement as CSV…');
        try {
          const res = await fetch(`/v1/settlements/${enc(id)}/statement`, {
            credentials: 'same-origin',
            headers: { Accept: 'text/csv', 'X-Clearhouse-Console': '1' },
          });
          if (res.status === 401) {
            window.location.assign('/console/sign-in');
            return;
          }
          if (!res.ok) throw new Error(`the API answered ${res.status}`);
          download(`${slug}.csv`, await res.text());
          status.set(`Statement saved as ${slug}.csv`);
        } catch (err) {
          status.set(`Could not download the statement: ${err.message}`);
        } finally {
          csvButton.disabled = false;
        }
      },
    },
    'Download the statement (CSV)',
  );
  add(
    h(
      'p',
      null,
      `Statement of ${s.partnerId} for ${s.period.start} to ${s.period.end}, in ${s.currency}, contract version ${s.contractVersion}. `,
      csvButton,
    ),
    status,
  );

  // Fees
  add(
    h('h3', null, 'Fees'),
    pagedTable({
      caption: 'Fee lines',
      columns: [
        { key: 'code', label: 'Line' },
        { key: 'description', label: 'Description' },
        moneyCol('base', 'Base'),
        { key: 'rate', label: 'Rate', numeric: true, render: (l) => l.rate ?? '—' },
        moneyCol('amount', 'Amount'),
      ],
      csvName: `${slug}-fee-lines.csv`,
      fetchPage: rowsOnce(s.lines),
    }),
    h(
      'dl',
      { class: 'facts' },
      row('Gross fee', money(s.grossFee)),
      row('Tax withheld', money(s.taxWithheld)),
      row('Net payable', money(s.netPayable)),
    ),
  );

  // Revenue and resolutions
  const r = s.revenue;
  add(
    h('h3', null, 'Revenue'),
    h(
      'dl',
      { class: 'facts' },
      row('Stakes', money(r.stakes)),
      row('Wins', money(r.wins)),
      row('GGR before resolutions', money(r.ggrBeforeResolutions)),
      row('GGR', money(r.ggr)),
      row('Bonus cost', money(r.bonusCost)),
      row('Jackpot contributions', money(r.jackpotContributions)),
      row('Jackpot wins', money(r.jackpotWins)),
      row(
        'Gaming tax',
        r.gamingTax
          ? `${money(r.gamingTax.amount)} (${r.gamingTax.jurisdiction}, ${r.gamingTax.rate} on ${r.gamingTax.on}; month's base ${money(r.gamingTax.monthBase)}, charged earlier ${money(r.gamingTax.chargedEarlier)})`
          : 'none',
      ),
      row('NGR', money(r.ngr)),
    ),
    pagedTable({
      caption: 'Resolutions that move this period',
      columns: [
        {
          key: 'exceptionId',
          label: 'Exception',
          render: (x) =>
            x.covers
              ? `${x.exceptionId} (covers ${fmt.int(x.covers)})`
              : link(exceptionHref(x.exceptionId), x.exceptionId),
          csv: (x) => x.exceptionId,
        },
        { key: 'resolution', label: 'Resolution' },
        moneyCol('effect', 'Effect on GGR'),
        moneyCol('posted', 'Posted to the ledger'),
      ],
      csvName: `${slug}-resolutions.csv`,
      fetchPage: rowsOnce(r.resolutions),
      empty: 'No resolution moves this period.',
    }),
  );

  // Fee base and carries
  const b = s.base;
  add(
    h('h3', null, 'Fee base and carries'),
    h(
      'dl',
      { class: 'facts' },
      row('Contract base', `${b.contractBase.toUpperCase()}, jackpots ${b.jackpots.replace('_', ' ')}`),
      row('Period base', money(b.periodBase)),
      row(
        'Carried in',
        b.carriedIn.length
          ? h(
              'ul',
              null,
              b.carriedIn.map((c) =>
                h(
                  'li',
                  null,
                  link(`/console/settlements/${enc(c.fromSettlementId)}`, c.fromSettlementId),
                  `: ${money(c.amount)}`,
                ),
              ),
            )
          : 'nothing',
      ),
      row('Fee base', money(b.feeBase)),
      row('Negative base carried out', money(b.carriedOut.negativeBase)),
      row(
        'Resolutions deferred',
        b.carriedOut.deferredResolutions.length
          ? h(
              'ul',
              null,
              b.carriedOut.deferredResolutions.map((d) =>
                h('li', null, link(exceptionHref(d.exceptionId), d.exceptionId), `: ${money(d.effect)}`),
              ),
            )
          : 'none',
      ),
      row('Carried out in total', money(b.carriedOut.total)),
    ),
  );
  if (s.categories && s.categories.length)
    add(
      pagedTable({
        caption: 'Base per game category',
        columns: [{ key: 'category', label: 'Category' }, moneyCol('base', 'Base')],
        csvName: `${slug}-categories.csv`,
        fetchPage: rowsOnce(s.categories),
      }),
    );

  // Month
  const m = s.month;
  add(
    h('h3', null, `The month ${m.month}`),
    h(
      'dl',
      { class: 'facts' },
      row('Closes the month', m.closesMonth ? 'yes' : 'no'),
      row('Volume before this period', money(m.volumeBefore)),
      row('Volume after this period', money(m.volumeAfter)),
      row('Variable fees to date', money(m.variableFeesToDate)),
      row('Minimum guarantee', `${money(m.minimumGuarantee)}${m.guaranteeAssessed ? ' (assessed)' : ''}`),
      row('Top-ups to date', money(m.topUpsToDate)),
      row('Fixed fee', m.fixedFee),
    ),
  );

  // Currencies with FX
  const fxText = (c) =>
    c.fx ? `${c.fx.rate} (${c.fx.source}, ${fmt.time(c.fx.asOf)})` : 'settlement currency';
  add(
    h('h3', null, 'Currencies'),
    pagedTable({
      caption: `Each currency played, and in ${s.currency} at the locked rate`,
      columns: [
        { key: 'currency', label: 'Currency' },
        moneyCol('stakes', 'Stakes', (c) => c.currency),
        moneyCol('wins', 'Wins', (c) => c.currency),
        moneyCol('ggr', 'GGR', (c) => c.currency),
        moneyCol('bonusCost', 'Bonus cost', (c) => c.currency),
        moneyCol('jackpotContributions', 'Jackpot contributions', (c) => c.currency),
        {
          key: 'fx',
          label: 'Locked rate',
          render: fxText,
          csv: (c) => (c.fx ? `${c.fx.rate} ${c.fx.source} ${c.fx.asOf}` : ''),
        },
        {
          key: 'inSettlementCurrency',
          label: `GGR in ${s.currency}`,
          numeric: true,
          render: (c) => money(c.inSettlementCurrency.ggr),
          csv: (c) => c.inSettlementCurrency.ggr,
        },
        {
          key: 'inSettlementStakes',
          label: `Stakes in ${s.currency}`,
          numeric: true,
          render: (c) => money(c.inSettlementCurrency.stakes),
          csv: (c) => c.inSettlementCurrency.stakes,
        },
      ],
      csvName: `${slug}-currencies.csv`,
      fetchPage: rowsOnce(s.currencies),
    }),
  );

  // Sources
  add(
    h('h3', null, 'Sources: our figures per business day, game and currency'),
    pagedTable({
      caption:
        'Sources of the statement (frozen at the fee step); each day and game links to its transactions',
      columns: [
        {
          key: 'businessDate',
          label: 'Business day',
          render: (x) => link(dayHref(x.businessDate), x.businessDate),
          csv: (x) => x.businessDate,
        },
        {
          key: 'gameId',
          label: 'Game',
          render: (x) => link(`${dayHref(x.businessDate)}/games/${enc(x.gameId)}`, x.gameId),
          csv: (x) => x.gameId,
        },
        { key: 'category', label: 'Category', render: (x) => x.category ?? '—' },
        { key: 'currency', label: 'Currency' },
        {
          key: 'betCount',
          label: 'Bets (count)',
          numeric: true,
          render: (x) => fmt.int(x.betCount),
          csv: (x) => x.betCount,
        },
        moneyCol('bets', 'Bets', (x) => x.currency),
        moneyCol('wins', 'Wins', (x) => x.currency),
        moneyCol('rolledBackBets', 'Rolled-back bets', (x) => x.currency),
        moneyCol('rolledBackWins', 'Rolled-back wins', (x) => x.currency),
        moneyCol('ggr', 'GGR', (x) => x.currency),
        moneyCol('bonusCost', 'Bonus cost', (x) => x.currency),
        moneyCol('jackpotContributions', 'Jackpot contributions', (x) => x.currency),
        moneyCol('jackpotWins', 'Jackpot wins', (x) => x.currency),
      ],
      csvName: `${slug}-sources.csv`,
      fetchPage: rowsOnce(s.sources),
    }),
  );

  // Exceptions
  add(h('h3', { id: 'exceptions-h' }, 'Exceptions'), exceptionTable(ctx, id, s, partnerBase));
  if (s.expected && s.expected.length)
    add(
      pagedTable({
        caption: 'Expected items: settled at our figure while the provider has not reported them',
        columns: [
          {
            key: 'exceptionId',
            label: 'Exception',
            render: (x) => link(exceptionHref(x.exceptionId), x.exceptionId),
            csv: (x) => x.exceptionId,
          },
          {
            key: 'txId',
            label: 'Transaction',
            render: (x) => (x.txId ? link(`${partnerBase}/transactions/${enc(x.txId)}`, x.txId) : '—'),
            csv: (x) => x.txId,
          },
          moneyCol('difference', 'Difference'),
          { key: 'until', label: 'Awaited until', render: (x) => fmt.time(x.until), csv: (x) => x.until },
        ],
        csvName: `${slug}-expected.csv`,
        fetchPage: rowsOnce(s.expected),
      }),
    );
  if (s.writtenOff && s.writtenOff.length)
    add(
      pagedTable({
        caption: 'Written off to named accounts (memo entries)',
        columns: [
          { key: 'account', label: 'Account', render: (x) => accountLink(x.account), csv: (x) => x.account },
          moneyCol('amount', 'Amount'),
          { key: 'covers', label: 'Exceptions covered', numeric: true, render: (x) => fmt.int(x.covers) },
        ],
        csvName: `${slug}-written-off.csv`,
        fetchPage: rowsOnce(s.writtenOff),
      }),
    );

  // Ledger entries the statement lists, and rounding
  add(
    h('h3', null, 'Ledger entries the statement posts'),
    s.ledgerEntries.length
      ? h(
          'ul',
          null,
          s.ledgerEntries.map((key) =>
            h('li', null, idOfKey.has(key) ? entryLink(idOfKey.get(key), key) : h('code', null, key)),
          ),
        )
      : h('p', null, 'None.'),
  );
  if (s.rounding && s.rounding.length)
    add(
      h('h3', null, 'Rounding'),
      pagedTable({
        caption: 'What rounding dropped, per step (fractions of a minor unit)',
        columns: [
          { key: 'step', label: 'Step' },
          { key: 'residue', label: 'Residue', numeric: true },
        ],
        csvName: `${slug}-rounding.csv`,
        fetchPage: rowsOnce(s.rounding),
      }),
    );

  return { title: `Cycle ${partnerId} ${period.start}` };
}

/** Journal entries as rows: one per posting, with the account codes. */
function journalRows(journal) {
  return journal.entries.flatMap((e) =>
    e.postings.map((p) => ({
      key: e.key,
      effectiveDate: e.effectiveDate,
      line: e.line,
      debit: p.debit,
      credit: p.credit,
      amount: p.amount,
      currency: p.currency,
    })),
  );
}

/** The exceptions of the cycle: from the statement when there is one, else paged from the book. */
function exceptionTable(ctx, id, statement, partnerBase) {
  const { api, fmt, link, pagedTable } = ctx;
  const href = (exceptionId) => `/console/settlements/${enc(id)}/exceptions/${enc(exceptionId)}`;
  const slug = id.replace(/:/g, '_');
  const common = [
    {
      key: 'exceptionId',
      label: 'Exception',
      render: (e) => link(href(e.exceptionId), e.exceptionId),
      csv: (e) => e.exceptionId,
    },
    { key: 'kind', label: 'Kind' },
    {
      key: 'txId',
      label: 'Transaction',
      render: (e) => (e.txId ? link(`${partnerBase}/transactions/${enc(e.txId)}`, e.txId) : '—'),
      csv: (e) => e.txId,
    },
  ];
  const decision = (res) =>
    res ? `${res.resolution}${res.amount ? ` ${res.amount}` : ''} by ${res.operator}: ${res.reason}` : 'open';
  if (statement)
    return pagedTable({
      caption: 'Exceptions of the period and their resolutions',
      columns: [
        ...common,
        {
          key: 'difference',
          label: 'Difference',
          numeric: true,
          render: (e) => fmt.money(e.difference, e.currency),
          csv: (e) => e.difference,
        },
        { key: 'currency', label: 'Currency', render: (e) => e.currency ?? '—' },
        { key: 'detail', label: 'Detail' },
        { key: 'resolution', label: 'Resolution', render: (e) => decision(e.resolution) },
      ],
      csvName: `${slug}-exceptions.csv`,
      fetchPage: async () => ({ rows: statement.exceptions || [], nextCursor: null }),
      empty: 'No exceptions.',
    });
  return pagedTable({
    caption: 'Exceptions in the exception book so far',
    columns: [
      ...common,
      {
        key: 'differenceMinor',
        label: 'Difference (minor units)',
        numeric: true,
        render: (e) => fmt.int(e.differenceMinor),
        csv: (e) => e.differenceMinor,
      },
      { key: 'detail', label: 'Detail' },
      {
        key: 'resolution',
        label: 'Resolution',
        render: (e) =>
          e.resolution ? `${e.resolution} by ${e.operator ?? 'operations'}: ${e.reason ?? ''}` : 'open',
      },
    ],
    csvName: `${slug}-exceptions.csv`,
    fetchPage: async (cursor) => {
      const res = await api('/v1/exceptions', { settlementId: id, cursor, limit: 100 });
      return { rows: res.exceptions, nextCursor: res.nextCursor };
    },
    empty: 'No exceptions.',
  });
}
