import {
  ApplicationFailure,
  isGrpcServiceError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import { RawValue } from '@temporalio/common';
import type { Request } from 'express';
import { randomUUID } from 'node:crypto';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  TooManyRequestsError,
  ValidationError,
} from '../domain/errors';
import { refusalFailureTypes } from '../domain/refusals';
import type { Config } from '../platform/config';
import { parseSealingKey, sealDecision, type SealingKey } from '../platform/decision-seal';
import { operatorActor } from '../platform/operators';
import { API_UPDATE_PREFIX } from '../workflows/ids';
import type { Principal } from './auth';

/** A validator's refusal, by the kind its failure type names (domain/refusals.ts), as an HTTP error. */
const refusedAs: Record<
  string,
  typeof ValidationError | typeof ForbiddenError | typeof ConflictError | typeof NotFoundError
> = {
  [refusalFailureTypes.invalid]: ValidationError,
  [refusalFailureTypes.forbidden]: ForbiddenError,
  [refusalFailureTypes.conflict]: ConflictError,
  [refusalFailureTypes.not_found]: NotFoundError,
};

/**
 * Sends an Update to a workflow as the API: its id says so (api:<request id>:<nonce>) for the
 * audit trail, the operator's name comes from the caller's token, and a refusal by the
 * workflow's validator carries the validator's own words with the status of its kind: 422
 * (malformed), 403 (maker-checker), 409 (not at that point of the process), 404 (unknown id).
 */
export async function sendUpdate<T>(
  temporal: Client,
  workflowId: string,
  what: string,
  req: Request,
  send: (handle: WorkflowHandle, updateId: string) => Promise<T>,
): Promise<T> {
  try {
    return await send(
      temporal.workflow.getHandle(workflowId),
      `${API_UPDATE_PREFIX}${typeof req.id === 'string' ? req.id : randomUUID()}:${randomUUID()}`,
    );
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new NotFoundError(`${what} not found (or no longer open)`);
    if (err instanceof WorkflowUpdateFailedError) {
      const message = err.cause?.message ?? 'rejected';
      const type = err.cause instanceof ApplicationFailure ? err.cause.type : null;
      const Refused = refusedAs[type ?? ''] ?? ValidationError;
      throw new Refused(message, [{ path: 'body', message }]);
    }
    const limited = updateLimit(err);
    if (limited === 'in-flight')
      throw new TooManyRequestsError(
        `${what} has as many decisions in flight as Temporal allows (10): retry shortly`,
        UPDATE_RETRY_AFTER_S,
      );
    if (limited === 'total')
      throw new ConflictError(
        `${what} has accepted as many decisions as Temporal allows a workflow (2,000): send resolutions as lists`,
      );
    throw err;
  }
}

/** Seconds a caller waits when a workflow has its 10 Updates in flight (Retry-After). */
export const UPDATE_RETRY_AFTER_S = 1;

/**
 * Which of Temporal's per-workflow Update limits refused a request: RESOURCE_EXHAUSTED (8) when
 * 10 are in flight, FAILED_PRECONDITION (9) naming the total when 2,000 were accepted in its life.
 */
function updateLimit(err: unknown): 'in-flight' | 'total' | null {
  const grpc = [err, (err as { cause?: unknown } | null)?.cause].find(isGrpcServiceError);
  if (!grpc) return null;
  const code: number = grpc.code;
  if (code === 8) return 'in-flight';
  if (code === 9 && /total|distinct updates/i.test(grpc.message)) return 'total';
  return null;
}

/**
 * A workflow as Temporal describes it, or null when there is none: what tells a resource on
 * its way (409: not ready yet) from one that does not exist (404).
 */
export function describeWorkflow(
  temporal: Client,
  workflowId: string,
): Promise<WorkflowExecutionDescription | null> {
  return temporal.workflow
    .getHandle(workflowId)
    .describe()
    .catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) return null;
      throw err;
    });
}

const sealingKeys = new WeakMap<Config, SealingKey>();
/** This process's decision sealing key (DECISION_SEAL_PRIVATE_KEY), parsed once. */
export function sealingKeyOf(config: Config): SealingKey {
  let key = sealingKeys.get(config);
  if (!key) {
    if (!config.decisionSeals.privateKey)
      throw new Error('DECISION_SEAL_PRIVATE_KEY is not set: this process cannot seal decisions');
    sealingKeys.set(config, (key = parseSealingKey(config.decisionSeals.privateKey)));
  }
  return key;
}

/**
 * Sends a decision as the API: sealed (domain/decisions.ts) for this workflow and decision with
 * the actor of the caller's verified token, source `api`. The workflow's validator checks the
 * seal like any other: the API has no way around it.
 */
export function sendDecision<T>(
  deps: { config: Config; temporal: Client },
  d: {
    workflowId: string;
    what: string;
    decision: string;
    fields: Record<string, unknown>;
    principal: Principal;
    req: Request;
  },
): Promise<T> {
  if (d.principal.kind !== 'operator') throw new Error('a decision needs an operator');
  const { payload } = sealDecision(sealingKeyOf(deps.config), {
    target: { namespace: deps.config.temporal.namespace, workflowId: d.workflowId, decision: d.decision },
    actor: operatorActor(d.principal),
    source: 'api',
    decision: d.fields,
    ttlMs: deps.config.decisionSeals.ttlMs,
  });
  return sendUpdate(deps.temporal, d.workflowId, d.what, d.req, (handle, updateId) =>
    handle.executeUpdate<T, [RawValue]>(d.decision, { updateId, args: [RawValue.fromPayload(payload)] }),
  );
}
