// Building the page: elements from code, never from HTML strings, and never inline styles or
// handlers (the console's content-security policy forbids both).

function append(parent, child) {
  if (child === undefined || child === null || child === false || child === true) return;
  if (Array.isArray(child)) {
    for (const c of child) append(parent, c);
    return;
  }
  parent.append(child instanceof Node ? child : String(child));
}

/**
 * `h(tag, attrs|null, ...children)` → element.
 * attrs: `class` (string or array), `text` (textContent), `on<event>` functions (addEventListener),
 * any other attribute by name (true → present, false/null/undefined → absent). `style` is refused.
 * children: nodes, strings, numbers, arrays of them; null/undefined/false are skipped.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') {
        el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : String(value);
      } else if (key === 'text') {
        el.textContent = String(value);
      } else if (key === 'style') {
        throw new Error('h(): inline styles are not allowed under the console CSP; use a class');
      } else if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2).toLowerCase(), value);
      } else if (value === true) {
        el.setAttribute(key, '');
      } else {
        el.setAttribute(key, String(value));
      }
    }
  }
  append(el, children);
  return el;
}

/** `link(href, text)` → `<a href>`; with no href, the text in a `<span>` (nothing to follow). */
export function link(href, text) {
  const label = text === undefined || text === null ? String(href) : text;
  if (href === undefined || href === null || href === '') return h('span', null, label);
  return h('a', { href }, label);
}

/**
 * `statusLine(text)` → a polite live region (`<p role="status">`). Its `set(text)` method changes the
 * announcement (same as setting textContent).
 */
export function statusLine(text) {
  const el = h('p', { class: 'status-line', role: 'status', 'aria-live': 'polite' }, text ?? '');
  el.set = (next) => {
    el.textContent = next ?? '';
  };
  return el;
}

function focusKey(el) {
  if (!el || el === document.body) return null;
  if (el.tagName === 'A') return { tag: 'A', href: el.getAttribute('href'), text: el.textContent };
  if (el.tagName === 'BUTTON') return { tag: 'BUTTON', href: null, text: el.textContent };
  return null;
}

/**
 * `replaceKeepingFocus(parent, key, ...nodes)`: parent.replaceChildren(...nodes), but when focus was on a
 * link or button inside `parent`, the same link (by href and text) or button in the new content gets
 * it back: a live page that redraws every few seconds must not throw a keyboard user's place away.
 * Returns false (and changes nothing) when `key` equals the key of the last replacement.
 */
export function replaceKeepingFocus(parent, key, ...nodes) {
  if (key !== undefined && key !== null && parent.dataset.renderKey === key) return false;
  const active = document.activeElement;
  const had = active && parent.contains(active) ? focusKey(active) : null;
  parent.replaceChildren(...nodes);
  if (key !== undefined && key !== null) parent.dataset.renderKey = key;
  if (had) {
    const candidates = parent.querySelectorAll(had.tag === 'A' ? 'a[href]' : 'button');
    for (const c of candidates) {
      if ((had.href === null || c.getAttribute('href') === had.href) && c.textContent === had.text) {
        c.focus({ preventScroll: true });
        break;
      }
    }
  }
  return true;
}
