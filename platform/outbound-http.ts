import { Agent, fetch as pinnedFetch, type Response } from 'undici';
import { AddressRefusedError, checkAddress, policyLookup } from './address-policy';

// The one client for every call Clearhouse makes to someone else's HTTP server (provider
// reports, the FX rates service, partners' webhooks). Every response is capped in time and
// bytes, redirects are never followed (a partner-supplied URL must not bounce us elsewhere),
// only public addresses are reached unless allow-listed (platform/address-policy.ts),
// and the answer is classified once: worth retrying later (network, timeout, 429, 5xx, with
// the server's Retry-After) or refused (any other status, a redirect, an oversized body).

/** Limits on one call: named, so that every caller shows what it allows. */
export const OUTBOUND_TIMEOUT_MS = 10_000;
export const OUTBOUND_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
/** The longest wait a server's Retry-After can impose on one retry (a hostile value is capped). */
export const MAX_RETRY_AFTER_MS = 10 * 60_000;

/**
 * The server cannot answer now; trying again later may work (after `retryAfterMs` if it said).
 * The message is classified (unreachable, timed out, answered 503…) and safe to show whoever
 * owns the server; `detail` is the raw cause (addresses, system errors), for operators' logs.
 */
export class UpstreamUnavailableError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'UpstreamUnavailableError';
  }
}

/** The server answered, and the answer is no (status, redirect, or a body over the cap). */
export class UpstreamRefusedError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
    this.name = 'UpstreamRefusedError';
  }
}

/**
 * Retry-After (RFC 9110: delay-seconds or an HTTP-date) in milliseconds from `nowMs`, capped
 * at MAX_RETRY_AFTER_MS; undefined when absent, unreadable or already past.
 */
export function retryAfterMs(header: string | null, nowMs: number): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value) - nowMs;
  if (!Number.isFinite(ms) || ms <= 0) return undefined;
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}

export interface OutboundResponse {
  status: number;
  headers: Headers;
  text: string;
}

/** The URL to call, if it may be called: http(s), and an address the policy admits (else refused). */
function allowedTarget(url: string | URL, who: string): URL {
  const target = new URL(url);
  if (target.protocol !== 'https:' && target.protocol !== 'http:')
    throw new UpstreamRefusedError(`${who}: only http(s) URLs are called`, null);
  try {
    checkAddress(target, who);
  } catch (err) {
    if (err instanceof AddressRefusedError) throw new UpstreamRefusedError(err.message, null);
    throw err;
  }
  return target;
}

/**
 * One call to `url`. Resolves with a 2xx answer and its body (at most `maxBytes`); throws
 * UpstreamUnavailableError or UpstreamRefusedError otherwise. `who` names the server in messages.
 */
export async function callUpstream(
  url: string | URL,
  init: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string },
  opts: { who: string; timeoutMs?: number; maxBytes?: number },
): Promise<OutboundResponse> {
  const { who, timeoutMs = OUTBOUND_TIMEOUT_MS, maxBytes = OUTBOUND_MAX_RESPONSE_BYTES } = opts;
  allowedTarget(url, who);
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await pinnedFetch(url, { ...init, redirect: 'manual', signal, dispatcher });
  } catch (err) {
    if (refusedAtConnect(err))
      throw new UpstreamRefusedError(`${who} refused by the address policy: not a public address`, null);
    const timedOut = signal.aborted;
    throw new UpstreamUnavailableError(
      timedOut ? `${who} timed out after ${timeoutMs} ms` : `${who} unreachable`,
      undefined,
      reason(err),
    );
  }
  if (res.status === 429 || res.status >= 500) {
    await res.body?.cancel().catch(() => {});
    throw new UpstreamUnavailableError(
      `${who} answered ${res.status}`,
      retryAfterMs(res.headers.get('retry-after'), Date.now()),
    );
  }
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel().catch(() => {});
    throw new UpstreamRefusedError(
      `${who} redirected (${res.status}); redirects are not followed`,
      res.status,
    );
  }
  let text: string;
  try {
    text = await readCapped(res, maxBytes, who);
  } catch (err) {
    if (err instanceof UpstreamRefusedError) throw err;
    throw new UpstreamUnavailableError(
      signal.aborted ? `${who} timed out after ${timeoutMs} ms` : `${who} broke off its answer`,
      undefined,
      reason(err),
    );
  }
  if (!res.ok) throw new UpstreamRefusedError(`${who} answered ${res.status}`, res.status);
  return { status: res.status, headers: res.headers, text };
}

/**
 * One call to `url` whose 2xx body is read as it arrives (a report file too large to hold):
 * the same rules as callUpstream — the address policy at connect time, no redirects, 429/5xx
 * worth retrying (UpstreamUnavailableError, with Retry-After), any other non-2xx refused
 * (UpstreamRefusedError) — except that the body is not buffered: `chunks` yields it piece by
 * piece, with the timeout on each wait for the server (not on the time the caller spends with
 * what it read), and `bytes()` counts what was read. Stopping early releases the connection.
 */
export async function streamUpstream(
  url: string | URL,
  init: { headers?: Record<string, string> },
  opts: { who: string; timeoutMs?: number },
): Promise<{ status: number; chunks: AsyncGenerator<Uint8Array>; bytes: () => number }> {
  const { who, timeoutMs = OUTBOUND_TIMEOUT_MS } = opts;
  const target = allowedTarget(url, who);
  // The timeout covers connecting and the answer's head; each read below has its own.
  const connect = new AbortController();
  const timer = setTimeout(() => connect.abort(), timeoutMs);
  let res: Response;
  try {
    res = await pinnedFetch(target, { ...init, redirect: 'manual', signal: connect.signal, dispatcher });
  } catch (err) {
    if (refusedAtConnect(err))
      throw new UpstreamRefusedError(`${who} refused by the address policy: not a public address`, null);
    throw new UpstreamUnavailableError(
      connect.signal.aborted ? `${who} timed out after ${timeoutMs} ms` : `${who} unreachable`,
      undefined,
      reason(err),
    );
  } finally {
    clearTimeout(timer);
  }
  if (res.status === 429 || res.status >= 500) {
    await res.body?.cancel().catch(() => {});
    throw new UpstreamUnavailableError(
      `${who} answered ${res.status}`,
      retryAfterMs(res.headers.get('retry-after'), Date.now()),
    );
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    throw new UpstreamRefusedError(
      res.status >= 300 && res.status < 400
        ? `${who} redirected (${res.status}); redirects are not followed`
        : `${who} answered ${res.status}`,
      res.status,
    );
  }
  let read = 0;
  const reader = res.body?.getReader() as ReadableStreamDefaultReader<Uint8Array> | undefined;
  async function* chunks(): AsyncGenerator<Uint8Array> {
    if (!reader) return;
    try {
      for (;;) {
        let wait: NodeJS.Timeout | undefined;
        const next = await Promise.race([
          reader.read(),
          new Promise<'timeout'>((resolve) => {
            wait = setTimeout(() => resolve('timeout'), timeoutMs);
          }),
        ]).catch((err: unknown) => {
          throw new UpstreamUnavailableError(`${who} broke off its answer`, undefined, reason(err));
        });
        clearTimeout(wait);
        if (next === 'timeout') throw new UpstreamUnavailableError(`${who} timed out after ${timeoutMs} ms`);
        if (next.done) return;
        read += next.value.byteLength;
        yield next.value;
      }
    } finally {
      await reader.cancel().catch(() => {});
    }
  }
  return { status: res.status, chunks: chunks(), bytes: () => read };
}

async function readCapped(res: Response, maxBytes: number, who: string): Promise<string> {
  if (!res.body) return '';
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body.cancel().catch(() => {});
    throw new UpstreamRefusedError(
      `${who} answered ${declared} bytes: more than the ${maxBytes} bytes allowed`,
      res.status,
    );
  }
  const reader = res.body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new UpstreamRefusedError(`${who} answered more than the ${maxBytes} bytes allowed`, res.status);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/**
 * Connections resolve names through the policy (policyLookup): the address checked is the one
 * connected to, and a name is looked up once per connection, not once to check and again to use.
 */
const dispatcher = new Agent({ connect: { lookup: policyLookup } });

function refusedAtConnect(err: unknown): boolean {
  for (let e = err as { cause?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
    if (e instanceof AddressRefusedError) return true;
    e = e.cause as { cause?: unknown } | undefined;
  }
  return false;
}

/** The raw cause of a failed call, for logs: the system error under fetch's "fetch failed". */
function reason(err: unknown): string {
  const e = err as { message?: unknown; cause?: { message?: unknown; code?: unknown } } | null;
  const cause = e?.cause;
  if (cause && typeof cause.message === 'string' && cause.message)
    return typeof cause.code === 'string' && !cause.message.includes(cause.code)
      ? `${cause.code}: ${cause.message}`
      : cause.message;
  return typeof e?.message === 'string' ? e.message : String(err);
}
