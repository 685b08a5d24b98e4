import * as partners from '../db/partners';
import type { Db } from '../db/pool';
import { withTransaction } from '../db/retry';
import { ConflictError } from '../domain/errors';
import type { NewPartner, Partner } from '../domain/partner';
import { issueApiKey } from '../platform/credentials';
import type { SecretBox } from '../platform/secrets';

export function partnerActivities({ db, secrets }: { db: Db; secrets?: SecretBox }) {
  return {
    /**
     * Mints the partner's API key here, after the partner is registered: no workflow input
     * carries a key or its hash, so starting a workflow cannot choose a credential. Only the
     * hash is stored; the secret waits sealed for the API to show it once. Idempotent per key
     * id (the workflow's deterministic id): a retry that finds the key mints nothing.
     */
    async issuePartnerApiKey(input: { partnerId: string; keyId: string }): Promise<{ keyId: string }> {
      if (!secrets) throw new Error('no SecretBox configured to seal the new key');
      const key = issueApiKey(input.keyId);
      await withTransaction(db, (client) =>
        partners.storeIssuedApiKey(client, input.partnerId, {
          keyId: key.keyId,
          hash: key.hash,
          secretSealed: secrets.seal(key.plaintext),
        }),
      );
      return { keyId: key.keyId };
    },
    /**
     * Registers the applicant. A partner past onboarding is never taken over by an onboarding
     * (whoever can start a workflow must not re-point an active partner's report or webhook).
     */
    async registerPartner(p: NewPartner): Promise<Partner> {
      const stored = await partners.registerPartner(db, p);
      if (stored.status !== 'onboarding')
        throw new ConflictError(
          `partner ${p.id} is already ${stored.status}: an onboarding cannot take it over`,
          [{ path: 'partnerId', message: `already ${stored.status}` }],
        );
      return stored;
    },
    async activatePartner(partnerId: string): Promise<Partner> {
      return partners.activatePartner(db, partnerId);
    },
  };
}
