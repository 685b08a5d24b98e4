import http from 'node:http';
import type { AddressInfo } from 'node:net';
// @ts-expect-error plain JavaScript module (scripts/lib), no declarations
import { startUiGateway } from '../scripts/lib/ui-gateway.mjs';

// The UI's gateway serves the codec and its sign-in from the API, the Temporal UI for the rest,
// and nothing else of the API, however the path is spelled.
describe('ui-gateway', () => {
  const servers: http.Server[] = [];
  let gateway: { port: number; close: () => Promise<void> };
  const echo = (name: string) =>
    new Promise<string>((resolve) => {
      const s = http.createServer((req, res) =>
        res.end(`${name} ${req.url} ${String(req.headers['x-forwarded-prefix'] ?? '')}`.trim()),
      );
      servers.push(s);
      s.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(s.address() as AddressInfo).port}`));
    });
  beforeAll(async () => {
    gateway = (await startUiGateway({
      port: 0,
      apiTarget: await echo('API'),
      uiTarget: await echo('UI'),
    })) as {
      port: number;
      close: () => Promise<void>;
    };
  });
  afterAll(async () => {
    await gateway.close();
    for (const s of servers) s.close();
  });

  /** A request with the path exactly as written (no client-side normalization). */
  const get = (rawPath: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: gateway.port, path: rawPath, method: 'POST' },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });

  it('forwards the codec and its sign-in to the API, the rest to the UI', async () => {
    expect(await get('/clearhouse/codec/encode?preserveStorageRefs=true')).toEqual({
      status: 200,
      body: 'API /codec/encode?preserveStorageRefs=true /clearhouse',
    });
    for (const p of ['decode', 'sign-in', 'session', 'sign-out'])
      expect((await get(`/clearhouse/codec/${p}`)).body).toBe(`API /codec/${p} /clearhouse`);
    expect((await get('/namespaces/default/workflows?query=a%2Fb')).body).toBe(
      'UI /namespaces/default/workflows?query=a%2Fb',
    );
  });

  it('serves nothing else of the API, however the path is spelled', async () => {
    for (const p of [
      '/clearhouse/v1/partners',
      '/clearhouse/codec/../v1/settlements',
      '/clearhouse/codec/%2e%2e/audit',
      '/clearhouse/codec/%2E%2E%2Fv1%2Faudit',
      '/clearhouse/codec/encode/../../v1/audit',
      '/clearhouse/codec/encode%2f..%2f..%2fv1',
      '/clearhouse/codec/..%5cv1',
      '/clearhouse',
    ])
      expect({ p, ...(await get(p)) }).toEqual({ p, status: 404, body: 'not found\n' });
  });
});
