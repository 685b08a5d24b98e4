import { allHandlersFinished, condition } from '@temporalio/workflow';
import { Restatement } from './restatement';
import type { RestatementInput, RestatementView } from './messages';

export * from './messages';

/**
 * A restatement of a settled period, as finance runs it: recompute the period from its frozen
 * inputs plus the change (and the later periods that depended on it), show the difference line
 * by line, wait for two approvers other than the one who asked, then post only the delta —
 * adjusting entries in the open period — issue the new statement versions and tell the
 * partner. Postgres owns the versions, the delta and the trail; this workflow owns the
 * decisions. State, messages and waits: ./restatement.ts.
 */
export async function settlementRestatement(input: RestatementInput): Promise<RestatementView> {
  const r = new Restatement(input);
  r.listen();
  try {
    // 1. Recompute the chain and store the delta (not posted).
    const computed = await r.compute();
    if (computed.state === 'empty') await r.publish('NothingToPost', computed.summary);
    else if (computed.state === 'awaiting_approval') {
      // 2. Two approvers, neither the requester; or one rejection.
      const approved = await r.waitForDecision();
      if (approved) {
        // 3. Post only the delta; issue the new versions.
        await r.post();
        // 4. Tell the partner (signed webhook); a partner that never answers undoes nothing.
        await r.notify();
        await r.publish('Posted', r.view.step!.summary);
      } else await r.reject();
    } else await r.publish(computed.state === 'posted' ? 'Posted' : 'Rejected', computed.summary);
  } catch (err) {
    await r.stopOnRefusal(err);
  }
  await condition(allHandlersFinished);
  return r.view;
}
