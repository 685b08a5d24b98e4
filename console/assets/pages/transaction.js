// One stored transaction of a partner: every field the API gives, with links to its round (the
// game's transactions of that day, filtered by the round), the transaction it refers to, and its
// business day.

const enc = encodeURIComponent;

export async function render(ctx) {
  // Appends what is there (a section left out is null), never the text "null".
  const add = (...nodes) =>
    ctx.view.append(...nodes.filter((n) => n !== null && n !== undefined && n !== false));
  const { h, api, fmt, link, params } = ctx;
  const { partnerId, txId } = params;
  const partnerBase = `/console/partners/${enc(partnerId)}`;

  const t = await api(`/v1/partners/${enc(partnerId)}/transactions/${enc(txId)}`);
  const dayHref = `${partnerBase}/days/${enc(t.businessDate)}`;
  const gameHref = `${dayHref}/games/${enc(t.gameId)}`;
  const roundHref = `${gameHref}?roundId=${enc(t.roundId)}`;
  const playerHref = `${gameHref}?playerId=${enc(t.playerId)}`;

  const row = (label, value) => [h('dt', null, label), h('dd', null, value)];
  add(
    h('h1', null, `Transaction ${t.id}`),
    h(
      'dl',
      { class: 'facts' },
      row('Partner', link(`${partnerBase}?month=${t.businessDate.slice(0, 7)}`, partnerId)),
      row('Type', t.type),
      row('Amount', fmt.money(t.amount, t.currency)),
      row('Currency', t.currency),
      row('Round', link(roundHref, `Round ${t.roundId}: every transaction of the round`)),
      row('Player', link(playerHref, `Player ${t.playerId}: transactions in ${t.gameId} that day`)),
      row('Game', link(gameHref, `${t.gameId} on ${t.businessDate}`)),
      row('Business day', link(dayHref, t.businessDate)),
      row('Occurred at', fmt.time(t.occurredAt)),
      row('Received at', fmt.time(t.receivedAt)),
      row(
        'Refers to',
        t.refId
          ? link(`${partnerBase}/transactions/${enc(t.refId)}`, `Transaction ${t.refId}`)
          : t.type === 'rollback'
            ? 'nothing'
            : '—',
      ),
      row('Orphan rollback', t.orphan ? 'yes: the transaction it cancels has not arrived' : 'no'),
      row('Reason', t.reason || '—'),
      row('Ingest batch', t.batchId),
    ),
  );
  return { title: `Transaction ${t.id}` };
}
