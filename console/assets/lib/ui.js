// Small building blocks the console's pages share (beyond the ctx interface): figure cards, badges,
// fact lists, dates in a partner's timezone, and reading every page of a list.
import { h } from './dom.js';

/** `cards([{ label, value, href?, hint? }], ariaLabel?)` → `<ul class="cards">`; a value with href is a link. */
export function cards(items, ariaLabel) {
  return h(
    'ul',
    { class: 'cards', 'aria-label': ariaLabel || null },
    items.map((item) =>
      h(
        'li',
        { class: 'card' },
        h('span', { class: 'label' }, item.label),
        item.href
          ? h('a', { class: 'figure', href: item.href }, String(item.value))
          : h('span', { class: 'figure' }, String(item.value)),
        item.hint ? h('span', { class: 'hint' }, item.hint) : null,
      ),
    ),
  );
}

/** `badge(text, kind?)` → `<span class="badge kind">`. */
export function badge(text, kind) {
  return h('span', { class: ['badge', kind || String(text).toLowerCase()] }, text);
}

/** `facts([[term, value], …])` → `<dl class="facts">` (rows with an undefined value are left out). */
export function facts(pairs) {
  return h(
    'dl',
    { class: 'facts' },
    pairs
      .filter((p) => p && p[1] !== undefined)
      .flatMap(([term, value]) => [h('dt', null, term), h('dd', null, value ?? '—')]),
  );
}

/** The calendar date ('YYYY-MM-DD') in an IANA timezone: which business day "today" is for a partner. */
export function localDate(timeZone, date = new Date()) {
  const parts = {};
  try {
    for (const p of new Intl.DateTimeFormat('en-CA', {
      timeZone: timeZone || 'UTC',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    }).formatToParts(date))
      parts[p.type] = p.value;
  } catch {
    return date.toISOString().slice(0, 10);
  }
  return `${parts.year}-${parts.month}-${parts.day}`;
}

/** 'YYYY-MM-DD' plus `days` (may be negative). */
export function addDays(day, days) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** Every page of a cursor-paged list: `key` names the array in the answer; at most `maxPages` pages. */
export async function allRows(api, path, query, key, maxPages = 50) {
  const rows = [];
  let cursor;
  for (let n = 0; n < maxPages; n += 1) {
    const res = await api(path, { ...(query || {}), cursor });
    rows.push(...((res && res[key]) || []));
    cursor = res && res.nextCursor;
    if (!cursor) return { rows, complete: true };
  }
  return { rows, complete: false };
}

/** A section with a heading (h2 by default) and an id for in-page links: `section(title, id, ...children)`. */
export function section(title, id, ...children) {
  const headingId = `${id}-heading`;
  return h('section', { id, 'aria-labelledby': headingId }, h('h2', { id: headingId }, title), ...children);
}

/** A short error paragraph for a part of a page that could not be loaded. */
export function problem(err, what) {
  const text =
    err && err.status === 403
      ? `${what}: not available to you.`
      : `${what}: ${err && err.message ? err.message : String(err)}`;
  return h('p', { class: 'notice error' }, text);
}

/** Unix seconds of an ISO time or 'YYYY-MM-DD' (UTC midnight). */
export function epoch(value) {
  const text = String(value);
  return Math.floor(new Date(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text).getTime() / 1000);
}
