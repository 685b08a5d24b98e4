import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import type { Request } from 'express';
import { randomUUID } from 'node:crypto';
import { NotFoundError, ValidationError } from '../domain/errors';
import { API_UPDATE_PREFIX } from '../workflows/ids';
import type { Principal } from './auth';

/**
 * Sends an Update to a workflow as the API: its id says so (api:<request id>:<nonce>) for the
 * audit trail, the operator's name comes from the caller's token, and a refusal by the
 * workflow's validator becomes a 422 that carries the validator's own words.
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
      throw new ValidationError(err.cause?.message ?? 'rejected', [
        { path: 'body', message: err.cause?.message ?? 'rejected' },
      ]);
    }
    throw err;
  }
}

/** The authenticated operator's name (routes that call this require an operator role). */
export function operatorName(principal: Principal): string {
  if (principal.kind !== 'operator') throw new Error('operator route reached without an operator');
  return principal.name;
}
