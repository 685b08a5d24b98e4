import { AddressRefusedError, policyLookup, setAddressPolicy } from '../platform/address-policy';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { callUpstream, UpstreamRefusedError, UpstreamUnavailableError } from '../platform/outbound-http';

// The one outbound client against real HTTP servers that misbehave: it never follows a
// redirect, caps time and bytes, and classifies each answer once (retry later, or refused).
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{
  url: string;
  hits: () => number;
  close: () => Promise<void>;
}> {
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    hits: () => hits,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const fail = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e,
  );

describe('callUpstream', () => {
  it('answers a 2xx with its body', async () => {
    const s = await serve((_q, r) => r.writeHead(200).end('{"ok":true}'));
    await expect(callUpstream(s.url, {}, { who: 'test server' })).resolves.toMatchObject({
      status: 200,
      text: '{"ok":true}',
    });
    await s.close();
  });

  it('never follows a redirect, wherever it points', async () => {
    const elsewhere = await serve((_q, r) => r.writeHead(200).end('secret'));
    const s = await serve((_q, r) => r.writeHead(302, { location: elsewhere.url }).end());
    const err = await fail(callUpstream(s.url, {}, { who: 'test server' }));
    expect(err).toBeInstanceOf(UpstreamRefusedError);
    expect((err as Error).message).toBe('test server redirected (302); redirects are not followed');
    expect(elsewhere.hits()).toBe(0);
    await s.close();
    await elsewhere.close();
  });

  it('refuses a body over the cap, declared or streamed', async () => {
    const declared = await serve((_q, r) =>
      r.writeHead(200, { 'content-length': '2048' }).end('x'.repeat(2048)),
    );
    const streamed = await serve((_q, r) => {
      r.writeHead(200);
      r.write('x'.repeat(1500));
      r.end('x'.repeat(1500));
    });
    try {
      for (const s of [declared, streamed]) {
        const err = await fail(callUpstream(s.url, {}, { who: 'test server', maxBytes: 1024 }));
        expect(err).toBeInstanceOf(UpstreamRefusedError);
        expect((err as Error).message).toMatch(/more than the 1024 bytes allowed/);
      }
    } finally {
      await declared.close();
      await streamed.close();
    }
  });

  it('gives up on a server that does not answer in time: unavailable, to retry later', async () => {
    const s = await serve(() => {
      /* never answers */
    });
    const err = await fail(callUpstream(s.url, {}, { who: 'test server', timeoutMs: 300 }));
    expect(err).toBeInstanceOf(UpstreamUnavailableError);
    // Classified for whoever owns the server; the raw cause stays for operators' logs.
    expect((err as Error).message).toBe('test server timed out after 300 ms');
    expect((err as UpstreamUnavailableError).detail).toBeTruthy();
    await s.close();
  });

  it('says "unreachable" for a closed port, never the address or the system error', async () => {
    const gone = await serve(() => {});
    await gone.close(); // a port nothing listens on any more
    const err = await fail(callUpstream(gone.url, {}, { who: 'test server' }));
    expect((err as Error).message).toBe('test server unreachable');
    expect((err as UpstreamUnavailableError).detail).toMatch(/ECONNREFUSED|connect/);
  });

  it('reaches only public addresses unless allow-listed: loopback, metadata and private refused, by name too', async () => {
    const s = await serve((_q, r) => r.writeHead(200).end('ok'));
    setAddressPolicy({ allowedHosts: [] }); // production's default
    try {
      for (const url of [
        s.url,
        s.url.replace('127.0.0.1', 'localhost'),
        'http://169.254.169.254/latest/meta-data/',
        'http://10.1.2.3/report',
        'http://[::1]:1/report',
        'http://[::ffff:127.0.0.1]:1/report',
      ]) {
        const err = await fail(callUpstream(url, {}, { who: 'test server' }));
        expect({
          url,
          refused: err instanceof UpstreamRefusedError,
          message: (err as Error).message,
        }).toEqual({
          url,
          refused: true,
          message: 'test server refused by the address policy: not a public address',
        });
      }
      expect(s.hits()).toBe(0);
    } finally {
      setAddressPolicy({ allowedHosts: ['localhost', '127.0.0.1', '::1'] });
      await s.close();
    }
    const allowed = await serve((_q, r) => r.writeHead(200).end('ok'));
    expect((await callUpstream(allowed.url, {}, { who: 'test server' })).text).toBe('ok');
    await allowed.close();
  });

  it('calls only https URLs in production, except allow-listed internal hosts', async () => {
    const s = await serve((_q, r) => r.writeHead(200).end('ok'));
    setAddressPolicy({ allowedHosts: [], httpsOnly: true });
    try {
      const err = await fail(callUpstream('http://partner.example/report', {}, { who: 'test server' }));
      expect(err).toBeInstanceOf(UpstreamRefusedError);
      expect((err as Error).message).toBe(
        'test server refused by the address policy: only https URLs are called',
      );
      setAddressPolicy({ allowedHosts: ['127.0.0.1'], httpsOnly: true });
      expect((await callUpstream(s.url, {}, { who: 'test server' })).text).toBe('ok');
    } finally {
      setAddressPolicy({ allowedHosts: ['localhost', '127.0.0.1', '::1'] });
      await s.close();
    }
  });

  it('checks the address a connection actually uses, not only a name resolved earlier (DNS rebinding)', async () => {
    const lookupOf = (host: string) =>
      new Promise<{ err: Error | null; address: unknown }>((resolve) =>
        policyLookup(host, {}, (err, address) => resolve({ err, address })),
      );
    setAddressPolicy({ allowedHosts: [] });
    try {
      const refused = await lookupOf('localhost');
      expect(refused.err).toBeInstanceOf(AddressRefusedError);
      expect(refused.err!.message).toMatch(/non-public address at connect time/);
    } finally {
      setAddressPolicy({ allowedHosts: ['localhost', '127.0.0.1', '::1'] });
    }
    const allowed = await lookupOf('localhost');
    expect(allowed.err).toBeNull();
    expect(allowed.address).toMatch(/^(127\.0\.0\.1|::1)$/);
  });

  it('classifies 429 and 5xx as unavailable with their Retry-After, other statuses as refused', async () => {
    const busy = await serve((_q, r) => r.writeHead(503, { 'retry-after': '7' }).end());
    const gone = await serve((_q, r) => r.writeHead(404).end('no'));
    const unavailable = await fail(callUpstream(busy.url, {}, { who: 'test server' }));
    expect(unavailable).toBeInstanceOf(UpstreamUnavailableError);
    expect((unavailable as UpstreamUnavailableError).retryAfterMs).toBe(7000);
    const refused = await fail(callUpstream(gone.url, {}, { who: 'test server' }));
    expect(refused).toBeInstanceOf(UpstreamRefusedError);
    expect((refused as UpstreamRefusedError).status).toBe(404);
    await busy.close();
    await gone.close();
  });
});
