import type { WorkflowHandle } from '@temporalio/client';
import { RawValue, type UpdateDefinition } from '@temporalio/common';
import { subjectForName, type Actor } from '../../domain/actors';
import type { SealSource } from '../../domain/decisions';
import type { Config } from '../../platform/config';
import { parseSealingKey, sealDecision } from '../../platform/decision-seal';

/** A person with the roles that decide (resolver, approver), under the test issuer. */
export function person(
  config: Config,
  name: string,
  roles = ['viewer', 'resolver', 'approver'],
  subject?: string,
): Actor {
  return {
    issuer: config.api.operatorTokens.issuer,
    subject: subject ?? subjectForName(name),
    name,
    kind: 'person',
    roles,
  };
}

/**
 * A decision sealed as Clearhouse seals it (domain/decisions.ts) for `workflowId` and
 * `decision`, by `who`, to send as an Update's argument straight to Temporal:
 * `handle.executeUpdate(approvePayout, { args: [sealed(...) as never] })`.
 */
export function sealed(
  config: Config,
  who: string | Actor,
  target: { workflowId: string; decision: string; namespace?: string },
  fields: Record<string, unknown> = {},
  opts: { source?: SealSource; ttlMs?: number; nowMs?: number } = {},
): RawValue {
  const actor = typeof who === 'string' ? person(config, who) : who;
  const { payload } = sealDecision(parseSealingKey(config.decisionSeals.privateKey!), {
    target: {
      namespace: target.namespace ?? config.temporal.namespace,
      workflowId: target.workflowId,
      decision: target.decision,
    },
    actor,
    source: opts.source ?? 'temporal-cli',
    decision: fields,
    ...(opts.ttlMs === undefined ? {} : { ttlMs: opts.ttlMs }),
    ...(opts.nowMs === undefined ? {} : { nowMs: opts.nowMs }),
  });
  return RawValue.fromPayload(payload);
}

/** Sends `update` to `handle`'s workflow sealed by `who`, as the Temporal CLI does through the codec. */
export function sendSealed<Ret, Arg>(
  config: Config,
  handle: WorkflowHandle,
  update: UpdateDefinition<Ret, [Arg]>,
  who: string | Actor,
  fields: Record<string, unknown> = {},
  opts: { source?: SealSource; ttlMs?: number; nowMs?: number } = {},
): Promise<Ret> {
  const arg = sealed(config, who, { workflowId: handle.workflowId, decision: update.name }, fields, opts);
  return handle.executeUpdate(update, { args: [arg as never] });
}
