// The audit trail (operator admins): every state-changing action, newest first, filtered by actor,
// action, target, source and time (UTC). Filters live in the URL query.

const enc = encodeURIComponent;
const SOURCES = ['api', 'temporal-ui', 'temporal-cli', 'temporal', 'schedule', 'workflow'];
const TEXT_FILTERS = [
  ['actor', 'Actor', 'e.g. Ana, partner:nova-slots, schedule:…'],
  ['action', 'Action', 'e.g. settlement.approvePayout'],
  ['target', 'Target', 'e.g. settlement:nova-slots:2026-11-23'],
];

/** '2026-11-23T10:00' (a datetime-local value, read as UTC) ⇄ an instant the API takes. */
const toInstant = (local) => (local ? `${local.length === 16 ? `${local}:00` : local}Z` : '');
const toLocal = (iso) => {
  const ms = Date.parse(iso || '');
  return Number.isNaN(ms) ? '' : new Date(ms).toISOString().slice(0, 16);
};

export async function render(ctx) {
  // Appends what is there (a section left out is null), never the text "null".
  const add = (...nodes) =>
    ctx.view.append(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
  const { h, api, fmt, link, pagedTable, query } = ctx;
  const filter = {};
  for (const [key] of TEXT_FILTERS) filter[key] = (query.get(key) || '').trim();
  filter.source = SOURCES.includes(query.get('source')) ? query.get('source') : '';
  filter.from = toLocal(query.get('from')) ? new Date(Date.parse(query.get('from'))).toISOString() : '';
  filter.to = toLocal(query.get('to')) ? new Date(Date.parse(query.get('to'))).toISOString() : '';

  const inputs = {};
  for (const [key] of TEXT_FILTERS)
    inputs[key] = h('input', {
      id: `audit-${key}`,
      name: key,
      type: 'text',
      value: filter[key],
      maxlength: '500',
      autocomplete: 'off',
    });
  inputs.source = h(
    'select',
    { id: 'audit-source', name: 'source' },
    h('option', { value: '' }, 'Any source'),
    SOURCES.map((s) => h('option', { value: s, selected: filter.source === s }, s)),
  );
  inputs.from = h('input', {
    id: 'audit-from',
    name: 'from',
    type: 'datetime-local',
    value: toLocal(filter.from),
  });
  inputs.to = h('input', { id: 'audit-to', name: 'to', type: 'datetime-local', value: toLocal(filter.to) });

  const hrefWith = (f) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(f)) if (v) q.set(k, v);
    const s = q.toString();
    return s ? `/console/audit?${s}` : '/console/audit';
  };

  const form = h(
    'form',
    {
      class: 'filters',
      'aria-labelledby': 'audit-filters-h',
      onsubmit: (event) => {
        event.preventDefault();
        const next = {};
        for (const [key] of TEXT_FILTERS) next[key] = inputs[key].value.trim();
        next.source = inputs.source.value;
        next.from = toInstant(inputs.from.value);
        next.to = toInstant(inputs.to.value);
        ctx.navigate(hrefWith(next));
      },
    },
    TEXT_FILTERS.map(([key, label, hint]) =>
      h(
        'div',
        null,
        h(
          'label',
          { for: `audit-${key}` },
          label,
          h('span', { class: 'visually-hidden' }, ` (exact, ${hint})`),
        ),
        inputs[key],
      ),
    ),
    h('div', null, h('label', { for: 'audit-source' }, 'Source'), inputs.source),
    h('div', null, h('label', { for: 'audit-from' }, 'From (UTC, inclusive)'), inputs.from),
    h('div', null, h('label', { for: 'audit-to' }, 'To (UTC, exclusive)'), inputs.to),
    h('button', { type: 'submit' }, 'Apply filters'),
  );

  // The target (a request path, or what a workflow acted on): a link to what it names when the
  // console shows it, and a link that keeps only its events.
  const targetCell = (e) => {
    const t = e.target || '';
    let decoded = t;
    try {
      decoded = decodeURIComponent(t);
    } catch {
      /* not percent-encoded */
    }
    const parts = [h('code', null, t)];
    const exception = /^\/v1\/settlements\/([^/]+)\/exceptions\/([^/]+)/.exec(t);
    const cycle = /settlement:[a-z0-9][a-z0-9-]{1,62}:\d{4}-\d{2}-\d{2}/.exec(decoded);
    const partner = /^\/v1\/partners\/([a-z0-9][a-z0-9-]{1,62})(\/|$)/.exec(t);
    if (exception && exception[2] !== 'resolutions') {
      const [cycleId, exceptionId] = [decodeURIComponent(exception[1]), decodeURIComponent(exception[2])];
      parts.push(
        ' ',
        link(
          `/console/settlements/${enc(cycleId)}/exceptions/${enc(exceptionId)}`,
          `Exception ${exceptionId}`,
        ),
      );
    } else if (cycle) {
      parts.push(' ', link(`/console/settlements/${enc(cycle[0])}`, `Cycle ${cycle[0]}`));
    } else if (partner) {
      parts.push(' ', link(`/console/partners/${enc(partner[1])}`, `Partner ${partner[1]}`));
    }
    if (filter.target !== t)
      parts.push(
        ' ',
        link(
          hrefWith({ ...filter, target: t }),
          h('span', null, 'only this target', h('span', { class: 'visually-hidden' }, `: ${t}`)),
        ),
      );
    return h('span', null, parts);
  };
  const actorCell = (e) =>
    filter.actor === e.actor
      ? e.actor
      : link(
          hrefWith({ ...filter, actor: e.actor }),
          h('span', null, h('span', { class: 'visually-hidden' }, 'Only actions of '), e.actor),
        );

  const table = pagedTable({
    caption: 'Audit events, newest first',
    columns: [
      { key: 'at', label: 'When', render: (e) => fmt.time(e.at), csv: (e) => e.at },
      { key: 'actor', label: 'Actor', render: actorCell, csv: (e) => e.actor },
      { key: 'role', label: 'Role' },
      { key: 'action', label: 'Action' },
      { key: 'target', label: 'Target', render: targetCell, csv: (e) => e.target },
      { key: 'source', label: 'Source' },
      {
        // What a reviewer checks less often, folded: the request, the workflow, the body's digest,
        // the hash chain and the details (the CSV has them all, as JSON).
        key: 'record',
        label: 'Record',
        render: (e) =>
          h(
            'details',
            null,
            h('summary', null, 'More', h('span', { class: 'visually-hidden' }, ` about event ${e.id}`)),
            h(
              'dl',
              { class: 'facts' },
              h('dt', null, 'Event'),
              h('dd', null, e.id),
              h('dt', null, 'Request'),
              h('dd', null, e.requestId ?? '—'),
              h('dt', null, 'Workflow'),
              h(
                'dd',
                null,
                e.workflowId && /^settlement:/.test(e.workflowId)
                  ? link(`/console/settlements/${enc(e.workflowId)}`, e.workflowId)
                  : (e.workflowId ?? '—'),
              ),
              h('dt', null, 'Body digest'),
              h('dd', null, e.afterDigest ? h('code', null, e.afterDigest) : '—'),
              h('dt', null, 'Chain'),
              h('dd', null, h('code', null, `${e.chainId}/${e.seq} ${e.hash}`)),
              h('dt', null, 'Details'),
              h(
                'dd',
                null,
                e.details && Object.keys(e.details).length ? h('code', null, JSON.stringify(e.details)) : '—',
              ),
            ),
          ),
        csv: (e) =>
          JSON.stringify({
            id: e.id,
            requestId: e.requestId,
            workflowId: e.workflowId,
            beforeDigest: e.beforeDigest,
            afterDigest: e.afterDigest,
            chainId: e.chainId,
            seq: e.seq,
            hash: e.hash,
            details: e.details,
          }),
      },
    ],
    csvName: 'audit.csv',
    fetchPage: async (cursor) => {
      const res = await api('/v1/audit', { ...filter, cursor, limit: 100 });
      return { rows: res.events, nextCursor: res.nextCursor };
    },
  });

  const active = Object.entries(filter).filter(([, v]) => v);
  add(
    h('h1', null, 'Audit trail'),
    h(
      'p',
      { class: 'hint' },
      'Append-only and hash-chained. Actor, action and target match exactly. Times are UTC.',
    ),
    h('h2', { id: 'audit-filters-h' }, 'Filters'),
    form,
    active.length
      ? h(
          'p',
          null,
          `Filtered by ${active.map(([k, v]) => `${k} ${v}`).join(', ')}. `,
          link('/console/audit', 'Show the whole trail'),
        )
      : null,
    h('h2', null, 'Events'),
    table,
  );
  await table.loaded;
  return { title: 'Audit trail' };
}
