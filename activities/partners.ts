import * as partners from '../db/partners';
import type { Db } from '../db/pool';
import { withTransaction } from '../db/retry';
import type { Partner } from '../domain/partner';
import { issueApiKey } from '../platform/credentials';
import { partnerSecret, type SecretBox } from '../platform/secrets';
import { auditOnboardingStep } from './onboarding';

export function partnerActivities({ db, secrets }: { db: Db; secrets?: SecretBox }) {
  return {
    /**
     * Mints the partner's API key here, after the partner is registered: no workflow input
     * carries a key or its hash, so starting a workflow cannot choose a credential. Only the
     * hash is stored; the secret waits sealed (bound to the partner, for pickup) for the API to
     * show it once. Idempotent per key id (the workflow's deterministic id): a retry that finds
     * the key mints nothing. Audited in the same transaction.
     */
    async issuePartnerApiKey(input: { partnerId: string; keyId: string }): Promise<{ keyId: string }> {
      if (!secrets) throw new Error('no SecretBox configured to seal the new key');
      const key = issueApiKey(input.keyId);
      await withTransaction(db, async (client) => {
        await partners.storeIssuedApiKey(client, input.partnerId, {
          keyId: key.keyId,
          hash: key.hash,
          secretSealed: secrets.seal(key.plaintext, partnerSecret(input.partnerId, 'api-key-pickup')),
        });
        await auditOnboardingStep(client, {
          action: 'onboarding.apiKeyMinted',
          target: `partner:${input.partnerId}`,
          details: { keyId: key.keyId },
        });
      });
      return { keyId: key.keyId };
    },
    /** The partner goes active, audited in the same transaction. */
    async activatePartner(partnerId: string): Promise<Partner> {
      return withTransaction(db, async (client) => {
        const stored = await partners.activatePartner(client, partnerId);
        if (stored.status === 'active')
          await auditOnboardingStep(client, {
            action: 'onboarding.partnerActivated',
            target: `partner:${partnerId}`,
          });
        return stored;
      });
    },
  };
}
