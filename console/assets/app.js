// The console's router: path routes under /console, one page module per route
// (console/assets/pages/*.js, each `export async function render(ctx)`), links followed without a
// reload, focus moved to the page's main region, titles set from what the page returns.
import { api, ApiError } from './lib/api.js';
import { h, link, statusLine } from './lib/dom.js';
import { fmt } from './lib/fmt.js';
import { pagedTable } from './lib/table.js';
import { timeSeries, barChart } from './lib/charts.js';

const BASE = '/console';

// pattern → page module; `operatorOnly` pages are not offered to partner users.
const ROUTES = [
  { pattern: '/', module: 'overview' },
  { pattern: '/alerts', module: 'alerts' },
  { pattern: '/alerts/:id', module: 'alert' },
  { pattern: '/games', module: 'games', operatorOnly: true },
  { pattern: '/games/:id', module: 'game-rtp', operatorOnly: true },
  { pattern: '/exceptions', module: 'exceptions' },
  { pattern: '/cycles', module: 'cycles' },
  { pattern: '/partners', module: 'partners' },
  { pattern: '/partners/:partnerId', module: 'partner' },
  { pattern: '/partners/:partnerId/days/:date', module: 'day' },
  { pattern: '/partners/:partnerId/days/:date/games/:gameId', module: 'game-day' },
  { pattern: '/partners/:partnerId/transactions/:txId', module: 'transaction' },
  { pattern: '/settlements/:id', module: 'cycle' },
  { pattern: '/settlements/:id/exceptions/:exceptionId', module: 'exception' },
  { pattern: '/ledger/accounts', module: 'accounts', operatorOnly: true },
  { pattern: '/ledger/accounts/:code', module: 'account', operatorOnly: true },
  { pattern: '/ledger/entries/:id', module: 'entry', operatorOnly: true },
  { pattern: '/audit', module: 'audit', operatorOnly: true },
  { pattern: '/periods', module: 'periods' },
  { pattern: '/periods/:partnerId/:month', module: 'period' },
  { pattern: '/payouts', module: 'payouts' },
  { pattern: '/disputes', module: 'disputes' },
  { pattern: '/restatements', module: 'restatements' },
  { pattern: '/restatements/:id', module: 'restatement' },
];

// Paths under /console that are not the single-page app (served by the API itself).
const NOT_APP = /^\/console\/(sign-in|session|sign-out|invitation|assets|vendor)(\/|$|\?)/;

const compiled = ROUTES.map((route) => {
  const names = [];
  const source = route.pattern
    .split('/')
    .map((part) => {
      if (part.startsWith(':')) {
        names.push(part.slice(1));
        return '([^/]+)';
      }
      return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { ...route, names, regex: new RegExp(`^${source === '' ? '/' : source}$`) };
});

function match(pathname) {
  let rest = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname;
  if (rest === '') rest = '/';
  if (rest.length > 1 && rest.endsWith('/')) rest = rest.slice(0, -1);
  for (const route of compiled) {
    const m = route.regex.exec(rest);
    if (!m) continue;
    const params = {};
    route.names.forEach((name, i) => {
      params[name] = decodeURIComponent(m[i + 1]);
    });
    return { route, params };
  }
  return null;
}

const view = document.getElementById('view');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
let me = null;
let current = null; // { dispose?, root }
let generation = 0;

function navItems() {
  const items = [
    ['/console/', 'Overview'],
    ['/console/partners', me && me.kind === 'partner' ? 'Figures' : 'Partners'],
    ['/console/cycles', 'Cycles'],
    ['/console/exceptions', 'Exceptions'],
    ['/console/alerts', 'Alerts'],
    ['/console/periods', 'Periods'],
    ['/console/payouts', 'Payouts'],
    ['/console/disputes', 'Disputes'],
    ['/console/restatements', 'Restatements'],
  ];
  if (me && me.kind === 'partner' && me.partnerId) {
    items[1] = [`/console/partners/${encodeURIComponent(me.partnerId)}`, 'Figures'];
  }
  if (me && me.kind === 'operator') {
    items.push(
      ['/console/games', 'Games & RTP'],
      ['/console/ledger/accounts', 'Ledger'],
      ['/console/audit', 'Audit'],
    );
  }
  return items;
}

function renderNav(pathname) {
  const path = pathname.length > 1 && pathname.endsWith('/') ? pathname.slice(0, -1) : pathname;
  nav.replaceChildren(
    h(
      'ul',
      null,
      navItems().map(([href, text]) => {
        const target = href.length > 1 && href.endsWith('/') ? href.slice(0, -1) : href;
        const here = target === BASE ? path === BASE : path === target || path.startsWith(`${target}/`);
        return h('li', null, h('a', { href, 'aria-current': here ? 'page' : null }, text));
      }),
    ),
  );
}

function renderWho() {
  if (!me) return;
  const detail =
    me.kind === 'partner'
      ? `${me.partnerName || me.partnerId || ''} · partner`
      : (me.roles || []).join(', ') || 'operator';
  who.replaceChildren(
    h('span', { class: 'who-name' }, h('strong', null, me.name), h('span', { class: 'who-roles' }, detail)),
    h(
      'form',
      { method: 'post', action: '/console/sign-out', class: 'sign-out' },
      h('button', { type: 'submit', class: 'secondary' }, 'Sign out'),
    ),
  );
}

function notice(root, heading, text, kind) {
  root.replaceChildren(h('h1', null, heading), h('p', { class: ['notice', kind] }, text));
  return { title: heading };
}

async function route(focus) {
  const gen = ++generation;
  if (current && typeof current.dispose === 'function') {
    try {
      current.dispose();
    } catch {
      // a page's clean-up failing must not block the next page
    }
  }
  current = null;
  const pathname = window.location.pathname;
  renderNav(pathname);
  // Each render writes into its own container: a slow page that finishes after the person moved on
  // writes into a detached element, never over the next page.
  const root = h('div', { class: 'view-root' });
  view.replaceChildren(root);
  view.setAttribute('aria-busy', 'true');
  const found = match(pathname);
  let result;
  try {
    if (!found) {
      result = notice(root, 'Not found', 'There is no console page at this address.');
    } else if (found.route.operatorOnly && me.kind !== 'operator') {
      result = notice(root, 'Not available', 'This page is not available to partner users.');
    } else {
      const page = await import(`./pages/${found.route.module}.js`);
      if (gen !== generation) return;
      const ctx = {
        params: found.params,
        query: new URLSearchParams(window.location.search),
        me,
        view: root,
        api,
        h,
        fmt,
        pagedTable,
        timeSeries,
        barChart,
        link,
        statusLine,
        navigate,
        isCurrent: () => gen === generation,
      };
      result = (await page.render(ctx)) || {};
    }
  } catch (err) {
    if (gen !== generation) return;
    if (err instanceof ApiError && err.status === 401) return;
    if (err instanceof ApiError && (err.status === 404 || err.status === 403)) {
      result = notice(
        root,
        err.status === 404 ? 'Not found' : 'Not available',
        err.status === 404 ? 'Nothing here, or not visible to you.' : 'This page is not available to you.',
      );
    } else {
      console.error(err);
      result = notice(root, 'Something went wrong', err && err.message ? err.message : String(err), 'error');
    }
  }
  if (gen !== generation) {
    if (result && typeof result.dispose === 'function') result.dispose();
    return;
  }
  view.removeAttribute('aria-busy');
  current = result;
  document.title = `${(result && result.title) || 'Console'} · Clearhouse`;
  if (focus) view.focus({ preventScroll: false });
}

/** Goes to a console path without reloading (pages may call ctx.navigate). */
export function navigate(href, { replace = false } = {}) {
  const url = new URL(href, window.location.href);
  if (replace) window.history.replaceState(null, '', url.pathname + url.search + url.hash);
  else window.history.pushState(null, '', url.pathname + url.search + url.hash);
  window.scrollTo(0, 0);
  void route(true);
}

document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const a = event.target instanceof Element ? event.target.closest('a[href]') : null;
  if (!a || (a.target && a.target !== '_self') || a.hasAttribute('download')) return;
  const url = new URL(a.href, window.location.href);
  if (url.origin !== window.location.origin) return;
  if (url.pathname !== BASE && !url.pathname.startsWith(`${BASE}/`)) return;
  if (NOT_APP.test(url.pathname)) return;
  if (url.pathname === window.location.pathname && url.search === window.location.search && url.hash) return;
  event.preventDefault();
  navigate(url.pathname + url.search + url.hash);
});

window.addEventListener('popstate', () => {
  void route(true);
});

async function start() {
  try {
    me = await api('/v1/me');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return; // api() is sending us to sign-in
    view.replaceChildren(
      h('h1', null, 'Console unavailable'),
      h('p', { class: 'notice' }, `Could not load who you are: ${err.message}`),
    );
    return;
  }
  renderWho();
  await route(false);
}

void start();
