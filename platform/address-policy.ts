import {
  lookup as lookupCallback,
  type LookupAddress,
  type LookupAllOptions,
  type LookupOptions,
} from 'node:dns';
import { isIP } from 'node:net';

// Where Clearhouse may send a request. A partner supplies its report URL and its webhook URL:
// hostile input, so a call may only reach public addresses — never loopback, private,
// link-local (cloud metadata at 169.254.169.254 included), shared, multicast, documentation or
// reserved ones, in either family or disguised as IPv6 — unless an operator allow-lists the host
// (the embedded demo allow-lists its own simulators). The name is resolved and every address it
// resolves to is checked, not only the name.

/** `carries IPv4`: the last 32 bits are an IPv4 address, and the address is judged as that one. */
type Verdict = 'public' | 'refused' | 'carries IPv4';

// An address takes the verdict of the most specific range holding it (longest prefix, as a
// route would), and an address in no range is refused: IPv6 is an allow-list, global unicast
// less its special-purpose ranges (IANA registries, RFC 6890). Where a special-purpose range has
// a globally reachable corner (anycast in 192.0.0.0/24, AMT and ORCHIDv2 in 2001::/23) the whole
// range is refused: no partner's report or webhook server lives there.
// prettier-ignore
const RANGES: readonly (readonly [cidr: string, verdict: Verdict, why: string])[] = [
  ['0.0.0.0/0',       'public',       'IPv4 unicast, except as below'],
  ['0.0.0.0/8',       'refused',      '"this network" (RFC 791)'],
  ['10.0.0.0/8',      'refused',      'private use (RFC 1918)'],
  ['100.64.0.0/10',   'refused',      'shared address space, carrier-grade NAT (RFC 6598)'],
  ['127.0.0.0/8',     'refused',      'loopback (RFC 1122)'],
  ['169.254.0.0/16',  'refused',      'link-local, cloud metadata at 169.254.169.254 (RFC 3927)'],
  ['172.16.0.0/12',   'refused',      'private use (RFC 1918)'],
  ['192.0.0.0/24',    'refused',      'IETF protocol assignments (RFC 6890)'],
  ['192.0.2.0/24',    'refused',      'documentation, TEST-NET-1 (RFC 5737)'],
  ['192.88.99.0/24',  'refused',      '6to4 relay anycast, deprecated (RFC 7526)'],
  ['192.168.0.0/16',  'refused',      'private use (RFC 1918)'],
  ['198.18.0.0/15',   'refused',      'benchmarking (RFC 2544)'],
  ['198.51.100.0/24', 'refused',      'documentation, TEST-NET-2 (RFC 5737)'],
  ['203.0.113.0/24',  'refused',      'documentation, TEST-NET-3 (RFC 5737)'],
  ['224.0.0.0/4',     'refused',      'multicast (RFC 5771)'],
  ['240.0.0.0/4',     'refused',      'reserved, 255.255.255.255 broadcast included (RFC 1112)'],

  ['2000::/3',        'public',       'IPv6 global unicast (RFC 4291), except as below'],
  ['2001::/23',       'refused',      'IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID (RFC 2928)'],
  ['2001:db8::/32',   'refused',      'documentation (RFC 3849)'],
  ['2002::/16',       'refused',      '6to4: a tunnel to any IPv4 address, private ones too (RFC 3056)'],
  ['3fff::/20',       'refused',      'documentation (RFC 9637)'],
  ['::ffff:0:0/96',   'carries IPv4', 'IPv4-mapped (RFC 4291)'],
  ['::ffff:0:0:0/96', 'carries IPv4', 'IPv4-translated, SIIT (RFC 2765)'],
  ['64:ff9b::/96',    'carries IPv4', 'NAT64 well-known prefix (RFC 6052)'],
  // Outside 2000::/3, so refused without being listed; named for the reader.
  ['::/128',          'refused',      'unspecified (RFC 4291)'],
  ['::1/128',         'refused',      'loopback (RFC 4291)'],
  ['::/96',           'refused',      'IPv4-compatible, deprecated (RFC 4291)'],
  ['64:ff9b:1::/48',  'refused',      'local-use NAT64 (RFC 8215)'],
  ['100::/64',        'refused',      'discard-only (RFC 6666)'],
  ['fc00::/7',        'refused',      'unique local (RFC 4193)'],
  ['fec0::/10',       'refused',      'site-local, deprecated (RFC 3879)'],
  ['fe80::/10',       'refused',      'link-local (RFC 4291)'],
  ['ff00::/8',        'refused',      'multicast (RFC 4291)'],
];

// Addresses are read with Node's own parsers and judged as numbers, not with node:net's
// BlockList nor ipaddr.js. BlockList checks an IPv4 address against IPv6 rules in its mapped
// form (::ffff:a.b.c.d), so a rule over ::ffff:0:0/96 or ::/96 refused every IPv4 address, and it
// cannot judge an address by the IPv4 address it carries. ipaddr.js misreads the address: 1.9
// cannot read 64:ff9b::1.1.1.1, and 2.x reads ::8.8.8.8 (IPv4-compatible) as ::ffff:8.8.8.8, a
// different address from the one connected to. net.isIP decides what is an address (the strict
// forms only), and the WHATWG URL parser — the one that read the partner's URL — writes an IPv6
// address in its one canonical form (hexadecimal, "::" for the longest run of zeros, no IPv4
// tail), which leaves only splitting to do here.
interface Address {
  family: 4 | 6;
  value: bigint;
}

/** The address `text` writes, or null if it is none (a name, or an IPv6 zone index). */
function addressOf(text: string): Address | null {
  const family = isIP(text);
  if (family === 4)
    return { family, value: text.split('.').reduce((v, byte) => (v << 8n) | BigInt(byte), 0n) };
  if (family !== 6) return null;
  let canonical: string;
  try {
    canonical = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return null; // a zone index (fe80::1%eth0), which no URL carries: refused
  }
  const [head, tail] = canonical.split('::');
  const groups = (part = '') => (part ? part.split(':').map((g) => BigInt(`0x${g}`)) : []);
  const high = groups(head);
  const low = groups(tail);
  const zeros = Array<bigint>(8 - high.length - low.length).fill(0n); // none when there is no "::"
  return { family, value: [...high, ...zeros, ...low].reduce((v, g) => (v << 16n) | g, 0n) };
}

const WIDTH = { 4: 32n, 6: 128n } as const;

interface Range extends Address {
  /** Bits after the prefix. */
  hostBits: bigint;
  verdict: Verdict;
}

function rangeOf(cidr: string, verdict: Verdict): Range {
  const [, network, bits = ''] = /^(.+)\/(\d+)$/.exec(cidr) ?? [];
  const address = network === undefined ? null : addressOf(network);
  const hostBits = address ? WIDTH[address.family] - BigInt(bits) : -1n;
  // A slip in the table must not quietly admit or refuse other addresses than it names.
  if (!address || hostBits < 0n || (address.value & ((1n << hostBits) - 1n)) !== 0n)
    throw new Error(`address policy: ${cidr} is not a network`);
  return { ...address, hostBits, verdict };
}

const mostSpecificFirst = RANGES.map(([cidr, verdict]) => rangeOf(cidr, verdict)).sort((a, b) =>
  Number(a.hostBits - b.hostBits),
);

function isPublic(address: Address): boolean {
  const verdict =
    mostSpecificFirst.find(
      (r) => r.family === address.family && address.value >> r.hostBits === r.value >> r.hostBits,
    )?.verdict ?? 'refused';
  if (verdict === 'carries IPv4') return isPublic({ family: 4, value: address.value & 0xffff_ffffn });
  return verdict === 'public';
}

/** Whether the policy refuses `address`, an address literal; what cannot be read is refused. */
function isBlocked(address: string): boolean {
  const parsed = addressOf(address);
  return parsed === null || !isPublic(parsed);
}

export interface AddressPolicy {
  /** Hosts (names or addresses) that may be reached although they are not public. */
  allowedHosts: string[];
  /** Production: plain http only to allow-listed hosts (an internal service), never to a partner. */
  httpsOnly?: boolean;
}

/** Production's default: public addresses only, over https. */
let policy: Required<AddressPolicy> = { allowedHosts: [], httpsOnly: true };

/** Set once at start-up from the configuration (workers/create.ts). */
export function setAddressPolicy(p: AddressPolicy): void {
  policy = { allowedHosts: p.allowedHosts.map((h) => h.toLowerCase()), httpsOnly: p.httpsOnly ?? false };
}

export class AddressRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AddressRefusedError';
  }
}

/**
 * Refuses, before anything is sent, a URL the policy does not allow by itself: plain http in
 * production, or an address literal outside the public ranges. A name is checked where it is
 * resolved for the connection (policyLookup), once, with the address actually used.
 */
export function checkAddress(url: URL, who: string): void {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (policy.allowedHosts.includes(host)) return;
  if (policy.httpsOnly && url.protocol !== 'https:')
    throw new AddressRefusedError(`${who} refused by the address policy: only https URLs are called`);
  if (isIP(host) && isBlocked(host))
    throw new AddressRefusedError(`${who} refused by the address policy: not a public address`);
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * The DNS lookup outbound connections use (platform/outbound-http.ts): a name is checked by
 * every address it resolves to, at the moment the socket connects, so no earlier answer (DNS
 * rebinding) can stand in for the address actually used.
 */
export function policyLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const all: LookupAllOptions = { ...options, all: true };
  lookupCallback(hostname, all, (err, addresses) => {
    if (err) return callback(err, []);
    if (!policy.allowedHosts.includes(host) && addresses.some((a) => isBlocked(a.address)))
      return callback(
        Object.assign(
          new AddressRefusedError(`${hostname} resolved to a non-public address at connect time`),
          {
            code: 'EADDRREFUSED',
          },
        ),
        [],
      );
    if (options.all) return callback(null, addresses);
    const first = addresses[0];
    if (!first)
      return callback(Object.assign(new Error(`${hostname} did not resolve`), { code: 'ENOTFOUND' }), []);
    callback(null, first.address, first.family);
  });
}
