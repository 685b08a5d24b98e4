import { refusalFailureTypes } from '../domain/refusals';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import fc from 'fast-check';
import { onboardingWorkflowId } from '../workflows/ids';
import { decideApplication, onboardingStatus, provideInformation } from '../workflows/onboarding';
import { approvePayout, resolveException, settlementStatus } from '../workflows/settlement';
import { sealed } from './support/decisions';
import { application, onboardPartner, recordContract, waitForApplication } from './support/partners';
import { startPlannedCycle } from './support/settlement';
import { startStack, type Stack } from './support/stack';

// Random payloads against every Update validator, as a careless or hostile Temporal UI user
// would send them: each one is either accepted or refused with the validator's own message
// (a refusal of one of the kinds in domain/refusals.ts), and the workflow never fails a task over it. Seeded (FUZZ_SEED).
const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const RUNS = Number(process.env.FUZZ_UPDATES ?? 120);

/** Payloads shaped like the real ones, with every field's type and value drawn at random. */
const payload = (fields: string[]) =>
  fc.oneof(
    fc.jsonValue(),
    fc.dictionary(
      fc.constantFrom(...fields, 'extra'),
      fc.oneof(fc.jsonValue(), fc.constantFrom('', ' ', '\u0000', 'x'.repeat(600), '-1.005', '1e9')),
    ),
  );

async function fuzz(
  handle: WorkflowHandle,
  send: (p: unknown) => Promise<unknown>,
  fields: string[],
): Promise<{ accepted: number; refused: number }> {
  let accepted = 0;
  let refused = 0;
  for (const p of fc.sample(payload(fields), { seed: SEED, numRuns: RUNS })) {
    try {
      await send(p);
      accepted++;
    } catch (err) {
      expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
      const cause = (err as WorkflowUpdateFailedError).cause;
      // Refused by name, with one of the kinds a refusal has (domain/refusals.ts).
      expect(Object.values(refusalFailureTypes)).toContain(cause instanceof ApplicationFailure && cause.type);
      refused++;
    }
  }
  const history = await handle.fetchHistory();
  const failedTasks = (history.events ?? []).filter((e) => e.workflowTaskFailedEventAttributes);
  expect(failedTasks).toEqual([]);
  return { accepted, refused };
}

describe('Update validators under random payloads', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('resolveException and approvePayout refuse every malformed payload by name, never by a task failure', async () => {
    const p = await onboardPartner(stack, { timezone: 'UTC' });
    // A daily contract (no grace; approvals only above 1,000,000.00), the cycle planned from it.
    const contract = await recordContract(stack, p.id, 1, {
      effectiveFrom: '2026-01-01',
      terms: {
        base: 'ggr',
        tiers: [{ upToMinor: null, rate: '0.10' }],
        tierMode: 'marginal',
        negativeBase: 'floor',
        jackpots: 'exclude',
        settlement: { period: 'daily', cutoffGraceMinutes: 0, payoutApprovalThresholdMinor: '100000000' },
      },
    });
    expect(contract.status).toBe(200);
    // No provider connection: the report is unavailable, which is an exception to resolve.
    const handle = await startPlannedCycle(stack, p.id, '2026-11-16', {
      over: { reminderIntervalMs: 3_600_000, reportFetchAttempts: 1 },
    });
    const status = async () => (await handle.query(settlementStatus)).status;
    for (let i = 0; i < 200 && (await status()) !== 'AwaitingResolution'; i++)
      await new Promise((r) => setTimeout(r, 100));
    // Each payload sealed afresh by a resolver and approver, so that it gets past the seal to the
    // validator's own checks (an unsealed one is refused at the seal, whatever it says).
    const seal = (decision: string, a: unknown) =>
      sealed(
        stack.config,
        'ana',
        { workflowId: handle.workflowId, decision },
        a as Record<string, unknown>,
      ) as never;
    const fields = ['exceptionId', 'resolution', 'amount', 'reason', 'operator'];
    const resolved = await fuzz(
      handle,
      (a) => handle.executeUpdate(resolveException, { args: [seal('resolveException', a)] }),
      fields,
    );
    expect(resolved.refused).toBeGreaterThan(RUNS - 2);
    const approved = await fuzz(
      handle,
      (a) => handle.executeUpdate(approvePayout, { args: [seal('approvePayout', a)] }),
      ['operator', 'comment'],
    );
    expect(approved.accepted).toBe(0); // not waiting for an approval: every one refused
    expect((await handle.query(settlementStatus)).status).toBe('AwaitingResolution');
    await handle.terminate('fuzzed');
  });

  it('decideApplication and provideInformation do the same', async () => {
    const body = application();
    const id = body.partnerId as string;
    expect((await stack.api('/v1/partner-applications', { body })).status).toBe(202);
    await waitForApplication(stack, id, 'AwaitingDecision');
    const handle = stack.temporal.workflow.getHandle(onboardingWorkflowId(id));
    const info = await fuzz(handle, (a) => handle.executeUpdate(provideInformation, { args: [a as never] }), [
      'details',
      'note',
      'operator',
    ]);
    expect(info.accepted).toBe(0); // not waiting for information
    await fuzz(handle, (a) => handle.executeUpdate(decideApplication, { args: [a as never] }), [
      'decision',
      'reason',
      'operator',
    ]);
    expect((await handle.query(onboardingStatus)).status).toMatch(
      /^(AwaitingDecision|AwaitingInformation|Rejected|Activating|Active|ConnectivityFailed)$/,
    );
    await handle.terminate('fuzzed').catch(() => {});
  });
});
