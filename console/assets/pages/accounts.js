// Ledger accounts (operators): every account with its real-time balance, or one partner's; each
// account is a link to its postings.

const enc = encodeURIComponent;
const PARTNER_ID = /^[a-z0-9][a-z0-9-]{1,62}$/;

export async function render(ctx) {
  // Appends what is there (a section left out is null), never the text "null".
  const add = (...nodes) =>
    ctx.view.append(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
  const { h, api, fmt, link, pagedTable, query } = ctx;
  const asked = (query.get('partnerId') || '').trim();
  const partnerId = PARTNER_ID.test(asked) ? asked : '';

  const input = h('input', {
    id: 'accounts-partner',
    name: 'partnerId',
    type: 'text',
    value: partnerId,
    maxlength: '63',
    autocomplete: 'off',
  });
  const form = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      'aria-label': 'Filter accounts',
      onsubmit: (event) => {
        event.preventDefault();
        const v = input.value.trim();
        ctx.navigate(v ? `/console/ledger/accounts?partnerId=${enc(v)}` : '/console/ledger/accounts');
      },
    },
    h('div', null, h('label', { for: 'accounts-partner' }, 'Partner id (empty: every account)'), input),
    h('button', { type: 'submit' }, 'Show accounts'),
  );

  const money = (key, label) => ({
    key,
    label,
    numeric: true,
    render: (a) => fmt.money(a[key], a.currency),
    csv: (a) => a[key],
  });
  const table = pagedTable({
    caption: partnerId ? `Ledger accounts of ${partnerId}, by code` : 'Ledger accounts, by code',
    columns: [
      {
        key: 'code',
        label: 'Account',
        render: (a) => link(`/console/ledger/accounts/${enc(a.code)}`, a.code),
        csv: (a) => a.code,
      },
      { key: 'kind', label: 'Kind' },
      { key: 'currency', label: 'Currency' },
      {
        key: 'partnerId',
        label: 'Partner',
        render: (a) =>
          a.partnerId ? link(`/console/partners/${enc(a.partnerId)}`, a.partnerId) : 'the operator',
        csv: (a) => a.partnerId,
      },
      money('debits', 'Debits'),
      money('credits', 'Credits'),
      money('balance', 'Balance (debits − credits)'),
    ],
    csvName: partnerId ? `ledger-accounts-${partnerId}.csv` : 'ledger-accounts.csv',
    fetchPage: async (cursor) => {
      const res = await api('/v1/ledger/accounts', { partnerId, cursor, limit: 100 });
      return { rows: res.accounts, nextCursor: res.nextCursor };
    },
  });

  add(
    h('h1', null, 'Ledger accounts'),
    h(
      'p',
      { class: 'hint' },
      'Balances are real time and debit-positive. Each account links to its postings, each posting to its entry and source.',
    ),
    form,
    table,
  );
  await table.loaded;
  return { title: 'Ledger accounts' };
}
