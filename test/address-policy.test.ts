import fc from 'fast-check';
import type { LookupAddress, LookupOptions } from 'node:dns';
import {
  AddressRefusedError,
  checkAddress,
  policyLookup,
  setAddressPolicy,
  type AddressPolicy,
} from '../platform/address-policy';

// The outbound address policy with production's settings: partner-supplied URLs may reach
// public addresses only, whichever family or spelling carries them. jest's setupFiles
// (test/support/address-policy.ts) allow-list loopback for the other tests, so these set
// production's settings themselves and put the test settings back afterwards.
const PRODUCTION: AddressPolicy = { allowedHosts: [], httpsOnly: true };
const TEST_SETTINGS: AddressPolicy = { allowedHosts: ['localhost', '127.0.0.1', '::1'] };

const ADMITTED = [
  '8.8.8.8',
  '1.1.1.1',
  '93.184.216.34',
  // Just outside the refused IPv4 ranges.
  '9.255.255.255',
  '11.0.0.0',
  '100.63.255.255',
  '100.128.0.0',
  '126.255.255.255',
  '128.0.0.0',
  '169.253.255.255',
  '169.255.0.0',
  '172.15.255.255',
  '172.32.0.0',
  '192.0.1.0',
  '192.88.98.255',
  '192.167.255.255',
  '192.169.0.0',
  '198.17.255.255',
  '198.20.0.0',
  '223.255.255.255',
  // IPv6 global unicast.
  '2606:4700:4700::1111',
  '2001:4860:4860::8888',
  '2a00:1450:4001:82b::200e',
  '2001:200::1', // just past 2001::/23
  '2001:db9::1', // just past 2001:db8::/32
  '2003::1', // just past 2002::/16
  '3ffe:ffff::1', // just before 3fff::/20
  // Forms carrying a public IPv4 address, judged as that address.
  '::ffff:8.8.8.8',
  '::ffff:808:808',
  '::ffff:0:808:808', // SIIT
  '64:ff9b::808:808', // NAT64 well-known prefix
  '64:ff9b::1.1.1.1',
];

const REFUSED = [
  // IPv4
  '0.0.0.0', // "this network"
  '0.255.255.255',
  '10.0.0.1', // private use
  '10.255.255.255',
  '100.64.0.1', // shared (carrier-grade NAT)
  '100.100.100.200', // a cloud's metadata service, in shared space
  '100.127.255.255',
  '127.0.0.1', // loopback
  '127.255.255.254',
  '169.254.169.254', // link-local: cloud metadata
  '169.254.0.1',
  '172.16.0.1', // private use
  '172.31.255.255',
  '192.0.0.1', // IETF protocol assignments
  '192.0.0.170',
  '192.0.2.1', // documentation
  '192.88.99.1', // 6to4 relay anycast
  '192.168.1.1', // private use
  '198.18.0.1', // benchmarking
  '198.19.255.255',
  '198.51.100.7', // documentation
  '203.0.113.9', // documentation
  '224.0.0.1', // multicast
  '239.255.255.250',
  '240.0.0.1', // reserved
  '255.255.255.255', // broadcast
  // IPv6 outside global unicast
  '::', // unspecified
  '::1', // loopback
  'fe80::1', // link-local
  'fc00::1', // unique local
  'fd00:ec2::254', // unique local: a cloud's IPv6 metadata service
  'fec0::1', // site-local
  'ff02::1', // multicast
  'ff05::1:3',
  '100::1', // discard-only
  '64:ff9b:1::a9fe:a9fe', // local-use NAT64
  '5f00::1', // SRv6 segment identifiers
  '4000::1', // unassigned
  '1::1',
  // IPv6 special-purpose ranges inside global unicast
  '2001::1', // Teredo
  '2001:0:4136:e378:8000:63bf:3fff:fdd2',
  '2001:2::1', // benchmarking
  '2001:10::1', // ORCHID
  '2001:20::1', // ORCHIDv2
  '2001:1ff:ffff::1', // end of 2001::/23
  '2001:db8::1', // documentation
  '2001:db8:ffff::1',
  '3fff::1', // documentation
  '3fff:fff::1',
  '2002:7f00:1::1', // 6to4 carrying 127.0.0.1
  '2002:808:808::1', // 6to4 carrying a public address: refused all the same
  // IPv4-compatible (deprecated), whatever it carries
  '::127.0.0.1',
  '::7f00:1',
  '::8.8.8.8',
  // IPv4-mapped, dotted and hex
  '::ffff:127.0.0.1',
  '::ffff:7f00:1',
  '::FFFF:7F00:1',
  '0:0:0:0:0:ffff:7f00:1',
  '::ffff:169.254.169.254',
  '::ffff:a9fe:a9fe',
  '::ffff:10.0.0.1',
  '::ffff:a00:1',
  '::ffff:192.168.1.1',
  '::ffff:c0a8:101',
  '::ffff:0.0.0.0',
  '::ffff:255.255.255.255',
  // IPv4-translated (SIIT)
  '::ffff:0:a9fe:a9fe',
  '::ffff:0:169.254.169.254',
  '::ffff:0:7f00:1',
  '::ffff:0:10.0.0.1',
  // NAT64 well-known prefix
  '64:ff9b::a9fe:a9fe',
  '64:ff9b::169.254.169.254',
  '64:ff9b::7f00:1',
  '64:ff9b::127.0.0.1',
  '64:ff9b::a00:1',
];

const NOT_PUBLIC = 'partner refused by the address policy: not a public address';
const REFUSED_AT_CONNECT = 'refused (EADDRREFUSED)';
const HTTPS_ONLY = 'partner refused by the address policy: only https URLs are called';

/** What checkAddress says of a URL: 'admitted' or the refusal's message. */
function checked(url: string | URL): string {
  try {
    checkAddress(new URL(url), 'partner');
    return 'admitted';
  } catch (err) {
    if (err instanceof AddressRefusedError) return err.message;
    throw err;
  }
}

const urlOf = (address: string) => `https://${address.includes(':') ? `[${address}]` : address}/report`;

/** What policyLookup says of a host: the address(es) it connects to, or its refusal. */
function lookedUp(host: string, options: LookupOptions = {}): Promise<string | LookupAddress[]> {
  return new Promise((resolve, reject) =>
    policyLookup(host, options, (err, address) => {
      if (err instanceof AddressRefusedError) resolve(`refused (${(err as NodeJS.ErrnoException).code})`);
      else if (err) reject(err);
      else resolve(address);
    }),
  );
}

describe('address policy, production settings', () => {
  beforeEach(() => setAddressPolicy(PRODUCTION));
  afterAll(() => setAddressPolicy(TEST_SETTINGS));

  it('admits public IPv4 and IPv6 addresses, before sending and at connect time', async () => {
    const seen = await Promise.all(
      ADMITTED.map(async (address) => ({
        address,
        beforeSending: checked(urlOf(address)),
        atConnect: await lookedUp(address),
      })),
    );
    expect(seen).toEqual(
      ADMITTED.map((address) => ({ address, beforeSending: 'admitted', atConnect: address })),
    );
  });

  it('refuses every non-public range in both families, mapped and translated forms included', async () => {
    const seen = await Promise.all(
      REFUSED.map(async (address) => ({
        address,
        beforeSending: checked(urlOf(address)),
        atConnect: await lookedUp(address),
      })),
    );
    expect(seen).toEqual(
      REFUSED.map((address) => ({ address, beforeSending: NOT_PUBLIC, atConnect: REFUSED_AT_CONNECT })),
    );
  });

  it('refuses a connection when any address a name resolves to is not public', async () => {
    expect(checked('https://localhost/report')).toBe('admitted'); // a name: judged where it resolves
    await expect(lookedUp('localhost')).resolves.toBe(REFUSED_AT_CONNECT);
    await expect(lookedUp('localhost', { all: true })).resolves.toBe(REFUSED_AT_CONNECT);
  });

  it('answers a lookup in the form asked for when the addresses are public', async () => {
    await expect(lookedUp('8.8.8.8', { all: true })).resolves.toEqual([{ address: '8.8.8.8', family: 4 }]);
  });

  it('refuses private addresses however the URL spells them', () => {
    const urls = [
      'https://0x7f000001/', // WHATWG URL reads IPv4 as hex, decimal or octal numbers
      'https://2130706433/',
      'https://0177.0.0.1/',
      'https://127.1/',
      'https://0/',
      'https://0xa9.0xfe.0xa9.0xfe/latest/meta-data/',
      'https://0251.0376.0251.0376/latest/meta-data/',
      'https://169.254.169.254/latest/meta-data/',
      'https://[fd00:ec2::254]/latest/meta-data/',
      'https://[::1]:8443/report',
      'https://[::]/',
      'https://[::ffff:127.0.0.1]/',
      'https://[0:0:0:0:0:FFFF:7F00:1]/',
      'https://[::ffff:0:169.254.169.254]/',
      'https://[64:ff9b::169.254.169.254]/',
      'https://[2001:db8::1]/',
    ];
    expect(urls.map((url) => ({ url, seen: checked(url) }))).toEqual(
      urls.map((url) => ({ url, seen: NOT_PUBLIC })),
    );
  });

  it('calls over https only, to any host', () => {
    expect(checked('http://8.8.8.8/report')).toBe(HTTPS_ONLY);
    expect(checked('http://[2606:4700:4700::1111]/report')).toBe(HTTPS_ONLY);
    expect(checked('http://partner.example/report')).toBe(HTTPS_ONLY);
    expect(checked('https://partner.example/report')).toBe('admitted');
    expect(checked('https://[2606:4700:4700::1111]:8443/report')).toBe('admitted');
  });

  it('still reaches allow-listed hosts, and only those, over http too', async () => {
    setAddressPolicy({ allowedHosts: ['LocalHost', '127.0.0.1', '::1', 'fx.internal'], httpsOnly: true });
    expect(checked('http://127.0.0.1:4000/rates')).toBe('admitted');
    expect(checked('http://[::1]:4000/rates')).toBe('admitted');
    expect(checked('http://localhost:4000/rates')).toBe('admitted');
    expect(checked('http://fx.internal/rates')).toBe('admitted');
    expect(await lookedUp('localhost')).toMatch(/^(127\.0\.0\.1|::1)$/);
    expect(await lookedUp('127.0.0.1')).toBe('127.0.0.1');
    // Other non-public addresses stay refused.
    expect(checked('https://127.0.0.2/')).toBe(NOT_PUBLIC);
    expect(checked('https://[::ffff:127.0.0.1]/')).toBe(NOT_PUBLIC);
    expect(checked('https://169.254.169.254/')).toBe(NOT_PUBLIC);
    expect(checked('http://partner.example/')).toBe(HTTPS_ONLY);
    expect(await lookedUp('127.0.0.2')).toBe(REFUSED_AT_CONNECT);
  });

  it('property: a form carrying an IPv4 address is judged as that address; IPv4-compatible and 6to4 never pass', () => {
    const ipv4 = fc.oneof(fc.ipV4(), fc.constantFrom(...REFUSED.filter((a) => !a.includes(':'))));
    fc.assert(
      fc.property(ipv4, (address) => {
        const verdict = checked(urlOf(address));
        const [a, b, c, d] = address.split('.').map(Number) as [number, number, number, number];
        const hex = `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
        expect({
          mapped: checked(urlOf(`::ffff:${address}`)),
          mappedHex: checked(urlOf(`::ffff:${hex}`)),
          siit: checked(urlOf(`::ffff:0:${address}`)),
          nat64: checked(urlOf(`64:ff9b::${hex}`)),
          compatible: checked(urlOf(`::${address}`)),
          sixToFour: checked(urlOf(`2002:${hex}::1`)),
        }).toEqual({
          mapped: verdict,
          mappedHex: verdict,
          siit: verdict,
          nat64: verdict,
          compatible: NOT_PUBLIC,
          sixToFour: NOT_PUBLIC,
        });
      }),
      { numRuns: 2000 },
    );
  });
});
