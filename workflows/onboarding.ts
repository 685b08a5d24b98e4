import { defineQuery, log, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { NewPartner, Partner } from '../domain/partner';

export interface OnboardingInput {
  partner: NewPartner;
  /** Only the key id and the SHA-256 of the secret: the secret never enters history. */
  apiKey: { keyId: string; keyHashHex: string };
}

export type OnboardingStep = 'registering' | 'issuing-credentials' | 'activating' | 'active';

export const onboardingStatus = defineQuery<{ step: OnboardingStep }>('status');

const { registerPartner, storePartnerApiKey, activatePartner } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: ['ConflictError', 'ValidationError'],
  },
});

/** Brings a new partner from registration to an active account that can push transactions. */
export async function partnerOnboarding(input: OnboardingInput): Promise<Partner> {
  let step: OnboardingStep = 'registering';
  setHandler(onboardingStatus, () => ({ step }));

  await registerPartner(input.partner);

  step = 'issuing-credentials';
  await storePartnerApiKey({ partnerId: input.partner.id, ...input.apiKey });

  step = 'activating';
  const partner = await activatePartner(input.partner.id);

  step = 'active';
  log.info('partner onboarded', { partnerId: partner.id });
  return partner;
}
