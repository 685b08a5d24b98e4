// One business day of a partner: its figures per game and currency, each game a link to the
// game's transactions of that day.

const enc = encodeURIComponent;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

function shiftDay(date, by) {
  return new Date(Date.parse(`${date}T00:00:00Z`) + by * 86_400_000).toISOString().slice(0, 10);
}

export async function render(ctx) {
  // Appends what is there (a section left out is null), never the text "null".
  const add = (...nodes) =>
    ctx.view.append(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
  const { h, api, fmt, link, pagedTable, barChart, params } = ctx;
  const { partnerId, date } = params;
  if (!DAY.test(date) || Number.isNaN(Date.parse(date))) {
    add(
      h('h1', null, 'Not a business day'),
      h('p', { class: 'notice' }, `${date} is not a date (YYYY-MM-DD).`),
    );
    return { title: 'Not a business day' };
  }
  const base = `/console/partners/${enc(partnerId)}`;
  const gameHref = (gameId) => `${base}/days/${enc(date)}/games/${enc(gameId)}`;

  const [partner, res] = await Promise.all([
    api(`/v1/partners/${enc(partnerId)}`),
    api('/v1/insights/revenue', { partnerId, from: date, to: date, groupBy: 'game' }),
  ]);
  const rows = res.rows || [];

  const money = (key, label) => ({
    key,
    label,
    numeric: true,
    render: (r) => fmt.money(r[key], r.currency),
    csv: (r) => r[key],
  });
  const converted = (key, label) => ({
    key: `inSettlement.${key}`,
    label,
    numeric: true,
    render: (r) => (r.inSettlement ? fmt.money(r.inSettlement[key], r.inSettlement.currency) : '—'),
    csv: (r) => (r.inSettlement ? r.inSettlement[key] : ''),
  });

  add(
    h('h1', null, `${partner.name}: business day ${date}`),
    h(
      'nav',
      { 'aria-label': 'Business days' },
      h(
        'p',
        null,
        link(`${base}?month=${date.slice(0, 7)}`, `${partner.name}, month ${date.slice(0, 7)}`),
        ' · ',
        link(`${base}/days/${shiftDay(date, -1)}`, `Previous day (${shiftDay(date, -1)})`),
        ' · ',
        link(`${base}/days/${shiftDay(date, 1)}`, `Next day (${shiftDay(date, 1)})`),
      ),
    ),
    h(
      'p',
      { class: 'hint' },
      `A business day in ${partner.timezone}. NGR is before gaming tax; amounts in ${partner.settlementCurrency} ` +
        'are indicative (reference rate of the day) until a settlement cycle locks its rates.',
    ),
  );

  const games = [...new Set(rows.map((r) => r.gameId))];
  const currencies = [...new Set(rows.map((r) => r.currency))].sort();
  const byKey = new Map(rows.map((r) => [`${r.gameId} ${r.currency}`, r]));
  const chart = barChart({
    title: `GGR by game, ${date}`,
    description: 'GGR of each game in each currency played, before conversion.',
    labels: games,
    series: currencies.map((c) => ({
      label: `GGR (${c})`,
      values: games.map((g) => {
        const r = byKey.get(`${g} ${c}`);
        return r ? Number(r.ggr) : null;
      }),
    })),
  });

  const table = pagedTable({
    caption: `Games played on ${date}, per currency (each game links to its transactions)`,
    columns: [
      {
        key: 'gameId',
        label: 'Game',
        render: (r) => link(gameHref(r.gameId), r.gameId),
        csv: (r) => r.gameId,
      },
      { key: 'currency', label: 'Currency' },
      {
        key: 'txCount',
        label: 'Transactions',
        numeric: true,
        render: (r) => link(gameHref(r.gameId), fmt.int(r.txCount)),
        csv: (r) => r.txCount,
      },
      money('bets', 'Bets'),
      money('wins', 'Wins'),
      money('ggr', 'GGR'),
      money('bonusCost', 'Bonus cost'),
      money('jackpotContributions', 'Jackpot contributions'),
      money('ngr', 'NGR (before gaming tax)'),
      converted('ggr', `GGR in ${partner.settlementCurrency}`),
      {
        key: 'basis',
        label: 'Conversion',
        render: (r) => {
          const c = r.inSettlement;
          if (!c) return 'no rate: not converted';
          if (c.basis === 'same_currency') return 'same currency';
          return h(
            'span',
            null,
            h(
              'span',
              { class: `badge ${c.basis === 'locked' ? 'locked' : 'indicative'}` },
              c.basis === 'locked' ? 'locked' : 'indicative',
            ),
            c.rate ? ` at ${c.rate}${c.source ? ` (${c.source})` : ''}` : '',
          );
        },
        csv: (r) =>
          r.inSettlement ? `${r.inSettlement.basis} ${r.inSettlement.rate ?? ''}` : 'not converted',
      },
    ],
    csvName: `${partnerId}-${date}-games.csv`,
    fetchPage: async () => ({ rows, nextCursor: null }),
  });

  add(
    h(
      'section',
      { 'aria-labelledby': 'games-h' },
      h('h2', { id: 'games-h' }, 'Games of the day'),
      chart,
      table,
    ),
  );
  await table.loaded;
  return { title: `${partner.name} · ${date}`, dispose: () => chart.dispose() };
}
