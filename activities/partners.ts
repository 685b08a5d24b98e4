import * as partners from '../db/partners';
import type { Db } from '../db/pool';
import type { NewPartner, Partner } from '../domain/partner';

export function partnerActivities({ db }: { db: Db }) {
  return {
    async registerPartner(p: NewPartner): Promise<Partner> {
      return partners.registerPartner(db, p);
    },
    async storePartnerApiKey(input: { partnerId: string; keyId: string; keyHashHex: string }): Promise<void> {
      await partners.storeApiKeyHash(db, input.partnerId, input.keyId, Buffer.from(input.keyHashHex, 'hex'));
    },
    async activatePartner(partnerId: string): Promise<Partner> {
      return partners.activatePartner(db, partnerId);
    },
  };
}
