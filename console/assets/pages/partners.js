// Partners: the operator's list (search, status, kind; paged), each a link to the partner's page.
// A partner user sees its own partner only (the list endpoint is the operator's).

const enc = encodeURIComponent;
const STATUSES = ['onboarding', 'active', 'suspended'];
const KINDS = ['provider', 'aggregator', 'affiliate'];

export async function render(ctx) {
  // Appends what is there (a section left out is null), never the text "null".
  const add = (...nodes) =>
    ctx.view.append(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
  const { h, api, link, pagedTable, me, query } = ctx;
  const partnerHref = (id) => `/console/partners/${enc(id)}`;

  const columns = [
    { key: 'id', label: 'Partner', render: (p) => link(partnerHref(p.id), p.id), csv: (p) => p.id },
    { key: 'name', label: 'Name' },
    { key: 'kind', label: 'Kind' },
    { key: 'status', label: 'Status' },
    { key: 'timezone', label: 'Timezone' },
    { key: 'settlementCurrency', label: 'Settlement currency' },
    { key: 'activatedAt', label: 'Active since', render: (p) => ctx.fmt.time(p.activatedAt) },
  ];

  add(h('h1', null, 'Partners'));

  if (me.kind === 'partner') {
    const table = pagedTable({
      caption: 'Your partner',
      columns,
      csvName: `partner-${me.partnerId}.csv`,
      fetchPage: async () => ({ rows: [await api(`/v1/partners/${enc(me.partnerId)}`)], nextCursor: null }),
    });
    add(h('p', null, 'You see your own partner only.'), table);
    await table.loaded;
    return { title: 'Partners' };
  }

  const filter = {
    q: query.get('q') || '',
    status: query.get('status') || '',
    kind: query.get('kind') || '',
  };
  const qInput = h('input', {
    id: 'partners-q',
    name: 'q',
    type: 'search',
    value: filter.q,
    maxlength: '100',
  });
  const statusSelect = h(
    'select',
    { id: 'partners-status', name: 'status' },
    h('option', { value: '' }, 'Any status'),
    STATUSES.map((s) => h('option', { value: s, selected: filter.status === s }, s)),
  );
  const kindInput = h(
    'select',
    { id: 'partners-kind', name: 'kind' },
    h('option', { value: '' }, 'Any kind'),
    KINDS.map((k) => h('option', { value: k, selected: filter.kind === k }, k)),
  );

  const table = pagedTable({
    caption: 'Partners, by id',
    columns,
    csvName: 'partners.csv',
    fetchPage: async (cursor) => {
      const res = await api('/v1/partners', { ...filter, cursor, limit: 100 });
      return { rows: res.partners, nextCursor: res.nextCursor };
    },
  });

  const form = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      'aria-label': 'Find partners',
      onsubmit: (event) => {
        event.preventDefault();
        filter.q = qInput.value.trim();
        filter.status = statusSelect.value;
        filter.kind = kindInput.value;
        const params = new URLSearchParams();
        for (const [k, v] of Object.entries(filter)) if (v) params.set(k, v);
        const search = params.toString();
        ctx.navigate(`/console/partners${search ? `?${search}` : ''}`);
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'partners-q' }, 'Id or name contains'), qInput),
    h('div', { class: 'field' }, h('label', { for: 'partners-status' }, 'Status'), statusSelect),
    h('div', { class: 'field' }, h('label', { for: 'partners-kind' }, 'Kind'), kindInput),
    h('button', { type: 'submit' }, 'Search'),
  );

  add(form, table);
  await table.loaded;
  return { title: 'Partners' };
}
