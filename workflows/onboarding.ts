import { defineQuery, log, proxyActivities, setHandler, uuid4 } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { NewPartner, Partner } from '../domain/partner';

export interface OnboardingInput {
  /** Only the partner's details: no credential, nor its hash, ever enters a workflow's input. */
  partner: NewPartner;
}

export type OnboardingStep = 'registering' | 'issuing-credentials' | 'activating' | 'active';

export const onboardingStatus = defineQuery<{ step: OnboardingStep }>('status');

const { registerPartner, issuePartnerApiKey, activatePartner } = proxyActivities<Activities>({
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

  // The key is minted by the activity, once the partner exists; its id is fixed here so that a
  // retried activity finds the key it already stored instead of minting a second one.
  step = 'issuing-credentials';
  await issuePartnerApiKey({ partnerId: input.partner.id, keyId: uuid4().replace(/-/g, '').slice(0, 16) });

  step = 'activating';
  const partner = await activatePartner(input.partner.id);

  step = 'active';
  log.info('partner onboarded', { partnerId: partner.id });
  return partner;
}
