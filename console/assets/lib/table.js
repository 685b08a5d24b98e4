// Every table on the console: cursor paging (the API's opaque nextCursor), a live region saying
// which page is shown, and CSV export of every page, formula-safe.
import { h, replaceKeepingFocus } from './dom.js';

const MAX_EXPORT_PAGES = 1000;

/** A cell that a spreadsheet would read as a formula gets a leading apostrophe (numbers stay numbers). */
export function csvSafe(value) {
  if (value === undefined || value === null) return '';
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (/^[-+]?\d+(\.\d+)?$/.test(text)) return text;
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

function csvCell(value) {
  const text = csvSafe(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Lines of CSV (CRLF, RFC 4180) from columns and rows, every cell formula-safe. */
export function toCsv(columns, rows) {
  const lines = [columns.map((c) => csvCell(c.label)).join(',')];
  for (const row of rows) {
    lines.push(columns.map((c) => csvCell(cellText(c, row, true))).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}

function cellText(column, row, forCsv) {
  if (forCsv && column.csv) return column.csv(row);
  const raw = row[column.key];
  if (forCsv) {
    if (column.render) {
      const rendered = column.render(row);
      if (typeof rendered === 'string' || typeof rendered === 'number') return rendered;
      if (rendered instanceof Node) return rendered.textContent;
    }
    return raw;
  }
  return raw;
}

function renderCell(column, row) {
  if (column.render) {
    const out = column.render(row);
    return out === undefined || out === null ? '' : out;
  }
  const raw = row[column.key];
  if (raw === undefined || raw === null) return '—';
  return typeof raw === 'object' ? JSON.stringify(raw) : String(raw);
}

/** Saves text as a file through a Blob URL (nothing leaves the browser). */
export function download(filename, text, type = 'text/csv;charset=utf-8') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: filename, class: 'visually-hidden', tabindex: '-1' }, filename);
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/**
 * `pagedTable({ caption, columns: [{ key, label, numeric?, render?(row), csv?(row) }],
 *   fetchPage: async (cursor) => ({ rows, nextCursor }), csvName, empty? })` → element.
 * The first page is fetched at once (cursor undefined). The element has `reload()` (the current page
 * again) and `first()` (back to page 1).
 */
export function pagedTable({ caption, columns, fetchPage, csvName = 'export.csv', empty = 'No rows.' }) {
  const root = h('div', { class: 'paged-table' });
  const live = h('p', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
  const tbody = h('tbody');
  const table = h(
    'table',
    null,
    h('caption', null, caption),
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        columns.map((c) => h('th', { scope: 'col', class: c.numeric ? 'num' : null }, c.label)),
      ),
    ),
    tbody,
  );
  const scroller = h('div', { class: 'table-scroll' }, table);
  const first = h('button', { type: 'button', class: 'secondary' }, 'First page');
  const prev = h('button', { type: 'button', class: 'secondary' }, 'Previous page');
  const next = h('button', { type: 'button', class: 'secondary' }, 'Next page');
  const exportButton = h('button', { type: 'button', class: 'secondary' }, 'Export CSV');
  const pageLabel = h('span', { class: 'page-label' });
  const controls = h('div', { class: 'table-controls' }, first, prev, next, pageLabel, exportButton);
  root.append(scroller, controls, live);

  // cursors[i] is the cursor that fetches page i + 1 (undefined for the first).
  let cursors = [undefined];
  let index = 0;
  let nextCursor = null;
  let loading = null;

  function setButtons() {
    first.disabled = index === 0;
    prev.disabled = index === 0;
    next.disabled = !nextCursor;
  }

  async function load() {
    const token = {};
    loading = token;
    table.setAttribute('aria-busy', 'true');
    try {
      const page = await fetchPage(cursors[index]);
      if (loading !== token) return;
      const rows = (page && page.rows) || [];
      nextCursor = (page && page.nextCursor) || null;
      // Unchanged rows are left alone (a live page reloads often); changed ones keep the focus.
      replaceKeepingFocus(
        tbody,
        `${index}:${JSON.stringify(rows)}`,
        ...(rows.length === 0
          ? [h('tr', null, h('td', { colspan: String(columns.length), class: 'empty' }, empty))]
          : rows.map((row) =>
              h(
                'tr',
                null,
                columns.map((c) => h('td', { class: c.numeric ? 'num' : null }, renderCell(c, row))),
              ),
            )),
      );
      const text = `Page ${index + 1}, ${rows.length} ${rows.length === 1 ? 'row' : 'rows'}`;
      const label = text + (nextCursor ? ' (more follow)' : '');
      if (pageLabel.textContent !== label) pageLabel.textContent = label;
      if (live.textContent !== text) live.textContent = text;
    } catch (err) {
      if (loading !== token) return;
      nextCursor = null;
      replaceKeepingFocus(
        tbody,
        null,
        h(
          'tr',
          null,
          h('td', { colspan: String(columns.length), class: 'error' }, `Could not load: ${err.message}`),
        ),
      );
      delete tbody.dataset.renderKey;
      live.textContent = `Could not load page ${index + 1}`;
    } finally {
      if (loading === token) {
        table.removeAttribute('aria-busy');
        setButtons();
      }
    }
  }

  first.addEventListener('click', () => {
    index = 0;
    void load();
  });
  prev.addEventListener('click', () => {
    if (index > 0) index -= 1;
    void load();
  });
  next.addEventListener('click', () => {
    if (!nextCursor) return;
    cursors = cursors.slice(0, index + 1);
    cursors.push(nextCursor);
    index += 1;
    void load();
  });
  exportButton.addEventListener('click', async () => {
    exportButton.disabled = true;
    live.textContent = 'Exporting…';
    try {
      const all = [];
      let cursor;
      for (let n = 0; n < MAX_EXPORT_PAGES; n += 1) {
        const page = await fetchPage(cursor);
        all.push(...((page && page.rows) || []));
        cursor = page && page.nextCursor;
        if (!cursor) break;
      }
      download(csvName, toCsv(columns, all));
      live.textContent = `Exported ${all.length} ${all.length === 1 ? 'row' : 'rows'} to ${csvName}`;
    } catch (err) {
      live.textContent = `Export failed: ${err.message}`;
    } finally {
      exportButton.disabled = false;
    }
  });

  root.reload = () => load();
  root.first = () => {
    cursors = [undefined];
    index = 0;
    return load();
  };
  root.loaded = load();
  setButtons();
  return root;
}
