// Exceptions: for operators the work queue (every open exception across cycles, oldest first,
// filtered by partner, SLA tier, age bucket, kind), the ageing view and the exceptions over time
// chart; for partner users their own open exceptions. Each row links to both sides of it.
import { cards, section, problem, epoch } from '../lib/ui.js';

const enc = encodeURIComponent;
const BUCKETS = {
  '0-1d': [0, 24],
  '1-3d': [24, 72],
  '3-7d': [72, 168],
  '>7d': [168, Infinity],
};
const TIERS = ['critical', 'high', 'medium', 'low'];

function exceptionHref(settlementId, exceptionId) {
  return `/console/settlements/${enc(settlementId)}/exceptions/${enc(exceptionId)}`;
}

export async function render(ctx) {
  const { api, h, fmt, link, me, view, query, pagedTable, timeSeries, navigate } = ctx;
  const operator = me.kind === 'operator';
  const charts = [];
  view.append(h('h1', null, 'Exceptions'));

  const overTime = h('div');
  async function loadOverTime(partnerId) {
    try {
      const res = await api('/v1/insights/exceptions-over-time', { days: 30, partnerId });
      const days = res.days || [];
      const chart = timeSeries({
        title: 'Exceptions over time, last 30 days',
        description: 'Exceptions found, closed and still open per day (UTC).',
        x: days.map((d) => epoch(d.date || d.day)),
        series: [
          { label: 'Found', values: days.map((d) => Number(d.found) || 0) },
          { label: 'Resolved', values: days.map((d) => Number(d.resolved) || 0) },
          { label: 'Open at end of day', values: days.map((d) => Number(d.open) || 0) },
        ],
      });
      charts.push(chart);
      overTime.replaceChildren(chart);
    } catch (err) {
      overTime.replaceChildren(problem(err, 'Exceptions over time'));
    }
  }

  if (!operator) {
    const table = pagedTable({
      caption: 'Your open exceptions',
      csvName: 'open-exceptions.csv',
      columns: [
        {
          key: 'exceptionId',
          label: 'Exception',
          render: (r) => link(exceptionHref(r.settlementId, r.exceptionId), r.exceptionId),
        },
        {
          key: 'settlementId',
          label: 'Cycle',
          render: (r) => link(`/console/settlements/${enc(r.settlementId)}`, r.settlementId),
        },
        { key: 'kind', label: 'Kind' },
        { key: 'txId', label: 'Transaction', render: (r) => r.txId || '—' },
        {
          key: 'differenceMinor',
          label: 'Difference (minor units)',
          numeric: true,
          render: (r) => fmt.int(r.differenceMinor),
        },
        { key: 'detail', label: 'Detail' },
      ],
      fetchPage: async (cursor) => {
        const res = await api('/v1/exceptions', { status: 'open', cursor, limit: 50 });
        return { rows: res.exceptions || [], nextCursor: res.nextCursor };
      },
      empty: 'No open exceptions.',
    });
    view.append(section('Open', 'open', table), section('Over time', 'over-time', overTime));
    await Promise.all([table.loaded, loadOverTime(me.partnerId)]);
    return { title: 'Exceptions', dispose: () => charts.forEach((c) => c.dispose()) };
  }

  // ---- Operators: the work queue ----
  const partnerId = query.get('partnerId') || '';
  const tier = TIERS.includes(query.get('tier') || '') ? query.get('tier') : '';
  const bucket = Object.hasOwn(BUCKETS, query.get('bucket') || '') ? query.get('bucket') : '';
  const kind = query.get('kind') || '';
  const escalated = query.get('escalated') === 'true';

  const ageingBox = h('div');
  try {
    const ageing = await api('/v1/exception-queue/ageing', { partnerId });
    ageingBox.append(
      h('h3', null, 'By age since found'),
      cards(
        (ageing.buckets || []).map((b) => ({
          label: b.bucket,
          value: fmt.int(b.count),
          href: `/console/exceptions?${new URLSearchParams({ ...(partnerId ? { partnerId } : {}), bucket: b.bucket })}`,
          hint: b.overdue ? `${fmt.int(b.overdue)} overdue` : null,
        })),
        'Open exceptions by age',
      ),
      h('h3', null, 'By SLA tier'),
      cards(
        (ageing.tiers || []).map((t) => ({
          label: t.tier,
          value: fmt.int(t.count),
          href: `/console/exceptions?${new URLSearchParams({ ...(partnerId ? { partnerId } : {}), tier: t.tier })}`,
          hint: t.overdue ? `${fmt.int(t.overdue)} overdue` : null,
        })),
        'Open exceptions by SLA tier',
      ),
    );
  } catch (err) {
    ageingBox.append(problem(err, 'Ageing'));
  }

  const partnerInput = h('input', {
    id: 'exc-partner',
    name: 'partnerId',
    value: partnerId,
    size: '18',
    autocomplete: 'off',
  });
  const tierSelect = h(
    'select',
    { id: 'exc-tier', name: 'tier' },
    h('option', { value: '' }, 'Any'),
    TIERS.map((t) => h('option', { value: t, selected: t === tier }, t)),
  );
  const bucketSelect = h(
    'select',
    { id: 'exc-bucket', name: 'bucket' },
    h('option', { value: '' }, 'Any'),
    Object.keys(BUCKETS).map((b) => h('option', { value: b, selected: b === bucket }, b)),
  );
  const kindInput = h('input', {
    id: 'exc-kind',
    name: 'kind',
    value: kind,
    size: '18',
    autocomplete: 'off',
  });
  const escalatedBox = h('input', {
    id: 'exc-escalated',
    name: 'escalated',
    type: 'checkbox',
    checked: escalated,
  });
  const form = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      'aria-label': 'Filter the work queue',
      onsubmit: (event) => {
        event.preventDefault();
        const q = new URLSearchParams();
        if (partnerInput.value.trim()) q.set('partnerId', partnerInput.value.trim());
        if (tierSelect.value) q.set('tier', tierSelect.value);
        if (bucketSelect.value) q.set('bucket', bucketSelect.value);
        if (kindInput.value.trim()) q.set('kind', kindInput.value.trim());
        if (escalatedBox.checked) q.set('escalated', 'true');
        navigate(`/console/exceptions${q.toString() ? `?${q}` : ''}`);
      },
    },
    h('div', null, h('label', { for: 'exc-partner' }, 'Partner id'), partnerInput),
    h('div', null, h('label', { for: 'exc-tier' }, 'SLA tier'), tierSelect),
    h('div', null, h('label', { for: 'exc-bucket' }, 'Age'), bucketSelect),
    h('div', null, h('label', { for: 'exc-kind' }, 'Kind'), kindInput),
    h('div', { class: 'checkbox' }, escalatedBox, h('label', { for: 'exc-escalated' }, 'Escalated only')),
    h('div', null, h('button', { type: 'submit' }, 'Show')),
  );

  // An age bucket is [from, to) hours: ask for "older than from", youngest first, and stop at "to".
  const [fromHours, toHours] = bucket ? BUCKETS[bucket] : [null, Infinity];
  const sort = bucket ? { sort: 'age', order: 'asc' } : { sort: 'age', order: 'desc' };
  const described = [
    partnerId && `partner ${partnerId}`,
    tier && `tier ${tier}`,
    bucket && `age ${bucket}`,
    kind && `kind ${kind}`,
    escalated && 'escalated',
  ]
    .filter(Boolean)
    .join(', ');
  const table = pagedTable({
    caption: `Work queue: open exceptions${described ? ` (${described})` : ''}, ${bucket ? 'youngest' : 'oldest'} first`,
    csvName: 'exception-queue.csv',
    columns: [
      {
        key: 'exceptionId',
        label: 'Exception',
        render: (r) => link(exceptionHref(r.settlementId, r.exceptionId), r.exceptionId),
      },
      {
        key: 'settlementId',
        label: 'Cycle',
        render: (r) => link(`/console/settlements/${enc(r.settlementId)}`, r.settlementId),
      },
      {
        key: 'partnerId',
        label: 'Partner',
        render: (r) => link(`/console/partners/${enc(r.partnerId)}`, r.partnerId),
      },
      { key: 'kind', label: 'Kind' },
      { key: 'currency', label: 'Currency', render: (r) => r.currency || '—' },
      {
        key: 'differenceMinor',
        label: 'Difference (minor units)',
        numeric: true,
        render: (r) => fmt.int(r.differenceMinor),
      },
      { key: 'tier', label: 'SLA tier' },
      {
        key: 'ageHours',
        label: 'Age',
        numeric: true,
        render: (r) => fmt.age(r.foundAt),
        csv: (r) => r.ageHours,
      },
      {
        key: 'dueAt',
        label: 'Due',
        render: (r) => `${fmt.time(r.dueAt)}${r.overdue ? ' (overdue)' : ''}`,
        csv: (r) => r.dueAt,
      },
      {
        key: 'assignee',
        label: 'Assignee',
        render: (r) => (r.assignee ? r.assignee.name : 'unassigned'),
        csv: (r) => (r.assignee ? r.assignee.name : ''),
      },
      { key: 'escalatedTier', label: 'Escalated at', render: (r) => r.escalatedTier || '—' },
    ],
    fetchPage: async (cursor) => {
      const res = await api('/v1/exception-queue', {
        partnerId,
        tier,
        kind,
        olderThanHours: fromHours,
        ...sort,
        cursor,
        limit: 50,
      });
      let rows = res.items || [];
      let nextCursor = res.nextCursor;
      if (bucket && toHours !== Infinity) {
        const inBucket = rows.filter((r) => r.ageHours < toHours);
        if (inBucket.length < rows.length) nextCursor = null;
        rows = inBucket;
      }
      if (escalated) rows = rows.filter((r) => r.escalatedTier);
      return { rows, nextCursor };
    },
    empty: 'No open exceptions match.',
  });

  view.append(
    h(
      'p',
      { class: 'muted' },
      'Open exceptions of every cycle, with their SLA tier and due time. Differences are in minor units of the exception’s own currency.',
    ),
    section('By age and SLA tier', 'ageing', ageingBox),
    section(
      'Work queue',
      'queue',
      form,
      escalated
        ? h('p', { class: 'hint' }, 'Escalated only: rows of each page the SLA sweep escalated.')
        : null,
      table,
    ),
    section('Over time', 'over-time', overTime),
  );
  await Promise.all([table.loaded, loadOverTime(partnerId || undefined)]);
  return { title: 'Exceptions', dispose: () => charts.forEach((c) => c.dispose()) };
}
