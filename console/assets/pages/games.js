// Canonical games and live RTP monitoring (operators): each game's observed RTP over the rolling
// window against its theoretical RTP, with the confidence band from its volatility and stakes, the
// z-score and whether the volume makes the test meaningful; a chart of observed against theoretical
// with the band; the catalogue (maths-sheet figures, versions, mappings). Each game links to its
// daily RTP chart.
import { section, problem } from '../lib/ui.js';

const enc = encodeURIComponent;

/** The rtpTest result of a figure, flat or under `result`. */
export function rtpOf(row) {
  const r = (row && (row.result || row.test || row.rtp)) || row || {};
  return {
    observed: num(r.observedRtp),
    expected: num(r.expectedRtp),
    low: num(r.band && r.band.low),
    high: num(r.band && r.band.high),
    z: num(r.z),
    se: num(r.standardError),
    meaningful: Boolean(r.meaningful),
    alert: Boolean(r.alert),
    explanation: r.explanation || '',
    effectiveSpins: r.effectiveSpins,
    minimumEffectiveSpins: r.minimumEffectiveSpins,
  };
}

/** The RTP test's columns (observed, theoretical when asked, band, z): one definition for both pages. */
export function rtpTestColumns(fmt, { withExpected = false } = {}) {
  const pct = (key) => ({
    numeric: true,
    render: (g) => fmt.pct(rtpOf(g)[key], 2),
    csv: (g) => rtpOf(g)[key],
  });
  return [
    { key: 'observed', label: 'Observed RTP', ...pct('observed') },
    ...(withExpected ? [{ key: 'expected', label: 'Theoretical RTP', ...pct('expected') }] : []),
    {
      key: 'band',
      label: 'Band',
      numeric: true,
      render: (g) =>
        rtpOf(g).low === null ? '—' : `${fmt.pct(rtpOf(g).low, 2)} – ${fmt.pct(rtpOf(g).high, 2)}`,
      csv: (g) => `${rtpOf(g).low} - ${rtpOf(g).high}`,
    },
    { key: 'z', label: 'z', numeric: true, render: (g) => fmt.num(rtpOf(g).z, 2), csv: (g) => rtpOf(g).z },
  ];
}

function num(v) {
  if (v === undefined || v === null || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** The per-game rows of GET /v1/insights/rtp (across partners), whatever the list is called. */
export function gamesOf(res) {
  return (res && (res.games || res.figures || res.rows || res.items)) || [];
}

export async function render(ctx) {
  const { api, h, fmt, link, view, query, pagedTable, barChart, navigate } = ctx;
  const asked = Number(query.get('windowDays'));
  const windowDays = Number.isInteger(asked) && asked >= 1 && asked <= 365 ? asked : undefined;
  const charts = [];

  view.append(
    h('h1', null, 'Games and RTP'),
    h(
      'p',
      { class: 'muted' },
      'Live return-to-player monitoring per canonical game across every partner that offers it: observed RTP = Σwin / Σbet over the rolling window (jackpot contributions excluded), ',
      'against the theoretical RTP of the maths sheet, with a band of ± the z threshold standard errors (σ·√Σb² / Σb). ',
      'A game is tested only once its volume makes the test meaningful; an alert is raised when |z| exceeds the threshold.',
    ),
  );

  const windowInput = h('input', {
    id: 'rtp-window',
    name: 'windowDays',
    type: 'number',
    min: '1',
    max: '365',
    value: windowDays ? String(windowDays) : '',
    size: '5',
  });
  const form = h(
    'form',
    {
      class: 'filters',
      'aria-label': 'RTP window',
      onsubmit: (event) => {
        event.preventDefault();
        const v = windowInput.value.trim();
        navigate(`/console/games${v ? `?windowDays=${enc(v)}` : ''}`);
      },
    },
    h(
      'div',
      null,
      h('label', { for: 'rtp-window' }, 'Window (days; empty: the configured default)'),
      windowInput,
    ),
    h('div', null, h('button', { type: 'submit' }, 'Show')),
  );

  const rtpBox = h('div');
  let rtp = null;
  try {
    rtp = await api('/v1/insights/rtp', { windowDays });
  } catch (err) {
    rtpBox.append(problem(err, 'RTP'));
  }
  if (rtp) {
    if (rtp.settings)
      rtpBox.append(
        h(
          'p',
          { class: 'hint' },
          `Alert threshold |z| > ${rtp.settings.zThreshold}; a verdict needs at least ${fmt.int(rtp.settings.minSpins)} effective spins (and 100·σ² for volatile games). Window: ${rtp.windowDays} days.`,
        ),
      );
    const games = gamesOf(rtp).filter((g) => !g.partnerId);
    const label = (g) => `${g.name || g.canonicalId}${g.currency ? ` (${g.currency})` : ''}`;
    const chart = barChart({
      title: 'Observed RTP against expected, per game',
      description: `Over ${rtp.from && rtp.to ? `${rtp.from} to ${rtp.to}` : 'the rolling window'}, in percent, across partners; each game's confidence band and verdict are in the table above.`,
      labels: games.map(label),
      series: [
        { label: 'Observed RTP %', values: games.map((g) => pctNum(rtpOf(g).observed)) },
        {
          label: 'Expected RTP % (theoretical − jackpot)',
          values: games.map((g) => pctNum(rtpOf(g).expected)),
        },
      ],
    });
    charts.push(chart);
    // Each game across partners, followed by the partners whose own volume allows a verdict.
    const rows = gamesOf(rtp).flatMap((g) => [g, ...(g.perPartner || [])]);
    rtpBox.append(
      rtp.from && rtp.to ? h('p', null, `Business days ${rtp.from} to ${rtp.to}.`) : null,
      pagedTable({
        caption: 'RTP per game (across partners) and per partner where volume allows',
        csvName: 'rtp.csv',
        columns: [
          {
            key: 'canonicalId',
            label: 'Game',
            render: (g) => link(`/console/games/${enc(g.canonicalId)}`, g.name || g.canonicalId),
            csv: (g) => g.canonicalId,
          },
          {
            key: 'partnerId',
            label: 'Partner',
            render: (g) =>
              g.partnerId ? link(`/console/partners/${enc(g.partnerId)}`, g.partnerId) : 'all partners',
            csv: (g) => g.partnerId || '',
          },
          { key: 'currency', label: 'Currency' },
          { key: 'spins', label: 'Spins', numeric: true, render: (g) => fmt.int(g.spins) },
          ...rtpTestColumns(fmt, { withExpected: true }),
          {
            key: 'meaningful',
            label: 'Test',
            render: (g) => {
              const r = rtpOf(g);
              if (!r.meaningful)
                return `not enough volume yet (${fmt.int(Math.round(r.effectiveSpins || 0))} of ${fmt.int(Math.round(r.minimumEffectiveSpins || 0))} effective spins)`;
              return r.alert ? 'outside the band: alert' : 'within the band';
            },
          },
        ],
        fetchPage: async () => ({ rows, nextCursor: null }),
        empty: 'No mapped game has activity in the window.',
      }),
      chart,
    );
  }

  const catalogue = pagedTable({
    caption: 'Canonical games (maths-sheet figures, latest version)',
    csvName: 'canonical-games.csv',
    columns: [
      { key: 'id', label: 'Id', render: (g) => link(`/console/games/${enc(g.id)}`, g.id), csv: (g) => g.id },
      { key: 'name', label: 'Name' },
      { key: 'studio', label: 'Studio', render: (g) => g.studio || '—' },
      {
        key: 'theoreticalRtp',
        label: 'Theoretical RTP',
        numeric: true,
        render: (g) => fmt.pct(latest(g).theoreticalRtp, 2),
        csv: (g) => latest(g).theoreticalRtp,
      },
      {
        key: 'stdDev',
        label: 'Std. dev. per unit stake',
        numeric: true,
        render: (g) => latest(g).stdDev,
        csv: (g) => latest(g).stdDev,
      },
      {
        key: 'jackpot',
        label: 'Jackpot contribution',
        numeric: true,
        render: (g) => fmt.pct(latest(g).jackpotContributionRate, 2),
        csv: (g) => latest(g).jackpotContributionRate,
      },
      {
        key: 'version',
        label: 'Version',
        numeric: true,
        render: (g) => String(latest(g).version ?? '—'),
        csv: (g) => latest(g).version,
      },
      { key: 'mappings', label: 'Partner games mapped', numeric: true, render: (g) => fmt.int(g.mappings) },
    ],
    fetchPage: async (cursor) => {
      const res = await api('/v1/canonical-games', { cursor, limit: 50 });
      return { rows: res.games || res.canonicalGames || res.items || [], nextCursor: res.nextCursor };
    },
    empty: 'No canonical games yet: an admin adds them with PUT /v1/canonical-games/{id}.',
  });

  view.append(form, section('RTP', 'rtp', rtpBox), section('Catalogue', 'catalogue', catalogue));
  await catalogue.loaded;
  return { title: 'Games and RTP', dispose: () => charts.forEach((c) => c.dispose()) };
}

function latest(g) {
  return g.latest || g;
}

function pctNum(v) {
  return v === null ? null : Math.round(v * 1e6) / 1e4;
}
