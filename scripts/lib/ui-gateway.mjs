// The Temporal Web UI and Clearhouse's codec on one origin. The UI's Update dialog sends its
// input to the codec endpoint's /encode (README, "Decisions from the Temporal UI"); served from
// the UI's own origin, that fetch carries the person's Clearhouse session cookie by default
// (same-origin credentials), with no CORS and no per-browser setting. Paths under /clearhouse/
// /clearhouse/codec/ go to the API's /codec/ (the codec, the sign-in page); everything else to
// the Temporal UI server.
// Plain JavaScript: `npm run dev` starts it before TypeScript tooling is needed.
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const PREFIX = '/clearhouse';
/** Only the codec and its sign-in go to the API: the rest of the API is not served here. */
const CODEC_PATHS = new Set(
  ['encode', 'decode', 'sign-in', 'session', 'sign-out'].map((p) => `${PREFIX}/codec/${p}`),
);

/** Hop-by-hop headers are not forwarded (RFC 9110 §7.6.1). */
const HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);

function forward(req, res, target, path, extra = {}) {
  const url = new URL(path, target);
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) headers[k] = v;
  headers.host = url.host;
  headers['x-forwarded-host'] = req.headers.host ?? '';
  headers['x-forwarded-proto'] = req.headers['x-forwarded-proto'] ?? 'http';
  Object.assign(headers, extra);
  const upstream = http.request(url, { method: req.method, headers }, (up) => {
    const out = {};
    for (const [k, v] of Object.entries(up.headers)) if (!HOP.has(k)) out[k] = v;
    res.writeHead(up.statusCode ?? 502, out);
    up.pipe(res);
  });
  upstream.on('error', (err) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`upstream unavailable: ${err.message}\n`);
  });
  req.pipe(upstream);
}

/**
 * Starts the gateway on `port` (0: any free one). `uiTarget` is the Temporal UI server
 * (`http://127.0.0.1:8234`), `apiTarget` Clearhouse's API (`http://127.0.0.1:3000`).
 * @returns {Promise<{ url: string, port: number, close: () => Promise<void> }>}
 */
export function startUiGateway({ port, host = '127.0.0.1', uiTarget, apiTarget }) {
  const server = http.createServer((req, res) => {
    const raw = req.url ?? '/';
    // Judged on the path as the upstream would resolve it; towards the API, dot segments and
    // their encodings (`..`, `%2e%2e`, `%2f`) never reach past the allow-list.
    const { pathname, search } = new URL(raw, 'http://gateway');
    const toApi = pathname === PREFIX || pathname.startsWith(`${PREFIX}/`) || raw.startsWith(PREFIX);
    const dotted = /(^|\/)(\.|%2e){1,2}(\/|$)|%2f|%5c|\\/i.test(raw);
    if (toApi && CODEC_PATHS.has(pathname) && !dotted)
      forward(req, res, apiTarget, `${pathname.slice(PREFIX.length)}${search}`, {
        'x-forwarded-prefix': PREFIX,
      });
    else if (toApi) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    else forward(req, res, uiTarget, raw);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const bound = server.address().port;
      resolve({
        url: `http://${host}:${bound}`,
        port: bound,
        close: () =>
          new Promise((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}

/** The codec endpoint the Temporal UI is configured with, for a gateway at `gatewayUrl`. */
export const codecEndpointOf = (gatewayUrl) => `${gatewayUrl}${PREFIX}/codec`;

// Run directly (compose's ui-gateway): UI_GATEWAY_PORT, UI_GATEWAY_HOST, TEMPORAL_UI_SERVER_URL,
// CLEARHOUSE_API_URL.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const env = process.env;
  // No top-level await: jest loads this file as CommonJS in the browser test.
  void startUiGateway({
    port: Number(env.UI_GATEWAY_PORT ?? 8233),
    host: env.UI_GATEWAY_HOST ?? '127.0.0.1',
    uiTarget: env.TEMPORAL_UI_SERVER_URL ?? 'http://127.0.0.1:8080',
    apiTarget: env.CLEARHOUSE_API_URL ?? 'http://127.0.0.1:3000',
  }).then((gateway) => {
    process.stdout.write(`ui-gateway listening on ${gateway.url}\n`);
    for (const signal of ['SIGINT', 'SIGTERM'])
      process.on(signal, () => void gateway.close().then(() => process.exit(0)));
  });
}
