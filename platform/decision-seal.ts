import type { Payload, PayloadCodec } from '@temporalio/common';
import { METADATA_ENCODING_KEY } from '@temporalio/common';
import { createPrivateKey, createPublicKey, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import type { Actor } from '../domain/actors';
import {
  CODEC_ONLY_ENCODINGS,
  DEFAULT_SEAL_TTL_MS,
  MAX_SEAL_TTL_MS,
  REFUSED_DECISION_ENCODING,
  SEALED_DECISION_ENCODING,
  VERIFIED_DECISION_ENCODING,
  type DecisionSeal,
  type DecisionTarget,
  type SealSource,
  type SignedDecision,
} from '../domain/decisions';
import { encodingOf } from '../workflows/payload-converter';

/**
 * Decision seals (domain/decisions.ts), the Node side: Ed25519 keys, sealing (the API and its
 * codec endpoint hold the private key) and verification (workers hold only public keys, every
 * key a history may replay with: a key retired from sealing stays in DECISION_SEAL_PUBLIC_KEYS).
 *
 * Wire format, in the history, with encoding `binary/clearhouse-sealed-decision`:
 * `{"v":1,"kid":"<key id>","signed":"<base64url of the SignedDecision JSON>","sig":"<base64url Ed25519>"}`.
 */

/** Key id, and key material as base64 DER (PKCS#8 private, SPKI public): `kid:base64`. */
const KEY_ENTRY = /^([A-Za-z0-9._-]{1,64}):([A-Za-z0-9+/=]+)$/;

export interface SealingKey {
  keyId: string;
  privateKey: KeyObject;
}

export function parseSealingKey(entry: string): SealingKey {
  const m = KEY_ENTRY.exec(entry.trim());
  if (!m) throw new Error('DECISION_SEAL_PRIVATE_KEY: expected <key id>:<base64 PKCS#8 Ed25519 key>');
  const privateKey = createPrivateKey({ key: Buffer.from(m[2]!, 'base64'), format: 'der', type: 'pkcs8' });
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new Error('DECISION_SEAL_PRIVATE_KEY: the key is not an Ed25519 key');
  return { keyId: m[1]!, privateKey };
}

/** `kid:base64,kid:base64`: every public key a seal in a history may have been made with. */
export function parseVerifyKeys(list: string): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  for (const entry of list.split(',').filter((e) => e.trim())) {
    const m = KEY_ENTRY.exec(entry.trim());
    if (!m) throw new Error('DECISION_SEAL_PUBLIC_KEYS: expected <key id>:<base64 SPKI Ed25519 key>, …');
    const key = createPublicKey({ key: Buffer.from(m[2]!, 'base64'), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'ed25519')
      throw new Error(`DECISION_SEAL_PUBLIC_KEYS: key ${m[1]} is not an Ed25519 key`);
    keys.set(m[1]!, key);
  }
  return keys;
}

/** The public half of a sealing key, as DECISION_SEAL_PUBLIC_KEYS lists it. */
export function publicKeyEntry(key: SealingKey): string {
  const spki = createPublicKey(key.privateKey).export({ type: 'spki', format: 'der' });
  return `${key.keyId}:${spki.toString('base64')}`;
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const encodingMeta = (encoding: string) => ({ [METADATA_ENCODING_KEY]: utf8(encoding) });

/** Seals one decision for one target, as one actor, for `ttlMs`. */
export function sealDecision(
  key: SealingKey,
  d: {
    target: DecisionTarget;
    actor: Actor;
    source: SealSource;
    decision: Record<string, unknown>;
    ttlMs?: number;
    nowMs?: number;
  },
): { payload: Payload; seal: DecisionSeal } {
  const issuedAt = d.nowMs ?? Date.now();
  const ttl = Math.min(d.ttlMs ?? DEFAULT_SEAL_TTL_MS, MAX_SEAL_TTL_MS);
  const seal: DecisionSeal = {
    target: d.target,
    actor: d.actor,
    source: d.source,
    issuedAt,
    expiresAt: issuedAt + ttl,
    nonce: randomUUID(),
    keyId: key.keyId,
  };
  const signed = Buffer.from(JSON.stringify({ v: 1, decision: d.decision, seal } satisfies SignedDecision));
  const sig = sign(null, signed, key.privateKey);
  const envelope = {
    v: 1,
    kid: key.keyId,
    signed: signed.toString('base64url'),
    sig: sig.toString('base64url'),
  };
  return {
    payload: { metadata: encodingMeta(SEALED_DECISION_ENCODING), data: utf8(JSON.stringify(envelope)) },
    seal,
  };
}

export type Verified =
  { ok: true; signed: SignedDecision } | { ok: false; problem: string; decision?: unknown };

/** Checks a sealed payload's signature (not its target or freshness: the workflow does). */
export function verifySealed(data: Uint8Array | null | undefined, keys: Map<string, KeyObject>): Verified {
  let envelope: { v?: unknown; kid?: unknown; signed?: unknown; sig?: unknown };
  try {
    envelope = JSON.parse(Buffer.from(data ?? []).toString('utf8')) as typeof envelope;
  } catch {
    return { ok: false, problem: 'the seal is not readable' };
  }
  if (
    envelope.v !== 1 ||
    typeof envelope.kid !== 'string' ||
    typeof envelope.signed !== 'string' ||
    typeof envelope.sig !== 'string'
  )
    return { ok: false, problem: 'the seal is not readable' };
  const key = keys.get(envelope.kid);
  if (!key) return { ok: false, problem: `the seal's key ${envelope.kid} is not one this worker knows` };
  const signed = Buffer.from(envelope.signed, 'base64url');
  let parsed: SignedDecision;
  try {
    parsed = JSON.parse(signed.toString('utf8')) as SignedDecision;
  } catch {
    return { ok: false, problem: 'the seal is not readable' };
  }
  if (!verify(null, signed, key, Buffer.from(envelope.sig, 'base64url')))
    return { ok: false, problem: "the seal's signature does not verify", decision: parsed?.decision };
  if (parsed.v !== 1 || parsed.seal?.keyId !== envelope.kid || typeof parsed.decision !== 'object')
    return { ok: false, problem: 'the seal is not readable' };
  return { ok: true, signed: parsed };
}

const jsonPayload = (encoding: string, value: unknown): Payload => ({
  metadata: encodingMeta(encoding),
  data: utf8(JSON.stringify(value)),
});

/**
 * The workers' codec. Never throws: a sealed decision comes out verified (its signed document)
 * or refused (with the reason, for the validator to say); a payload that arrives already
 * marked as the codec's own output is stripped to a refusal, so nothing typed can pose as
 * verified. Everything else passes unchanged. Deterministic for a given key set, so a replay
 * decides as the original run did (keys are only ever added, never removed, while histories
 * that used them may replay).
 */
export class DecisionCodec implements PayloadCodec {
  constructor(private readonly keys: Map<string, KeyObject>) {}

  encode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve(payloads);
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve(payloads.map((p) => this.decodeOne(p)));
  }

  private decodeOne(p: Payload): Payload {
    let encoding: string;
    try {
      encoding = encodingOf(p);
    } catch {
      return p;
    }
    if ((CODEC_ONLY_ENCODINGS as readonly string[]).includes(encoding))
      return jsonPayload(REFUSED_DECISION_ENCODING, { problem: 'the payload posed as verified' });
    if (encoding !== SEALED_DECISION_ENCODING) return p;
    try {
      const v = verifySealed(p.data, this.keys);
      return v.ok
        ? jsonPayload(VERIFIED_DECISION_ENCODING, v.signed)
        : jsonPayload(REFUSED_DECISION_ENCODING, { problem: v.problem, decision: v.decision ?? {} });
    } catch {
      return jsonPayload(REFUSED_DECISION_ENCODING, { problem: 'the seal could not be checked' });
    }
  }
}

/** The keys a worker verifies with: the configured list, else the sealing key's public half. */
export function verifyKeysFrom(settings: {
  privateKey: string | null;
  publicKeys: string | null;
}): Map<string, KeyObject> {
  if (settings.publicKeys) return parseVerifyKeys(settings.publicKeys);
  if (settings.privateKey) return parseVerifyKeys(publicKeyEntry(parseSealingKey(settings.privateKey)));
  throw new Error(
    'no decision seal keys: set DECISION_SEAL_PUBLIC_KEYS (workers) or DECISION_SEAL_PRIVATE_KEY',
  );
}
