// One alert: what was found, its evidence (the figures and the query that reproduces them), when
// it was first and last seen, and — for operators — its acknowledgement by a named person with a
// note (POST /v1/alerts/{id}/acknowledgement; audited by the API).
import { badge, facts } from '../lib/ui.js';

const enc = encodeURIComponent;

function isPlain(value) {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}

function evidenceView(h, fmt, evidence) {
  if (!evidence || typeof evidence !== 'object') return h('p', null, 'No evidence recorded.');
  const { explanation, query, ...figures } = evidence;
  const rows = Object.entries(figures).map(([key, value]) =>
    h(
      'tr',
      null,
      h('th', { scope: 'row' }, key),
      h('td', null, isPlain(value) ? String(value) : h('pre', null, JSON.stringify(value, null, 2))),
    ),
  );
  return h(
    'div',
    null,
    explanation ? h('p', { class: 'explanation' }, explanation) : null,
    rows.length
      ? h(
          'div',
          { class: 'table-scroll' },
          h(
            'table',
            null,
            h('caption', null, 'Figures'),
            h(
              'thead',
              null,
              h('tr', null, h('th', { scope: 'col' }, 'Figure'), h('th', { scope: 'col' }, 'Value')),
            ),
            h('tbody', null, rows),
          ),
        )
      : null,
    query ? h('h3', null, 'Query that reproduces the figures') : null,
    query
      ? h(
          'pre',
          { class: 'query', tabindex: '0', 'aria-label': 'Query that reproduces the figures' },
          h('code', null, query),
        )
      : null,
  );
}

export async function render(ctx) {
  const { api, h, fmt, link, me, view, params, statusLine } = ctx;
  const operator = me.kind === 'operator';
  const alert = await api(`/v1/alerts/${enc(params.id)}`);
  const status = statusLine('');
  // What the alert is about, as a link where the console has a page for it.
  const subjectLink = (subject) => {
    const m = /^(game|partner|cycle):(.+)$/.exec(subject || '');
    if (!m) return subject || '—';
    if (m[1] === 'game') return operator ? link(`/console/games/${enc(m[2])}`, subject) : subject;
    if (m[1] === 'partner') return link(`/console/partners/${enc(m[2])}`, subject);
    return link(`/console/settlements/${enc(m[2])}`, subject);
  };

  const ackBox = h('div');
  function showAck(a) {
    if (a.acknowledgement) {
      ackBox.replaceChildren(
        h(
          'p',
          { class: 'acknowledged' },
          `Acknowledged${a.acknowledgement.name ? ` by ${a.acknowledgement.name}` : ''} at ${fmt.time(a.acknowledgement.at)}`,
          a.acknowledgement.note ? ': ' : '.',
          a.acknowledgement.note ? h('q', null, a.acknowledgement.note) : null,
        ),
      );
      return;
    }
    if (!operator) {
      ackBox.replaceChildren(
        h('p', null, a.acknowledged ? 'Acknowledged by the operations team.' : 'Not acknowledged yet.'),
      );
      return;
    }
    const note = h('textarea', {
      id: 'ack-note',
      name: 'note',
      required: true,
      maxlength: '2000',
      'aria-describedby': 'ack-hint',
    });
    const submit = h('button', { type: 'submit' }, 'Acknowledge');
    const form = h(
      'form',
      {
        class: 'ack-form',
        'aria-labelledby': 'ack-heading',
        onsubmit: async (event) => {
          event.preventDefault();
          const text = note.value.trim();
          if (!text) {
            status.set('Write a note first: what you checked, or what happens next.');
            note.focus();
            return;
          }
          submit.disabled = true;
          status.set('Acknowledging…');
          try {
            const res = await api.post(`/v1/alerts/${enc(alert.id)}/acknowledgement`, { note: text });
            const updated =
              res && res.alert ? res.alert : res && res.id ? res : await api(`/v1/alerts/${enc(alert.id)}`);
            status.set('Acknowledged.');
            showAck(updated);
            ackBox.querySelector('.acknowledged')?.setAttribute('tabindex', '-1');
            ackBox.querySelector('.acknowledged')?.focus();
          } catch (err) {
            submit.disabled = false;
            status.set(
              err.status === 403
                ? 'You need the resolver role to acknowledge alerts.'
                : `Could not acknowledge: ${err.message}`,
            );
          }
        },
      },
      h('label', { for: 'ack-note' }, 'Note'),
      h(
        'p',
        { id: 'ack-hint', class: 'hint' },
        'Your name and this note are recorded with the alert and in the audit trail.',
      ),
      note,
      h('p', null, submit),
    );
    ackBox.replaceChildren(form);
  }
  showAck(alert);

  view.append(
    h('p', { class: 'breadcrumb' }, link('/console/alerts', 'Alerts'), ` › #${alert.id}`),
    h('h1', null, alert.title),
    h(
      'p',
      null,
      badge(alert.severity, alert.severity),
      ' ',
      badge(alert.state, alert.state === 'active' ? 'warning' : 'ok'),
    ),
    facts([
      ['Kind', alert.kind],
      ['Subject', subjectLink(alert.subject)],
      ['Partner', alert.partnerId ? link(`/console/partners/${enc(alert.partnerId)}`, alert.partnerId) : '—'],
      ['Severity', alert.severity],
      ['State', alert.state],
      [
        'Window',
        alert.windowStart || alert.windowEnd
          ? `${fmt.time(alert.windowStart)} to ${fmt.time(alert.windowEnd)}`
          : '—',
      ],
      ['First seen', fmt.time(alert.firstSeen)],
      ['Last seen', fmt.time(alert.lastSeen)],
      ['Times seen', fmt.int(alert.occurrences)],
      ['Resolved', alert.resolvedAt ? fmt.time(alert.resolvedAt) : 'not yet (the condition still holds)'],
    ]),
    alert.evidence !== undefined ? h('h2', null, 'Evidence') : null,
    alert.evidence !== undefined ? evidenceView(h, fmt, alert.evidence) : null,
    h('h2', { id: 'ack-heading' }, 'Acknowledgement'),
    ackBox,
    status,
  );
  return { title: `Alert #${alert.id}` };
}
