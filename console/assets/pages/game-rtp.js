// One canonical game: its maths-sheet versions, the partner games mapped to it, its RTP over the
// window across partners and per partner, and its observed RTP per business day against the
// theoretical value with the confidence band (the chart regulators' live RTP monitoring asks for).
import { facts, section, problem, epoch } from '../lib/ui.js';
import { rtpOf, gamesOf, rtpTestColumns } from './games.js';

const enc = encodeURIComponent;

export async function render(ctx) {
  const { api, h, fmt, link, view, params, pagedTable, timeSeries } = ctx;
  const id = params.id;
  const charts = [];
  const game = await api(`/v1/canonical-games/${enc(id)}`);
  const latest = game.latest || (game.versions && game.versions[0]) || {};

  view.append(
    h('p', { class: 'breadcrumb' }, link('/console/games', 'Games and RTP'), ` › ${game.name || id}`),
    h('h1', null, `${game.name || id}`),
    facts([
      ['Id', id],
      ['Studio', game.studio || '—'],
      ['Theoretical RTP', fmt.pct(latest.theoreticalRtp, 2)],
      ['Std. dev. per unit stake', latest.stdDev ?? '—'],
      ['Jackpot contribution rate', fmt.pct(latest.jackpotContributionRate, 2)],
      ['Version', latest.version !== undefined ? String(latest.version) : '—'],
      ['Source', latest.source || '—'],
    ]),
  );

  // Daily RTP with the band.
  const dailyBox = h('div');
  try {
    const daily = await api(`/v1/insights/rtp/${enc(id)}/daily`, { days: 30 });
    const days = daily.days || [];
    const currencies = [...new Set(days.map((d) => d.currency))].sort();
    for (const currency of currencies.length ? currencies : [null]) {
      const mine = days.filter((d) => currency === null || d.currency === currency);
      const pct = (v) => (v === null ? null : Math.round(v * 1e6) / 1e4);
      const tests = mine.map((d) => rtpOf(d));
      const chart = timeSeries({
        title: `Observed RTP per business day${currency ? ` (${currency})` : ''}`,
        description: `Observed RTP in percent each day against the theoretical ${fmt.pct(latest.theoreticalRtp, 2)}, with the day's confidence band.`,
        x: mine.map((d) => epoch(d.date)),
        series: [
          { label: 'Observed RTP', unit: '%', values: tests.map((t) => pct(t.observed)) },
          { label: 'Expected RTP (jackpot excluded)', unit: '%', values: tests.map((t) => pct(t.expected)) },
        ],
        band: {
          label: 'Confidence band',
          low: tests.map((t) => pct(t.low)),
          high: tests.map((t) => pct(t.high)),
        },
        // A day of little volume has a band of thousands of percent: keep the axis readable
        // (the data table has every value).
        yRange: [0, 200],
      });
      charts.push(chart);
      dailyBox.append(chart);
    }
    if (days.length === 0) dailyBox.append(h('p', null, 'No activity in the last 30 days.'));
    if (daily.query)
      dailyBox.append(
        h(
          'details',
          null,
          h('summary', null, 'Query behind the figures'),
          h('pre', { tabindex: '0' }, h('code', null, daily.query)),
        ),
      );
  } catch (err) {
    dailyBox.append(problem(err, 'Daily RTP'));
  }

  const windowBox = h('div');
  try {
    const rtp = await api('/v1/insights/rtp', { canonicalId: id });
    const rows = gamesOf(rtp).flatMap((g) => [g, ...(g.perPartner || [])]);
    windowBox.append(
      pagedTable({
        caption: `RTP over the window${rtp.from && rtp.to ? ` (${rtp.from} to ${rtp.to})` : ''}: across partners and per partner`,
        csvName: `rtp-${id}.csv`,
        columns: [
          {
            key: 'partnerId',
            label: 'Partner',
            render: (g) =>
              g.partnerId ? link(`/console/partners/${enc(g.partnerId)}`, g.partnerId) : 'all partners',
            csv: (g) => g.partnerId || '',
          },
          { key: 'currency', label: 'Currency' },
          { key: 'spins', label: 'Spins', numeric: true, render: (g) => fmt.int(g.spins) },
          { key: 'bets', label: 'Bets', numeric: true, render: (g) => fmt.money(g.bets, g.currency) },
          { key: 'wins', label: 'Wins', numeric: true, render: (g) => fmt.money(g.wins, g.currency) },
          ...rtpTestColumns(fmt),
          {
            key: 'explanation',
            label: 'Reading',
            render: (g) => rtpOf(g).explanation || '—',
            csv: (g) => rtpOf(g).explanation,
          },
        ],
        fetchPage: async () => ({ rows, nextCursor: null }),
        empty: 'No activity in the window.',
      }),
    );
  } catch (err) {
    windowBox.append(problem(err, 'RTP over the window'));
  }

  const versions = game.versions || [];
  const mapped = game.mapped || game.mappings || [];
  view.append(
    section('Observed RTP by day', 'daily', dailyBox),
    section('Over the rolling window', 'window', windowBox),
    section(
      'Maths-sheet versions',
      'versions',
      pagedTable({
        caption: 'Versions, newest first (append-only)',
        csvName: `versions-${id}.csv`,
        columns: [
          { key: 'version', label: 'Version', numeric: true },
          {
            key: 'theoreticalRtp',
            label: 'Theoretical RTP',
            numeric: true,
            render: (v) => fmt.pct(v.theoreticalRtp, 2),
            csv: (v) => v.theoreticalRtp,
          },
          { key: 'stdDev', label: 'Std. dev.', numeric: true },
          { key: 'jackpotContributionRate', label: 'Jackpot contribution', numeric: true },
          { key: 'source', label: 'Source', render: (v) => v.source || '—' },
          { key: 'recordedBy', label: 'Recorded by' },
          {
            key: 'recordedAt',
            label: 'Recorded',
            render: (v) => fmt.time(v.recordedAt),
            csv: (v) => v.recordedAt,
          },
        ],
        fetchPage: async () => ({ rows: versions, nextCursor: null }),
      }),
    ),
    section(
      'Partner games mapped to it',
      'mappings',
      Array.isArray(mapped)
        ? pagedTable({
            caption: 'Partner game ids mapped to this game',
            csvName: `mappings-${id}.csv`,
            columns: [
              {
                key: 'partnerId',
                label: 'Partner',
                render: (m) => link(`/console/partners/${enc(m.partnerId)}`, m.partnerId),
              },
              { key: 'gameId', label: 'Partner game id' },
              { key: 'mappedBy', label: 'Mapped by' },
              {
                key: 'mappedAt',
                label: 'Mapped',
                render: (m) => fmt.time(m.mappedAt),
                csv: (m) => m.mappedAt,
              },
            ],
            fetchPage: async () => ({ rows: mapped, nextCursor: null }),
          })
        : h('p', null, `${fmt.int(mapped)} partner games mapped.`),
    ),
  );
  return { title: `${game.name || id} · RTP`, dispose: () => charts.forEach((c) => c.dispose()) };
}
