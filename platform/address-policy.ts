import {
  lookup as lookupCallback,
  type LookupAddress,
  type LookupAllOptions,
  type LookupOptions,
} from 'node:dns';
import { BlockList, isIP } from 'node:net';

// Where Clearhouse may send a request. A partner supplies its report URL and its webhook URL:
// hostile input, so a call may only reach public addresses — never loopback, private,
// link-local (cloud metadata at 169.254.169.254 included), shared, multicast or reserved ones —
// unless an operator allow-lists the host (the embedded demo allow-lists its own simulators).
// The name is resolved and every address it resolves to is checked, not only the name.

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['::ffff:0:0', 96], // IPv4-mapped: checked as IPv4 below
  ['::', 96], // IPv4-compatible (deprecated)
  ['64:ff9b::', 96], // NAT64: reaches any IPv4 address, metadata included
  ['64:ff9b:1::', 48],
  ['2002::', 16], // 6to4
  ['fec0::', 10], // site-local (deprecated)
] as const)
  blocked.addSubnet(net, prefix, 'ipv6');

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

function isBlocked(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return blocked.check(mapped[1]!, 'ipv4');
  return blocked.check(address, 'ipv6');
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
