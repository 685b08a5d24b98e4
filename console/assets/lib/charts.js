// Charts: uPlot for time series, Chart.js for bars (both served from node_modules under
// /console/vendor, loaded by index.html as globals). Every chart is a <figure> with a caption, the
// drawing as an image with a text label, and its data as a table in <details>.
import { h } from './dom.js';
import { fmt } from './fmt.js';

// Colour-blind-safe (Okabe–Ito), each ≥ 3:1 against the white background.
export const PALETTE = ['#0b5cad', '#b35900', '#007a5e', '#a4237a', '#5b4ab0', '#8a6d00'];
const BAND_FILL = 'rgba(11, 92, 173, 0.15)';

function chartWidth() {
  const main = document.getElementById('view');
  const w = main && main.clientWidth ? main.clientWidth - 48 : 900;
  return Math.max(320, Math.min(1100, w));
}

function legend(labels) {
  return h(
    'ul',
    { class: 'chart-legend', 'aria-hidden': 'true' },
    labels.map((label, i) => {
      const swatch = h('span', { class: 'swatch' });
      // CSSOM (not a style attribute): allowed by the CSP.
      swatch.style.backgroundColor = label.color || PALETTE[i % PALETTE.length];
      return h('li', null, swatch, label.text);
    }),
  );
}

function dataTable(title, headers, rows) {
  return h(
    'details',
    { class: 'chart-data' },
    h('summary', null, 'Data table'),
    h(
      'div',
      { class: 'table-scroll' },
      h(
        'table',
        null,
        h('caption', null, `${title} (data)`),
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            headers.map((t, i) => h('th', { scope: 'col', class: i === 0 ? null : 'num' }, t)),
          ),
        ),
        h(
          'tbody',
          null,
          rows.map((cells) =>
            h(
              'tr',
              null,
              cells.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, c) : h('td', { class: 'num' }, c))),
            ),
          ),
        ),
      ),
    ),
  );
}

function showNumber(v, unit) {
  if (v === undefined || v === null || !Number.isFinite(Number(v))) return '—';
  const n = Number(v);
  const text = Number.isInteger(n) ? fmt.int(n) : fmt.num(n, Math.abs(n) < 10 ? 4 : 2);
  return unit ? `${text} ${unit}` : text;
}

function xLabel(seconds, daily) {
  const iso = new Date(seconds * 1000).toISOString();
  return daily ? iso.slice(0, 10) : `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/**
 * `timeSeries({ title, description, x: number[] (unix seconds), series: [{ label, values, unit?, text? }],
 *   band?: { low: number[], high: number[], label? }, yRange?: [min, max] })` → `<figure>`; `figure.update(sameShape)`
 * redraws when the data changed, `figure.dispose()` frees the chart. `text` (optional, per point) is
 * what the data table shows instead of the plotted number (e.g. exact money strings).
 */
export function timeSeries(opts) {
  const { title, description } = opts;
  const canvasBox = h('div', {
    class: 'chart',
    role: 'img',
    'aria-label': `${title}. ${description || ''}`.trim(),
  });
  const tableSlot = h('div');
  const legendSlot = h('div');
  const figure = h(
    'figure',
    { class: 'chart-figure' },
    h(
      'figcaption',
      null,
      h('strong', null, title),
      description ? h('span', null, ` — ${description}`) : null,
    ),
    canvasBox,
    legendSlot,
    tableSlot,
  );
  let plot = null;

  function draw(o) {
    const x = o.x || [];
    const series = o.series || [];
    const band = o.band || null;
    const daily = x.length > 1 && x.every((t) => t % 86400 === 0);
    const labels = series.map((s, i) => ({
      text: s.unit ? `${s.label} (${s.unit})` : s.label,
      color: PALETTE[i % PALETTE.length],
    }));
    if (band) labels.push({ text: band.label || 'Confidence band', color: BAND_FILL });
    legendSlot.replaceChildren(legend(labels));

    const headers = ['Time', ...series.map((s) => (s.unit ? `${s.label} (${s.unit})` : s.label))];
    if (band) headers.push(`${band.label || 'Band'} low`, `${band.label || 'Band'} high`);
    const rows = x.map((t, i) => {
      const cells = [
        xLabel(t, daily),
        ...series.map((s) =>
          s.text && s.text[i] !== undefined ? s.text[i] : showNumber(s.values[i], s.unit),
        ),
      ];
      if (band) cells.push(showNumber(band.low[i]), showNumber(band.high[i]));
      return cells;
    });
    const open = tableSlot.firstChild && tableSlot.firstChild.open;
    const details = dataTable(title, headers, rows);
    if (open) details.open = true;
    tableSlot.replaceChildren(details);

    if (plot) {
      plot.destroy();
      plot = null;
    }
    canvasBox.replaceChildren();
    if (x.length === 0) {
      canvasBox.append(h('p', { class: 'chart-empty' }, 'No data for this period.'));
      return;
    }
    const uPlot = window.uPlot;
    if (typeof uPlot !== 'function') {
      canvasBox.append(h('p', { class: 'chart-empty' }, 'Chart library unavailable: see the data table.'));
      return;
    }
    const data = [x, ...series.map((s) => s.values)];
    const uSeries = [
      {},
      ...series.map((s, i) => ({ label: s.label, stroke: PALETTE[i % PALETTE.length], width: 2 })),
    ];
    const bands = [];
    if (band) {
      data.push(band.high, band.low);
      const hi = uSeries.length;
      uSeries.push({ label: 'high', stroke: 'rgba(11,92,173,0.45)', width: 1, dash: [4, 4] });
      uSeries.push({ label: 'low', stroke: 'rgba(11,92,173,0.45)', width: 1, dash: [4, 4] });
      bands.push({ series: [hi, hi + 1], fill: BAND_FILL });
    }
    plot = new uPlot(
      {
        width: canvasBox.clientWidth || chartWidth(),
        height: 260,
        legend: { show: false },
        cursor: { show: false },
        scales: {
          x: { time: true },
          ...(o.yRange
            ? { y: { range: (u, min, max) => [Math.max(min, o.yRange[0]), Math.min(max, o.yRange[1])] } }
            : {}),
        },
        axes: [{ stroke: '#333' }, { stroke: '#333', size: 70 }],
        series: uSeries,
        bands,
      },
      data,
      canvasBox,
    );
  }

  let lastKey = JSON.stringify([opts.x, opts.series, opts.band]);
  draw(opts);
  // uPlot draws at a fixed width: follow the box's (known once it is on the page, and on resize).
  const resized =
    typeof ResizeObserver === 'function'
      ? new ResizeObserver(() => {
          const width = canvasBox.clientWidth;
          if (plot && width > 0 && Math.abs(width - plot.width) > 2)
            plot.setSize({ width, height: plot.height });
        })
      : null;
  if (resized) resized.observe(canvasBox);
  figure.update = (next) => {
    const merged = { ...opts, ...next };
    const key = JSON.stringify([merged.x, merged.series, merged.band]);
    if (key === lastKey) return;
    lastKey = key;
    draw(merged);
  };
  figure.dispose = () => {
    if (resized) resized.disconnect();
    if (plot) plot.destroy();
    plot = null;
  };
  return figure;
}

/**
 * `barChart({ title, description, labels: string[], series: [{ label, values, text? }] })` → `<figure>`;
 * `figure.update(sameShape)` redraws when the data changed, `figure.dispose()` frees the chart.
 */
export function barChart(opts) {
  const { title, description } = opts;
  const box = h('div', { class: 'chart chart-bar' });
  const tableSlot = h('div');
  const figure = h(
    'figure',
    { class: 'chart-figure' },
    h(
      'figcaption',
      null,
      h('strong', null, title),
      description ? h('span', null, ` — ${description}`) : null,
    ),
    box,
    tableSlot,
  );
  let chart = null;

  function draw(o) {
    const labels = o.labels || [];
    const series = o.series || [];
    const rows = labels.map((label, i) => [
      label,
      ...series.map((s) => (s.text && s.text[i] !== undefined ? s.text[i] : showNumber(s.values[i]))),
    ]);
    const open = tableSlot.firstChild && tableSlot.firstChild.open;
    const details = dataTable(title, ['Label', ...series.map((s) => s.label)], rows);
    if (open) details.open = true;
    tableSlot.replaceChildren(details);

    const Chart = window.Chart;
    if (chart && labels.length > 0 && typeof Chart === 'function') {
      chart.data.labels = labels;
      chart.data.datasets = series.map((s, i) => ({
        label: s.label,
        data: s.values,
        backgroundColor: PALETTE[i % PALETTE.length],
      }));
      chart.update('none');
      return;
    }
    if (chart) {
      chart.destroy();
      chart = null;
    }
    box.replaceChildren();
    if (labels.length === 0) {
      box.append(h('p', { class: 'chart-empty' }, 'No data for this period.'));
      return;
    }
    if (typeof Chart !== 'function') {
      box.append(h('p', { class: 'chart-empty' }, 'Chart library unavailable: see the data table.'));
      return;
    }
    const canvas = h(
      'canvas',
      { role: 'img', 'aria-label': `${title}. ${description || ''}`.trim() },
      'See the data table below.',
    );
    box.append(canvas);
    chart = new Chart(canvas, {
      type: 'bar',
      data: {
        labels,
        datasets: series.map((s, i) => ({
          label: s.label,
          data: s.values,
          backgroundColor: PALETTE[i % PALETTE.length],
        })),
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { display: series.length > 1 } },
      },
    });
  }

  let lastKey = JSON.stringify([opts.labels, opts.series]);
  draw(opts);
  figure.update = (next) => {
    const merged = { ...opts, ...next };
    const key = JSON.stringify([merged.labels, merged.series]);
    if (key === lastKey) return;
    lastKey = key;
    draw(merged);
  };
  figure.dispose = () => {
    if (chart) chart.destroy();
    chart = null;
  };
  return figure;
}
