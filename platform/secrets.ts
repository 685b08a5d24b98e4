import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Secrets Clearhouse must use again later (webhook signing keys, provider credentials, a minted
 * API key waiting to be collected) cannot be stored as a hash; they are stored encrypted with
 * AES-256-GCM under keys that live outside the database (environment, secret manager).
 *
 * Format: `v2.<kid>.<iv>.<tag>.<data>` (base64url parts). The key id says which configured key
 * sealed it; the AEAD associated data binds the value to its owner and purpose
 * (`partner:<id>` + `webhook-signing`…), so a blob copied to another partner's row, or used for
 * another purpose, does not open. Blobs of the first format, `<iv>.<tag>.<data>` (no key id, no
 * associated data), still open with any configured key until `npm run secrets:rotate` re-seals
 * them.
 *
 * Keys: SECRETS_KEYS="kid1:material,kid0:material" — the first seals, every one opens. The single
 * SECRETS_KEY is the same as SECRETS_KEYS="k0:<SECRETS_KEY>".
 */

/** What a sealed value is for: part of what it is bound to. */
export const secretPurposes = ['webhook-signing', 'provider-credential', 'api-key-pickup'] as const;
export type SecretPurpose = (typeof secretPurposes)[number];

/** Whose value it is and what for: the associated data it is sealed with. */
export interface SecretContext {
  /** e.g. `partner:nova-slots` */
  owner: string;
  purpose: SecretPurpose;
}

export const partnerSecret = (partnerId: string, purpose: SecretPurpose): SecretContext => ({
  owner: `partner:${partnerId}`,
  purpose,
});

/** A sealed value as read from its row, with the owner and purpose the row (not the blob) gives it. */
export interface StoredSecret {
  sealed: string;
  context: SecretContext;
}

export interface SecretKey {
  kid: string;
  material: string;
}

/** The key id SECRETS_KEY stands under. */
export const LEGACY_KID = 'k0';
export const KID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const VERSION = 'v2';

/** Reads `kid1:material,kid0:material`; throws naming the problem. */
export function parseSecretKeys(spec: string): SecretKey[] {
  const keys = spec.split(',').map((part, i) => {
    const at = part.indexOf(':');
    const kid = at < 0 ? '' : part.slice(0, at).trim();
    const material = at < 0 ? '' : part.slice(at + 1);
    if (!KID_PATTERN.test(kid))
      throw new Error(`key ${i + 1}: write kid:material, the kid in letters, digits, _ or - (at most 32)`);
    if (material.length < 32) throw new Error(`key ${kid}: the material must be at least 32 characters`);
    return { kid, material };
  });
  const kids = new Set(keys.map((k) => k.kid));
  if (kids.size !== keys.length) throw new Error('a key id appears twice');
  return keys;
}

const aadOf = (kid: string, c: SecretContext): Buffer =>
  Buffer.from(`clearhouse.${VERSION}|${kid}|${c.owner}|${c.purpose}`, 'utf8');

const isStored = (v: string | StoredSecret): v is StoredSecret => typeof v !== 'string';

export class SecretBox {
  private readonly keys: { kid: string; key: Buffer }[];

  /** One key (SECRETS_KEY, key id k0) or several, the first sealing (SECRETS_KEYS). */
  constructor(keys: string | readonly SecretKey[]) {
    const list = typeof keys === 'string' ? [{ kid: LEGACY_KID, material: keys }] : keys;
    if (list.length === 0) throw new Error('a SecretBox needs at least one key');
    this.keys = list.map(({ kid, material }) => {
      if (!KID_PATTERN.test(kid)) throw new Error(`invalid key id ${JSON.stringify(kid)}`);
      // Any length of key material; SHA-256 gives the 32-byte AES key (as the first format did).
      return { kid, key: createHash('sha256').update(material, 'utf8').digest() };
    });
  }

  /** The key id new values are sealed under. */
  get currentKid(): string {
    return this.keys[0]!.kid;
  }

  seal(plaintext: string, context: SecretContext): string {
    const { kid, key } = this.keys[0]!;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(aadOf(kid, context));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, kid, ...[iv, cipher.getAuthTag(), data].map((b) => b.toString('base64url'))].join('.');
  }

  /**
   * Opens a value for the owner and purpose it must belong to: a stored value carries them (from
   * its row), a bare string needs them given. A value of the first format opens without them.
   */
  open(sealed: string | StoredSecret, context?: SecretContext): string {
    const blob = isStored(sealed) ? sealed.sealed : sealed;
    const ctx = isStored(sealed) ? sealed.context : context;
    const parts = blob.split('.');
    if (parts.length === 3) return this.openLegacy(parts);
    if (parts.length !== 5 || parts[0] !== VERSION) throw new Error('malformed sealed secret');
    const kid = parts[1]!;
    const entry = this.keys.find((k) => k.kid === kid);
    if (!entry) throw new Error(`sealed under key ${kid}, which is not configured (SECRETS_KEYS)`);
    if (!ctx) throw new Error('a sealed secret opens only for its owner and purpose');
    const [iv, tag, data] = parts.slice(2).map((p) => Buffer.from(p, 'base64url'));
    try {
      const decipher = createDecipheriv('aes-256-gcm', entry.key, iv!);
      decipher.setAAD(aadOf(kid, ctx));
      decipher.setAuthTag(tag!);
      return Buffer.concat([decipher.update(data!), decipher.final()]).toString('utf8');
    } catch {
      throw new Error(`sealed secret does not open for ${ctx.owner} (${ctx.purpose})`);
    }
  }

  /** Whether the value should be sealed again: first format, or another key than the current one. */
  needsReseal(sealed: string): boolean {
    const parts = sealed.split('.');
    return !(parts.length === 5 && parts[0] === VERSION && parts[1] === this.currentKid);
  }

  /** Opens the value for its owner and purpose and seals it under the current key. */
  reseal(stored: StoredSecret): string {
    return this.seal(this.open(stored), stored.context);
  }

  private openLegacy(parts: string[]): string {
    const [iv, tag, data] = parts.map((p) => Buffer.from(p, 'base64url'));
    if (!iv?.length || !tag?.length || !data) throw new Error('malformed sealed secret');
    for (const { key } of this.keys) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv);
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8');
      } catch {
        // Another configured key may be the one it was sealed with.
      }
    }
    throw new Error('sealed secret (first format) opens with none of the configured keys');
  }
}
