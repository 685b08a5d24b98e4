import {
  BinaryPayloadConverter,
  CompositePayloadConverter,
  JsonPayloadConverter,
  METADATA_ENCODING_KEY,
  UndefinedPayloadConverter,
  type Payload,
  type PayloadConverterWithEncoding,
} from '@temporalio/common';
import { decode } from '@temporalio/common/lib/encoding';
import {
  DECISION_SEAL,
  DECISION_SEAL_PROBLEM,
  REFUSED_DECISION_ENCODING,
  SEALED_DECISION_ENCODING,
  VERIFIED_DECISION_ENCODING,
  type SignedDecision,
} from '../domain/decisions';

const json = (p: Payload): unknown => JSON.parse(decode(p.data ?? new Uint8Array()));
const fields = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/**
 * A decision the workers' codec verified (domain/decisions.ts): its fields, with the seal hung
 * on a symbol that JSON cannot spell. Only the codec emits this encoding; it strips it from
 * anything that arrives with it.
 */
class VerifiedDecisionConverter implements PayloadConverterWithEncoding {
  readonly encodingType = VERIFIED_DECISION_ENCODING;
  toPayload(): undefined {
    return undefined;
  }
  fromPayload<T>(p: Payload): T {
    const signed = json(p) as SignedDecision;
    return { ...fields(signed.decision), [DECISION_SEAL]: signed.seal } as T;
  }
}

/** A seal the codec could not verify: the decision's fields (if readable) and why. */
class RefusedDecisionConverter implements PayloadConverterWithEncoding {
  readonly encodingType = REFUSED_DECISION_ENCODING;
  toPayload(): undefined {
    return undefined;
  }
  fromPayload<T>(p: Payload): T {
    const refused = fields(json(p));
    const problem = typeof refused.problem === 'string' ? refused.problem : 'unverified seal';
    return { ...fields(refused.decision), [DECISION_SEAL_PROBLEM]: problem } as T;
  }
}

/**
 * A sealed decision that reached a converter without passing the workers' codec (a client
 * reading history): readable, and never verified.
 */
class SealedDecisionConverter implements PayloadConverterWithEncoding {
  readonly encodingType = SEALED_DECISION_ENCODING;
  toPayload(): undefined {
    return undefined;
  }
  fromPayload<T>(): T {
    return { [DECISION_SEAL_PROBLEM]: 'not verified: no codec' } as T;
  }
}

/** The default converters, plus the three forms of a sealed decision. */
export const payloadConverter = new CompositePayloadConverter(
  new UndefinedPayloadConverter(),
  new BinaryPayloadConverter(),
  new JsonPayloadConverter(),
  new VerifiedDecisionConverter(),
  new RefusedDecisionConverter(),
  new SealedDecisionConverter(),
);

/** The encoding of a payload, or '' (for the codec's checks). */
export function encodingOf(p: Payload): string {
  const e = p.metadata?.[METADATA_ENCODING_KEY];
  return e ? decode(e) : '';
}
