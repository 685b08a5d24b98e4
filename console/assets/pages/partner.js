// One partner: a month's figures per currency (to date, and today), the forecast for the open
// month beside last month's actual, GGR by business day and by hour, the business days (each a link
// to its games), its settlement cycles and its open exceptions. Every figure comes from the API.

const enc = encodeURIComponent;
const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;
const HOURS_SHOWN = 48;
const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

/** The calendar date in a timezone ('YYYY-MM-DD'): which business day "today" is for the partner. */
function localDate(timeZone, date) {
  const parts = {};
  for (const p of new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).formatToParts(date))
    parts[p.type] = p.value;
  return `${parts.year}-${parts.month}-${parts.day}`;
}

function lastDayOf(month) {
  const [y, m] = month.split('-').map(Number);
  return `${month}-${String(new Date(Date.UTC(y, m, 0)).getUTCDate()).padStart(2, '0')}`;
}

function shiftDay(date, by) {
  return new Date(Date.parse(`${date}T00:00:00Z`) + by * 86_400_000).toISOString().slice(0, 10);
}

function shiftMonth(month, by) {
  const [y, m] = month.split('-').map(Number);
  const d = new Date(Date.UTC(y, m - 1 + by, 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** Every page of a list (charts need the whole series); `key` names the array in the answer. */
async function allRows(api, path, query, key) {
  const rows = [];
  let cursor;
  for (let n = 0; n < 50; n += 1) {
    const res = await api(path, { ...query, cursor });
    rows.push(...(res[key] || []));
    cursor = res.nextCursor;
    if (!cursor) break;
  }
  return rows;
}

export async function render(ctx) {
  // Appends what is there (a section left out is null), never the text "null".
  const add = (...nodes) =>
    ctx.view.append(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
  const { h, api, fmt, link, pagedTable, timeSeries, barChart, me, params, query } = ctx;
  const partnerId = params.partnerId;
  const base = `/console/partners/${enc(partnerId)}`;
  const dayHref = (date) => `${base}/days/${enc(date)}`;
  const disposers = [];

  const partner = await api(`/v1/partners/${enc(partnerId)}`);
  const today = localDate(partner.timezone, new Date());
  const thisMonth = today.slice(0, 7);
  const asked = query.get('month');
  const month = asked && MONTH.test(asked) && asked <= thisMonth ? asked : thisMonth;
  const open = month === thisMonth;
  const from = `${month}-01`;
  const to = open ? today : lastDayOf(month);

  // Money columns: the API's decimal string, formatted; the CSV keeps the string as the API gave it.
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
  // How a row reached the settlement currency, in words as well as a badge (never colour alone).
  const rateText = (c) =>
    c.rate
      ? `${c.rate}${c.source ? ` (${c.source}` : ' ('}${c.rateDay ? `, rate of ${c.rateDay}` : ''})`
      : `${fmt.int(c.ratesUsed)} rates`;
  const basis = {
    key: 'basis',
    label: 'Conversion',
    render: (r) => {
      const c = r.inSettlement;
      if (!c) return 'no rate for some day: not converted';
      if (c.basis === 'same_currency') return 'same currency';
      if (c.basis === 'locked')
        return h('span', null, h('span', { class: 'badge locked' }, 'locked'), ` at ${rateText(c)}`);
      return h(
        'span',
        null,
        h('span', { class: 'badge indicative' }, 'indicative'),
        ` at the reference ${rateText(c)}`,
      );
    },
    csv: (r) => {
      const c = r.inSettlement;
      if (!c) return 'not converted';
      return `${c.basis} ${c.rate ?? `${c.ratesUsed} rates`}${c.source ? ` ${c.source}` : ''}${c.rateDay ? ` ${c.rateDay}` : ''}`;
    },
  };
  const figureColumns = [
    { key: 'txCount', label: 'Transactions', numeric: true, render: (r) => fmt.int(r.txCount) },
    money('bets', 'Bets'),
    money('wins', 'Wins'),
    money('ggr', 'GGR'),
    money('bonusCost', 'Bonus cost'),
    money('jackpotContributions', 'Jackpot contributions'),
    money('ngr', 'NGR (before gaming tax)'),
    converted('ggr', `GGR in ${partner.settlementCurrency}`),
    converted('ngr', `NGR in ${partner.settlementCurrency}`),
    basis,
  ];
  // Per business day, the figures that matter at a glance (readable at 1280 px); the month's
  // table above has them all.
  const dayColumns = figureColumns.filter((c) =>
    ['txCount', 'bets', 'wins', 'ggr', 'ngr', 'inSettlement.ggr', 'basis'].includes(c.key),
  );
  /** A period's figures with one column per currency played (and one row per figure). */
  const perCurrency = (caption, rows, csvName) =>
    pagedTable({
      caption,
      columns: [
        { key: 'label', label: 'Figure' },
        ...rows.map((r, i) => ({
          key: `c${i}`,
          label: r.currency,
          numeric: true,
          render: (c) => c.render(r),
          csv: (c) => (c.csv ? c.csv(r) : r[c.key]),
        })),
      ],
      csvName,
      fetchPage: async () => ({ rows: rows.length ? figureColumns : [], nextCursor: null }),
      empty: 'Nothing played in this period.',
    });

  const revenue = (q) => api('/v1/insights/revenue', { partnerId, ...q });
  const totalsOf = (res) => (res.totals || []).filter((t) => !t.partnerId || t.partnerId === partnerId);
  // The API's totals per partner in the settlement currency, and how they were converted.
  const totalsList = (totals, rows) =>
    totals.length === 0
      ? null
      : h(
          'ul',
          null,
          totals.map((t) => {
            const allSameCurrency = rows.every(
              (r) => r.inSettlement && r.inSettlement.basis === 'same_currency',
            );
            return h(
              'li',
              null,
              `Every currency in ${t.currency}: GGR ${fmt.money(t.ggr, t.currency)}, NGR (before gaming tax) ${fmt.money(t.ngr, t.currency)} `,
              t.indicative
                ? h('span', { class: 'badge indicative' }, 'indicative: reference rates')
                : allSameCurrency
                  ? '(no conversion: every figure is in the settlement currency)'
                  : h('span', { class: 'badge locked' }, 'at the rates the cycles locked'),
              t.complete === false
                ? ` (leaves out ${t.unconverted.join(', ')}: no rate yet for some day)`
                : null,
            );
          }),
        );

  // ── Heading and period navigation
  add(
    h('h1', null, `${partner.name} (${partner.id})`),
    h(
      'dl',
      { class: 'facts' },
      h('dt', null, 'Kind'),
      h('dd', null, partner.kind),
      h('dt', null, 'Status'),
      h('dd', null, partner.status),
      h('dt', null, 'Timezone (business days)'),
      h('dd', null, partner.timezone),
      h('dt', null, 'Settlement currency'),
      h('dd', null, partner.settlementCurrency),
    ),
    h(
      'nav',
      { 'aria-label': 'Recent business days' },
      h(
        'p',
        null,
        `Recent business days (${partner.timezone}): `,
        [0, 1, 2, 3, 4, 5, 6].map((n) => {
          const date = shiftDay(today, -n);
          return [n > 0 ? ' · ' : null, link(dayHref(date), date)];
        }),
      ),
    ),
    h(
      'nav',
      { 'aria-label': 'Months' },
      h(
        'p',
        null,
        link(`${base}?month=${shiftMonth(month, -1)}`, `Previous month (${shiftMonth(month, -1)})`),
        open
          ? null
          : [' · ', link(`${base}?month=${shiftMonth(month, 1)}`, `Next month (${shiftMonth(month, 1)})`)],
        open ? null : [' · ', link(base, `This month (${thisMonth})`)],
      ),
    ),
  );

  const [periodRes, todayRes, dayRows] = await Promise.all([
    revenue({ from, to, groupBy: 'partner' }),
    open ? revenue({ from: today, to: today, groupBy: 'partner' }) : Promise.resolve(null),
    allRows(api, '/v1/insights/revenue', { partnerId, from, to, groupBy: 'day' }, 'rows'),
  ]);

  // ── The month
  const periodTitle = open ? `Month to date (${from} to ${to})` : `Month ${month} (${from} to ${to})`;
  const periodTable = perCurrency(
    `${periodTitle}, per currency played`,
    periodRes.rows || [],
    `${partnerId}-${month}.csv`,
  );
  add(
    h(
      'section',
      { 'aria-labelledby': 'period-h' },
      h('h2', { id: 'period-h' }, periodTitle),
      h(
        'p',
        { class: 'hint' },
        'NGR is shown before gaming tax. Figures in the settlement currency are indicative (reference rate of each ' +
          'business day) until a settlement cycle locks its rates. Every business day is listed below with a link to its games.',
      ),
      totalsList(totalsOf(periodRes), periodRes.rows || []),
      periodTable,
    ),
  );

  // ── Today
  if (todayRes) {
    add(
      h(
        'section',
        { 'aria-labelledby': 'today-h' },
        h('h2', { id: 'today-h' }, `Today (${today}, ${partner.timezone})`),
        h('p', null, link(dayHref(today), `Games played today, ${today}`)),
        totalsList(totalsOf(todayRes), todayRes.rows || []),
        perCurrency(`Today, ${today}, per currency played`, todayRes.rows || [], `${partnerId}-${today}.csv`),
      ),
    );
  }

  // ── Forecast (the open month only)
  if (open) {
    const section = h(
      'section',
      { 'aria-labelledby': 'forecast-h' },
      h('h2', { id: 'forecast-h' }, `Forecast for ${month}`),
    );
    add(section);
    try {
      section.append(
        forecastView(ctx, await api(`/v1/partners/${enc(partnerId)}/forecast`, { month }), base),
      );
    } catch (err) {
      if (err.status === 401) throw err;
      section.append(h('p', { class: 'notice' }, `No forecast: ${err.message}`));
    }
  }

  // ── GGR by business day (chart) and the business days (table)
  const dates = [...new Set(dayRows.map((r) => r.businessDate))].sort();
  const currencies = [...new Set(dayRows.map((r) => r.currency))].sort();
  const byDay = new Map(dayRows.map((r) => [`${r.businessDate} ${r.currency}`, r]));
  const dayChart = barChart({
    title: `GGR by business day, ${month}`,
    description: `GGR per business day (${partner.timezone}) in each currency played, before conversion.`,
    labels: dates,
    series: currencies.map((c) => ({
      label: `GGR (${c})`,
      values: dates.map((d) => {
        const r = byDay.get(`${d} ${c}`);
        return r ? Number(r.ggr) : null;
      }),
    })),
  });
  disposers.push(dayChart);
  add(
    h(
      'section',
      { 'aria-labelledby': 'days-h' },
      h('h2', { id: 'days-h' }, 'Business days'),
      dayChart,
      pagedTable({
        caption: `Business days of ${month}, per currency (each date links to its games)`,
        columns: [
          {
            key: 'businessDate',
            label: 'Business day',
            render: (r) => link(dayHref(r.businessDate), r.businessDate),
            csv: (r) => r.businessDate,
          },
          { key: 'currency', label: 'Currency' },
          ...dayColumns,
        ],
        csvName: `${partnerId}-${month}-days.csv`,
        fetchPage: async () => ({ rows: dayRows, nextCursor: null }),
      }),
    ),
  );

  // ── GGR by hour (the last 48 hours, UTC hours)
  const hourSection = h(
    'section',
    { 'aria-labelledby': 'hours-h' },
    h('h2', { id: 'hours-h' }, `GGR by hour, the last ${HOURS_SHOWN} hours`),
  );
  add(hourSection);
  try {
    const end = Math.ceil(Date.now() / 3_600_000) * 3_600_000;
    const start = end - HOURS_SHOWN * 3_600_000;
    const res = await api('/v1/insights/revenue/hourly', {
      partnerId,
      from: new Date(start).toISOString(),
      to: new Date(end).toISOString(),
    });
    const hours = res.hours || [];
    const hourCurrencies = [...new Set(hours.map((r) => r.currency))].sort();
    const byHour = new Map(hours.map((r) => [`${Date.parse(r.hour) / 1000} ${r.currency}`, r]));
    const x = [];
    for (let t = start; t < end; t += 3_600_000) x.push(t / 1000);
    const chart = timeSeries({
      title: `GGR by hour, the last ${HOURS_SHOWN} hours (UTC)`,
      description: 'Hours without transactions show 0.',
      x,
      series: hourCurrencies.map((c) => ({
        label: 'GGR',
        unit: c,
        values: x.map((t) => {
          const r = byHour.get(`${t} ${c}`);
          return r ? Number(r.ggr) : 0;
        }),
      })),
    });
    disposers.push(chart);
    hourSection.append(chart);
  } catch (err) {
    if (err.status === 401) throw err;
    hourSection.append(h('p', { class: 'notice' }, `Hourly figures unavailable: ${err.message}`));
  }

  // ── Settlement cycles
  add(
    h(
      'section',
      { 'aria-labelledby': 'cycles-h' },
      h('h2', { id: 'cycles-h' }, 'Settlement cycles'),
      pagedTable({
        caption: `Settlement cycles of ${partner.name}, newest period first`,
        columns: [
          {
            key: 'id',
            label: 'Cycle',
            render: (c) => link(`/console/settlements/${enc(c.id)}`, `${c.periodStart} to ${c.periodEnd}`),
            csv: (c) => c.id,
          },
          { key: 'status', label: 'Status' },
          {
            key: 'frozenAt',
            label: 'Frozen at',
            render: (c) => fmt.time(c.frozenAt),
            csv: (c) => c.frozenAt,
          },
          {
            key: 'ggr',
            label: 'GGR',
            numeric: true,
            render: (c) => (c.fees && c.fees.ggr ? fmt.money(c.fees.ggr, partner.settlementCurrency) : '—'),
            csv: (c) => (c.fees ? c.fees.ggr : ''),
          },
          {
            key: 'grossFee',
            label: 'Gross fee',
            numeric: true,
            render: (c) => (c.fees ? fmt.money(c.fees.grossFee, partner.settlementCurrency) : '—'),
            csv: (c) => (c.fees ? c.fees.grossFee : ''),
          },
          {
            key: 'netPayable',
            label: 'Net payable',
            numeric: true,
            render: (c) => (c.fees ? fmt.money(c.fees.netPayable, partner.settlementCurrency) : '—'),
            csv: (c) => (c.fees ? c.fees.netPayable : ''),
          },
        ],
        csvName: `${partnerId}-cycles.csv`,
        fetchPage: async (cursor) => {
          const res = await api('/v1/settlements', { partnerId, cursor, limit: 50 });
          return { rows: res.settlements, nextCursor: res.nextCursor };
        },
      }),
    ),
  );

  // ── Open exceptions
  add(
    h(
      'section',
      { 'aria-labelledby': 'exceptions-h' },
      h('h2', { id: 'exceptions-h' }, 'Open exceptions'),
      pagedTable({
        caption: `Open reconciliation exceptions of ${partner.name}`,
        columns: [
          {
            key: 'exceptionId',
            label: 'Exception',
            render: (e) =>
              link(
                `/console/settlements/${enc(e.settlementId)}/exceptions/${enc(e.exceptionId)}`,
                e.exceptionId,
              ),
            csv: (e) => e.exceptionId,
          },
          {
            key: 'settlementId',
            label: 'Cycle',
            render: (e) => link(`/console/settlements/${enc(e.settlementId)}`, e.settlementId),
            csv: (e) => e.settlementId,
          },
          { key: 'kind', label: 'Kind' },
          {
            key: 'txId',
            label: 'Transaction',
            render: (e) => (e.txId ? link(`${base}/transactions/${enc(e.txId)}`, e.txId) : '—'),
            csv: (e) => e.txId,
          },
          {
            key: 'differenceMinor',
            label: 'Difference (minor units)',
            numeric: true,
            render: (e) => fmt.int(e.differenceMinor),
            csv: (e) => e.differenceMinor,
          },
          { key: 'detail', label: 'Detail' },
        ],
        csvName: `${partnerId}-open-exceptions.csv`,
        fetchPage: async (cursor) => {
          const res = await api('/v1/exceptions', { partnerId, status: 'open', cursor, limit: 50 });
          return { rows: res.exceptions, nextCursor: res.nextCursor };
        },
      }),
    ),
  );

  if (me.kind === 'operator')
    add(
      h(
        'p',
        null,
        link(`/console/ledger/accounts?partnerId=${enc(partnerId)}`, `Ledger accounts of ${partner.name}`),
      ),
    );

  return {
    title: `${partner.name} · ${month}`,
    dispose() {
      for (const d of disposers) d.dispose();
    },
  };
}

/** The month's forecast beside the month to date and last month's actual, with its interval and method. */
function forecastView(ctx, f, base) {
  const { h, fmt, link } = ctx;
  const c = f.currency;
  const what =
    f.basis === 'net_payable'
      ? 'net payable (from the settled daily cycles)'
      : `GGR in ${c} (indicative where no cycle locked a rate)`;
  const last = f.lastMonth;
  const lastCard = h(
    'li',
    { class: 'card' },
    h('span', { class: 'label' }, `Last month's actual (${last.month})`),
    h('span', { class: 'figure' }, link(`${base}?month=${last.month}`, fmt.money(last.actual, c))),
    h('span', { class: 'label' }, `${fmt.int(last.days)} days with a figure`),
  );
  const out = h('div', null, h('p', null, `Expected ${what} for ${f.month}, as of ${f.asOf}.`));
  if (!f.forecast) {
    out.append(
      h('p', { class: 'notice' }, `No forecast yet: ${f.unavailable || 'not enough history'}.`),
      h('ul', { class: 'cards' }, lastCard),
    );
    return out;
  }
  const x = f.forecast;
  out.append(
    h(
      'ul',
      { class: 'cards' },
      h(
        'li',
        { class: 'card' },
        h('span', { class: 'label' }, `Forecast for ${f.month}`),
        h('span', { class: 'figure' }, fmt.money(x.projected, c)),
        h('span', { class: 'label' }, `Interval ${fmt.money(x.low, c)} to ${fmt.money(x.high, c)}`),
      ),
      h(
        'li',
        { class: 'card' },
        h('span', { class: 'label' }, `Actual, month to date (to ${f.asOf})`),
        h('span', { class: 'figure' }, link('#days-h', fmt.money(x.monthToDate, c))),
        h('span', { class: 'label' }, `${fmt.int(x.remainingDays)} days still to come`),
      ),
      lastCard,
    ),
    h('p', null, h('strong', null, 'A forecast, not a figure of record. '), x.method),
    h(
      'p',
      { class: 'hint' },
      `From ${fmt.int(x.weeksOfHistory)} weeks of this partner's own history.` +
        (f.unconverted && f.unconverted.length
          ? ` Left out for want of a rate: ${f.unconverted.join(', ')}.`
          : ''),
    ),
    ctx.pagedTable({
      caption: 'Mean daily figure per weekday behind the forecast',
      columns: [
        { key: 'weekday', label: 'Weekday', render: (w) => WEEKDAYS[w.weekday] ?? String(w.weekday) },
        {
          key: 'mean',
          label: 'Mean',
          numeric: true,
          render: (w) => fmt.money(w.mean, c),
          csv: (w) => w.mean,
        },
        { key: 'days', label: 'Days averaged', numeric: true },
      ],
      csvName: `${f.partnerId}-${f.month}-forecast-weekdays.csv`,
      fetchPage: async () => ({ rows: x.byWeekday, nextCursor: null }),
    }),
  );
  return out;
}
