// The overview: revenue today and month to date per partner and currency (with the settlement
// currency conversion, indicative until a cycle locks its rates), ingest over the last hour, GGR and
// volume by hour and GGR by day, cycles by status, open exceptions by age and SLA tier, escalations
// and active alerts. Refreshed every 5 s; every figure links to the page that explains it.
import { replaceKeepingFocus } from '../lib/dom.js';
import { cards, badge, localDate, addDays, allRows, section, problem, epoch } from '../lib/ui.js';

const REFRESH_MS = 5000;
const enc = encodeURIComponent;

/** The revenue rows of an answer, whatever the list is called. */
function rowsOf(res) {
  return (res && (res.rows || res.revenue || res.items)) || [];
}

export async function render(ctx) {
  const { api, h, fmt, link, me, view, timeSeries, barChart, pagedTable, statusLine } = ctx;
  const operator = me.kind === 'operator';
  const updated = h('p', { class: 'status-line' }, 'Loading…');
  const status = statusLine('');
  view.append(
    h('h1', null, operator ? 'Overview' : `Overview · ${me.partnerName || me.partnerId}`),
    h(
      'p',
      { class: 'muted' },
      'Every figure comes from the Clearhouse API and links to the page behind it. NGR is before gaming tax. ',
      'Amounts converted to a settlement currency use the reference rate of the FX service for that business day ',
      'and are ',
      badge('indicative', 'indicative'),
      ' until a settlement cycle locks its rates (',
      badge('locked', 'locked'),
      ').',
    ),
    updated,
    status,
  );

  // Partners: names for operators, timezones for "today" (each partner's own business day).
  let partners = [];
  if (operator) {
    try {
      partners = (await allRows(api, '/v1/partners', { limit: 500 }, 'partners', 10)).rows;
    } catch {
      partners = [];
    }
  } else if (me.partnerId) {
    try {
      partners = [await api(`/v1/partners/${enc(me.partnerId)}`)];
    } catch {
      partners = [{ id: me.partnerId, name: me.partnerName || me.partnerId, timezone: 'UTC' }];
    }
  }
  const byId = new Map(partners.map((p) => [p.id, p]));
  const nameOf = (id) => (byId.get(id) && byId.get(id).name) || id;
  const partnerHref = (id) => `/console/partners/${enc(id)}`;

  // ---- Sections (built once, filled on every refresh) ----
  const revenueBox = h('div');
  const totalsBox = h('div');
  const ingestBox = h('div');
  const hourlyBox = h('div');
  const dailyBox = h('div');
  const cyclesSummary = h('div');
  const cyclesBox = h('div', null, cyclesSummary);
  const exceptionsBox = h('div');
  const alertsBox = h('div');

  view.append(
    section(
      'Revenue',
      'revenue',
      h(
        'p',
        { class: 'hint' },
        "Today is each partner's own business day (its timezone); the period is the calendar month to date.",
      ),
      revenueBox,
      totalsBox,
    ),
  );
  if (operator) view.append(section('Ingest, last hour', 'ingest', ingestBox));
  view.append(section('GGR and volume by hour', 'hourly', hourlyBox));
  view.append(section('GGR by day', 'daily', dailyBox));
  view.append(section('Settlement cycles', 'cycles', cyclesBox));
  view.append(section('Open exceptions', 'exceptions', exceptionsBox));
  view.append(section('Active alerts', 'alerts', alertsBox));

  // Tables keep their rows in these (the pagedTable reads them on reload).
  let revenueRows = [];
  let totalRows = [];
  let stuckRows = [];
  let alertRows = [];
  let alertsMore = false;
  const charts = {};
  const tables = {};

  /** How a converted figure was converted: at a cycle's locked rate, indicatively, or not at all. */
  function basisText(basis) {
    return basis === 'locked' ? 'locked' : basis === 'same_currency' ? 'no conversion' : 'indicative';
  }
  function basisBadge(basis) {
    return badge(basisText(basis), basis === 'reference' || !basis ? 'indicative' : 'locked');
  }
  /** A partner's total: no conversion when every row is in its settlement currency. */
  function totalBasis(total) {
    const rows = revenueRows.filter((r) => r.partnerId === total.partnerId && r.period);
    if (
      rows.length > 0 &&
      rows.every((r) => r.period.inSettlement && r.period.inSettlement.basis === 'same_currency')
    )
      return 'same_currency';
    return total.indicative === false ? 'locked' : 'reference';
  }

  function moneyLink(href, amount, currency) {
    return link(href, fmt.money(amount, currency));
  }

  function renderRevenue(today, period, utcToday, monthStart) {
    // Merge today's and the period's rows by partner and currency.
    const merged = new Map();
    const keyOf = (r) => `${r.partnerId}|${r.currency}`;
    for (const r of rowsOf(period))
      merged.set(keyOf(r), { partnerId: r.partnerId, currency: r.currency, period: r, today: null });
    for (const r of rowsOf(today)) {
      const p = byId.get(r.partnerId);
      const localToday = localDate(p && p.timezone, new Date());
      if (r.businessDate && r.businessDate !== localToday) continue;
      const entry = merged.get(keyOf(r)) || {
        partnerId: r.partnerId,
        currency: r.currency,
        period: null,
        today: null,
      };
      entry.today = r;
      entry.todayDate = localToday;
      merged.set(keyOf(r), entry);
    }
    revenueRows = [...merged.values()].sort((a, b) =>
      a.partnerId === b.partnerId
        ? a.currency.localeCompare(b.currency)
        : a.partnerId.localeCompare(b.partnerId),
    );
    const totals = (period && (period.totals || period.partnerTotals)) || [];
    totalRows = totals;

    if (!tables.revenue) {
      const dayHref = (row) =>
        `${partnerHref(row.partnerId)}/days/${enc(row.todayDate || localDate(byId.get(row.partnerId)?.timezone))}`;
      tables.revenue = pagedTable({
        caption: `GGR and NGR (before gaming tax) per partner and currency: today, and the month to date (${monthStart} to ${utcToday})`,
        csvName: 'revenue.csv',
        columns: [
          {
            key: 'partnerId',
            label: 'Partner',
            render: (r) =>
              link(
                partnerHref(r.partnerId),
                operator ? `${nameOf(r.partnerId)} (${r.partnerId})` : nameOf(r.partnerId),
              ),
            csv: (r) => r.partnerId,
          },
          { key: 'currency', label: 'Currency' },
          {
            key: 'todayGgr',
            label: 'GGR today',
            numeric: true,
            render: (r) =>
              r.today ? moneyLink(dayHref(r), r.today.ggr, r.currency) : fmt.money('0', r.currency),
            csv: (r) => (r.today ? r.today.ggr : '0'),
          },
          {
            key: 'todayNgr',
            label: 'NGR today',
            numeric: true,
            render: (r) =>
              r.today ? moneyLink(dayHref(r), r.today.ngr, r.currency) : fmt.money('0', r.currency),
            csv: (r) => (r.today ? r.today.ngr : '0'),
          },
          {
            key: 'periodGgr',
            label: 'GGR, month',
            numeric: true,
            render: (r) => (r.period ? moneyLink(partnerHref(r.partnerId), r.period.ggr, r.currency) : '—'),
            csv: (r) => (r.period ? r.period.ggr : ''),
          },
          {
            key: 'periodNgr',
            label: 'NGR, month',
            numeric: true,
            render: (r) => (r.period ? moneyLink(partnerHref(r.partnerId), r.period.ngr, r.currency) : '—'),
            csv: (r) => (r.period ? r.period.ngr : ''),
          },
          {
            key: 'txCount',
            label: 'Transactions, month',
            numeric: true,
            render: (r) => (r.period ? link(partnerHref(r.partnerId), fmt.int(r.period.txCount)) : '—'),
            csv: (r) => (r.period ? r.period.txCount : ''),
          },
          {
            key: 'settlement',
            label: 'GGR, month, in settlement currency',
            numeric: true,
            render: (r) => {
              const s = r.period && r.period.inSettlement;
              if (!s) return r.period ? 'no rate' : '—';
              return h(
                'span',
                null,
                moneyLink(partnerHref(r.partnerId), s.ggr, s.currency),
                ' ',
                basisBadge(s.basis),
              );
            },
            csv: (r) => {
              const s = r.period && r.period.inSettlement;
              return s ? `${s.ggr} ${s.currency} (${basisText(s.basis)})` : '';
            },
          },
        ],
        fetchPage: async () => ({ rows: revenueRows, nextCursor: null }),
        empty: 'No activity this month yet.',
      });
      tables.totals = pagedTable({
        caption: 'Month to date per partner, in its settlement currency',
        csvName: 'revenue-settlement-currency.csv',
        columns: [
          {
            key: 'partnerId',
            label: 'Partner',
            render: (r) => link(partnerHref(r.partnerId), nameOf(r.partnerId)),
            csv: (r) => r.partnerId,
          },
          { key: 'currency', label: 'Settlement currency' },
          {
            key: 'ggr',
            label: 'GGR',
            numeric: true,
            render: (r) => moneyLink(partnerHref(r.partnerId), r.ggr, r.currency),
          },
          {
            key: 'ngr',
            label: 'NGR (before tax)',
            numeric: true,
            render: (r) => moneyLink(partnerHref(r.partnerId), r.ngr, r.currency),
          },
          {
            key: 'indicative',
            label: 'Conversion',
            render: (r) => {
              const missing =
                r.complete === false ? ` (without ${(r.unconverted || []).join(', ')}: no rate)` : '';
              return h('span', null, basisBadge(totalBasis(r)), missing);
            },
            csv: (r) => basisText(totalBasis(r)) + (r.complete === false ? ' (incomplete)' : ''),
          },
        ],
        fetchPage: async () => ({ rows: totalRows, nextCursor: null }),
        empty: 'Nothing to convert yet.',
      });
      revenueBox.replaceChildren(tables.revenue);
      totalsBox.replaceChildren(tables.totals);
    } else {
      void tables.revenue.reload();
      void tables.totals.reload();
    }
  }

  function renderIngest(res) {
    const t = res.total || {};
    const grid = cards(
      [
        { label: 'Transactions received', value: fmt.int(t.received) },
        { label: 'Accepted', value: fmt.int(t.accepted) },
        { label: 'Duplicates', value: fmt.int(t.duplicates) },
        { label: 'Stale (outside their business day)', value: fmt.int(t.stale) },
        { label: 'Per second (average)', value: fmt.num(t.perSecond, 2) },
      ],
      'Ingest over the last hour',
    );
    const minutes = res.perMinute || [];
    const data = {
      x: minutes.map((m) => epoch(m.minute)),
      series: [
        { label: 'Received', values: minutes.map((m) => Number(m.received) || 0) },
        { label: 'Accepted', values: minutes.map((m) => Number(m.accepted) || 0) },
        { label: 'Duplicates', values: minutes.map((m) => Number(m.duplicates) || 0) },
      ],
    };
    if (!charts.ingest) {
      charts.ingest = timeSeries({
        title: 'Transactions received per minute',
        description: 'Received, accepted and duplicate transactions per minute over the last hour (UTC).',
        ...data,
      });
      ingestBox.replaceChildren(h('div', { class: 'ingest-cards' }), charts.ingest);
    } else charts.ingest.update(data);
    replaceKeepingFocus(ingestBox.firstChild, JSON.stringify(t), grid);
  }

  function renderHourly(res) {
    const hours = (res && res.hours) || [];
    // One series per currency (never added across currencies), summed over partners.
    const currencies = [...new Set(hours.map((r) => r.currency))].sort();
    // Every hour of the window (a quiet hour is a zero, not a gap the line jumps over).
    const first = epoch(res.from);
    const last = epoch(res.to);
    const stamps = [];
    if (Number.isFinite(first) && Number.isFinite(last))
      for (let t = Math.floor(first / 3600) * 3600; t < last; t += 3600) stamps.push(t);
    for (const r of hours) if (!stamps.includes(epoch(r.hour))) stamps.push(epoch(r.hour));
    stamps.sort((x, y) => x - y);
    const index = new Map(stamps.map((s, i) => [s, i]));
    const ggr = currencies.map((c) => ({ label: `GGR ${c}`, unit: c, values: stamps.map(() => 0) }));
    const tx = currencies.map((c) => ({ label: `Transactions (${c})`, values: stamps.map(() => 0) }));
    for (const r of hours) {
      const ci = currencies.indexOf(r.currency);
      const i = index.get(epoch(r.hour));
      ggr[ci].values[i] += Number(r.ggr) || 0;
      tx[ci].values[i] += Number(r.txCount) || 0;
    }
    const ggrData = { x: stamps, series: ggr };
    const txData = { x: stamps, series: tx };
    if (!charts.ggrHour) {
      charts.ggrHour = timeSeries({
        title: 'GGR by hour, last 24 hours',
        description: `Gross gaming revenue per hour (UTC) per currency${operator ? ', all partners' : ''}.`,
        ...ggrData,
      });
      charts.volume = timeSeries({
        title: 'Volume by hour, last 24 hours',
        description: 'Transactions per hour (UTC), per currency.',
        ...txData,
      });
      hourlyBox.replaceChildren(h('div', { class: 'grid-2' }, charts.ggrHour, charts.volume));
    } else {
      charts.ggrHour.update(ggrData);
      charts.volume.update(txData);
    }
  }

  function renderDaily(res) {
    const rows = rowsOf(res);
    const days = [...new Set(rows.map((r) => r.businessDate))].sort();
    const currencies = [...new Set(rows.map((r) => r.currency))].sort();
    const series = currencies.map((c) => {
      const values = days.map(() => 0);
      for (const r of rows) if (r.currency === c) values[days.indexOf(r.businessDate)] += Number(r.ggr) || 0;
      return { label: `GGR ${c}`, values };
    });
    const data = { labels: days, series };
    if (!charts.daily) {
      charts.daily = barChart({
        title: 'GGR by business day, month to date',
        description: `Gross gaming revenue per business day, per currency${operator ? ', all partners' : ''}.`,
        ...data,
      });
      dailyBox.replaceChildren(charts.daily);
    } else charts.daily.update(data);
  }

  function renderCycles(insights, ownCycles) {
    const parts = [];
    if (insights) {
      parts.push(
        cards(
          (insights.byStatus || []).map((s) => ({
            label: s.status,
            value: fmt.int(s.count),
            href: `/console/cycles?status=${enc(s.status)}`,
          })),
          'Cycles by status',
        ),
      );
      stuckRows = insights.stuck || [];
      if (!tables.stuck) {
        tables.stuck = pagedTable({
          caption: 'Cycles waiting longer than expected, and what they wait for',
          csvName: 'stuck-cycles.csv',
          columns: [
            { key: 'id', label: 'Cycle', render: (r) => link(`/console/settlements/${enc(r.id)}`, r.id) },
            {
              key: 'partnerId',
              label: 'Partner',
              render: (r) => link(partnerHref(r.partnerId), nameOf(r.partnerId)),
            },
            { key: 'status', label: 'Status' },
            { key: 'since', label: 'Since', render: (r) => fmt.time(r.since) },
            { key: 'why', label: 'Waiting for', render: (r) => whyText(r), csv: (r) => whyText(r) },
            {
              key: 'temporalUiUrl',
              label: 'Workflow',
              render: (r) =>
                r.temporalUiUrl ? h('a', { href: r.temporalUiUrl }, 'Open in the Temporal UI') : '—',
              csv: (r) => r.temporalUiUrl || '',
            },
          ],
          fetchPage: async () => ({ rows: stuckRows, nextCursor: null }),
          empty: 'No cycle is stuck.',
        });
      } else void tables.stuck.reload();
    }
    if (ownCycles) {
      const counts = new Map();
      for (const c of ownCycles) counts.set(c.status, (counts.get(c.status) || 0) + 1);
      parts.push(
        cards(
          [...counts.entries()].map(([statusName, count]) => ({
            label: statusName,
            value: fmt.int(count),
            href: `/console/cycles?status=${enc(statusName)}`,
          })),
          'Your cycles by status',
        ),
      );
    }
    if (tables.stuck && tables.stuck.parentNode !== cyclesBox) cyclesBox.append(tables.stuck);
    replaceKeepingFocus(
      cyclesSummary,
      JSON.stringify([insights && insights.byStatus, ownCycles && ownCycles.map((c) => c.status)]),
      ...parts,
    );
  }

  function whyText(r) {
    if (typeof r.why === 'string') return r.why;
    if (Array.isArray(r.why)) return r.why.join('; ');
    return r.why ? JSON.stringify(r.why) : '—';
  }

  function renderExceptions(ageing, escalated, partnerOpen) {
    const parts = [];
    if (ageing) {
      parts.push(
        h('h3', null, 'By age since found'),
        cards(
          (ageing.buckets || []).map((b) => ({
            label: `${b.bucket}`,
            value: fmt.int(b.count),
            href: `/console/exceptions?bucket=${enc(b.bucket)}`,
            hint: b.overdue ? `${fmt.int(b.overdue)} overdue` : null,
          })),
          'Open exceptions by age',
        ),
        h('h3', null, 'By SLA tier'),
        cards(
          (ageing.tiers || []).map((t) => ({
            label: t.tier,
            value: fmt.int(t.count),
            href: `/console/exceptions?tier=${enc(t.tier)}`,
            hint: t.overdue ? `${fmt.int(t.overdue)} overdue` : null,
          })),
          'Open exceptions by SLA tier',
        ),
        h('h3', null, 'Escalations'),
        cards(
          [
            { label: 'Open exceptions', value: fmt.int(ageing.open), href: '/console/exceptions' },
            {
              label: 'Escalated by the SLA sweep',
              value: escalated ? `${escalated.complete ? '' : '≥ '}${fmt.int(escalated.count)}` : '—',
              href: '/console/exceptions?escalated=true',
              hint: escalated && !escalated.complete ? 'among the 500 oldest open' : null,
            },
          ],
          'Escalations',
        ),
      );
    }
    if (partnerOpen) {
      parts.push(
        cards(
          [
            {
              label: 'Open exceptions',
              value: `${partnerOpen.complete ? '' : '≥ '}${fmt.int(partnerOpen.count)}`,
              href: '/console/exceptions',
            },
          ],
          'Your open exceptions',
        ),
      );
    }
    replaceKeepingFocus(exceptionsBox, JSON.stringify([ageing, escalated, partnerOpen]), ...parts);
  }

  function renderAlerts(res) {
    alertRows = (res && res.alerts) || [];
    alertsMore = Boolean(res && res.nextCursor);
    const summary = h(
      'p',
      null,
      link(
        '/console/alerts?state=active',
        `${alertsMore ? 'More than ' : ''}${fmt.int(alertRows.length)} active`,
      ),
      alertRows.length ? ' — the newest first.' : '',
    );
    if (!tables.alerts) {
      tables.alerts = pagedTable({
        caption: 'Active alerts, newest first',
        csvName: 'active-alerts.csv',
        columns: [
          {
            key: 'id',
            label: 'Alert',
            render: (r) => link(`/console/alerts/${enc(r.id)}`, r.title),
            csv: (r) => r.title,
          },
          { key: 'severity', label: 'Severity', render: (r) => badge(r.severity, r.severity) },
          { key: 'kind', label: 'Kind' },
          {
            key: 'partnerId',
            label: 'Partner',
            render: (r) => (r.partnerId ? link(partnerHref(r.partnerId), nameOf(r.partnerId)) : '—'),
          },
          { key: 'lastSeen', label: 'Last seen', render: (r) => fmt.time(r.lastSeen) },
          {
            key: 'acknowledgement',
            label: 'Acknowledged',
            render: (r) => (r.acknowledged || r.acknowledgement ? 'yes' : 'no'),
          },
        ],
        fetchPage: async () => ({ rows: alertRows, nextCursor: null }),
        empty: 'No active alerts.',
      });
      alertsBox.replaceChildren(h('div'), tables.alerts);
    } else void tables.alerts.reload();
    replaceKeepingFocus(alertsBox.firstChild, `${alertRows.length}|${alertsMore}`, summary);
  }

  let timer = null;
  let disposed = false;
  let first = true;

  async function refresh() {
    const now = new Date();
    const utcToday = now.toISOString().slice(0, 10);
    const monthStart = `${utcToday.slice(0, 8)}01`;
    const scope = operator ? {} : { partnerId: me.partnerId };
    const hourTo = new Date(Math.ceil(now.getTime() / 3600000) * 3600000);
    const hourFrom = new Date(hourTo.getTime() - 24 * 3600000);
    const tasks = {
      today: api('/v1/insights/revenue', {
        ...scope,
        from: addDays(utcToday, -1),
        to: addDays(utcToday, 1),
        groupBy: 'day',
      }),
      period: api('/v1/insights/revenue', { ...scope, from: monthStart, to: utcToday, groupBy: 'partner' }),
      daily: api('/v1/insights/revenue', { ...scope, from: monthStart, to: utcToday, groupBy: 'day' }),
      hourly: api('/v1/insights/revenue/hourly', {
        ...scope,
        from: hourFrom.toISOString(),
        to: hourTo.toISOString(),
      }),
      alerts: api('/v1/alerts', { state: 'active', limit: 100 }),
    };
    if (operator) {
      tasks.ingest = api('/v1/insights/ingest-rate', { minutes: 60 });
      tasks.cycles = api('/v1/insights/cycles');
      tasks.ageing = api('/v1/exception-queue/ageing');
      // Escalated ones are old: the oldest 500 open exceptions hold them (every 5 s, one page).
      tasks.escalated = allRows(api, '/v1/exception-queue', { limit: 500 }, 'items', 1).then(
        ({ rows, complete }) => ({
          count: rows.filter((r) => r.escalatedTier).length,
          complete,
        }),
      );
    } else {
      tasks.ownCycles = allRows(api, '/v1/settlements', { limit: 500 }, 'settlements', 4).then((r) => r.rows);
      tasks.partnerOpen = allRows(
        api,
        '/v1/exceptions',
        { status: 'open', limit: 500 },
        'exceptions',
        4,
      ).then(({ rows, complete }) => ({ count: rows.length, complete }));
    }
    const names = Object.keys(tasks);
    const settled = await Promise.allSettled(names.map((n) => tasks[n]));
    if (disposed) return;
    const got = {};
    const failed = {};
    names.forEach((n, i) => {
      if (settled[i].status === 'fulfilled') got[n] = settled[i].value;
      else failed[n] = settled[i].reason;
    });

    if (got.period && got.today) renderRevenue(got.today, got.period, utcToday, monthStart);
    else if (first) revenueBox.replaceChildren(problem(failed.period || failed.today, 'Revenue'));
    if (operator) {
      if (got.ingest) renderIngest(got.ingest);
      else if (first) ingestBox.replaceChildren(problem(failed.ingest, 'Ingest rate'));
    }
    if (got.hourly) renderHourly(got.hourly);
    else if (first) hourlyBox.replaceChildren(problem(failed.hourly, 'Hourly figures'));
    if (got.daily) renderDaily(got.daily);
    else if (first) dailyBox.replaceChildren(problem(failed.daily, 'Daily figures'));
    if (got.cycles || got.ownCycles) renderCycles(got.cycles, got.ownCycles);
    else if (first) cyclesSummary.replaceChildren(problem(failed.cycles || failed.ownCycles, 'Cycles'));
    if (got.ageing || got.partnerOpen) renderExceptions(got.ageing, got.escalated, got.partnerOpen);
    else if (first) exceptionsBox.replaceChildren(problem(failed.ageing || failed.partnerOpen, 'Exceptions'));
    if (got.alerts) renderAlerts(got.alerts);
    else if (first) alertsBox.replaceChildren(problem(failed.alerts, 'Alerts'));

    const failures = Object.keys(failed).length;
    // The time is shown, not announced; only a change in what failed is announced.
    updated.textContent = `Updated ${fmt.time(new Date().toISOString())}; refreshes every 5 seconds.`;
    const failure = failures
      ? `${failures} part${failures === 1 ? '' : 's'} of the overview could not be loaded.`
      : '';
    if (status.textContent !== failure) status.set(failure);
    first = false;
  }

  async function loop() {
    try {
      await refresh();
    } catch (err) {
      if (!disposed && status.textContent !== `Refresh failed: ${err.message}`)
        status.set(`Refresh failed: ${err.message}`);
    }
    if (!disposed) timer = setTimeout(() => void loop(), REFRESH_MS);
  }
  await loop();

  return {
    title: 'Overview',
    dispose() {
      disposed = true;
      if (timer) clearTimeout(timer);
      for (const c of Object.values(charts)) c.dispose();
    },
  };
}
