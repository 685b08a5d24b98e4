// The console's one way to the API: same-origin fetch with the session cookie and the
// header that marks a console request (the API refuses a cookie-authenticated write without it).

export const SIGN_IN = '/console/sign-in';

/** An API answer that is not 2xx: `status` and the parsed `body` (the API's `{ error: { code, message, details } }`). */
export class ApiError extends Error {
  constructor(status, body) {
    const message =
      body && typeof body === 'object' && body.error && typeof body.error.message === 'string'
        ? body.error.message
        : `the API answered ${status}`;
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

function withQuery(path, query) {
  const url = new URL(path, window.location.origin);
  if (query) {
    const entries = query instanceof URLSearchParams ? query.entries() : Object.entries(query);
    for (const [key, value] of entries) {
      if (value === undefined || value === null || value === '') continue;
      url.searchParams.set(key, String(value));
    }
  }
  return url.pathname + url.search;
}

async function request(method, path, query, body) {
  const headers = { Accept: 'application/json', 'X-Clearhouse-Console': '1' };
  const init = { method, credentials: 'same-origin', headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(withQuery(path, query), init);
  const type = res.headers.get('content-type') || '';
  const text = await res.text();
  let parsed = text;
  if (type.includes('json') && text !== '') {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (res.status === 401) {
    // Back here after signing in (the sign-in page accepts console paths only).
    const here = window.location.pathname + window.location.search;
    window.location.assign(
      here.startsWith('/console') ? `${SIGN_IN}?next=${encodeURIComponent(here)}` : SIGN_IN,
    );
    throw new ApiError(401, parsed);
  }
  if (!res.ok) throw new ApiError(res.status, parsed);
  return parsed;
}

/**
 * `api(path, query?)` → Promise of the parsed JSON. `query` is an object or URLSearchParams;
 * undefined, null and '' values are left out. Throws ApiError; a 401 also sends the browser to sign-in.
 */
export function api(path, query) {
  return request('GET', path, query);
}
/** `api.post(path, body)` → Promise of the parsed JSON. */
api.post = (path, body) => request('POST', path, undefined, body ?? {});
/** `api.put(path, body)` → Promise of the parsed JSON. */
api.put = (path, body) => request('PUT', path, undefined, body ?? {});
