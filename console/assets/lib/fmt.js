// Formatting figures for people. Money arrives from the API as decimal strings in major units and
// stays a string: separators are inserted into it, never through a float.

const DASH = '—';

function group(digits) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** `fmt.money("-1234567.80", "EUR")` → "−1,234,567.80 EUR" (no float math). null/undefined → "—". */
function money(value, currency) {
  if (value === undefined || value === null || value === '') return DASH;
  const text = String(value).trim();
  const m = /^([+-]?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) return currency ? `${text} ${currency}` : text;
  const sign = m[1] === '-' && !/^0*$/.test(m[2] + (m[3] || '')) ? '−' : '';
  const body = group(m[2]) + (m[3] !== undefined ? `.${m[3]}` : '');
  return currency ? `${sign}${body} ${currency}` : `${sign}${body}`;
}

/** `fmt.int(1234567)` or `fmt.int("1234567")` → "1,234,567". Non-integers are shown as given. */
function int(value) {
  if (value === undefined || value === null || value === '') return DASH;
  const text = typeof value === 'bigint' ? value.toString() : String(value);
  const m = /^([+-]?)(\d+)$/.exec(text);
  if (!m) return text;
  return (m[1] === '-' ? '−' : '') + group(m[2]);
}

/**
 * `fmt.pct(ratio, digits = 2)`: the number is a RATIO (0.9612 → "96.12%"), as RTPs and rates come
 * from the API. null/undefined/NaN → "—".
 */
function pct(value, digits = 2) {
  if (value === undefined || value === null || value === '') return DASH;
  const n = Number(value);
  if (!Number.isFinite(n)) return DASH;
  const text = (n * 100).toFixed(digits);
  return `${text.startsWith('-') ? '−' + text.slice(1) : text}%`;
}

/** A plain number with `digits` decimals (statistics such as z); "—" when absent. */
function num(value, digits = 2) {
  if (value === undefined || value === null || value === '') return DASH;
  const n = Number(value);
  if (!Number.isFinite(n)) return DASH;
  const text = n.toFixed(digits);
  return text.startsWith('-') ? '−' + text.slice(1) : text;
}

function pad(n) {
  return String(n).padStart(2, '0');
}

/** `fmt.time("2025-03-01T12:05:09.123Z")` → "2025-03-01 12:05:09 UTC" (always UTC: the API's clock). */
function time(iso) {
  if (iso === undefined || iso === null || iso === '') return DASH;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`
  );
}

/** `fmt.date(iso or 'YYYY-MM-DD')` → "YYYY-MM-DD". */
function date(value) {
  if (value === undefined || value === null || value === '') return DASH;
  if (/^\d{4}-\d{2}-\d{2}$/.test(String(value))) return String(value);
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** Minutes/hours/days since an ISO time, e.g. "3 h 12 min". */
function age(iso, now = Date.now()) {
  if (!iso) return DASH;
  const ms = now - new Date(iso).getTime();
  if (!Number.isFinite(ms)) return DASH;
  const min = Math.max(0, Math.floor(ms / 60000));
  if (min < 60) return `${min} min`;
  const hours = Math.floor(min / 60);
  if (hours < 48) return `${hours} h ${min % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

export const fmt = { money, int, pct, num, time, date, age, DASH };
