/**
 * Why a decision sent to a workflow (an Update from the API, the Temporal UI or the CLI) is
 * refused, and of what kind — so that every client hears the same reason and the API the
 * status that says what happened: the request is malformed (422), the sender may not make it
 * (403: maker-checker), the process is not at a point where it can be made (409: already
 * resolved, not waiting for it), or it names something the process does not have (404).
 */
export type RefusalKind = 'invalid' | 'forbidden' | 'conflict' | 'not_found';

export interface Refusal {
  kind: RefusalKind;
  message: string;
}

export const invalid = (message: string): Refusal => ({ kind: 'invalid', message });
export const forbidden = (message: string): Refusal => ({ kind: 'forbidden', message });
export const conflict = (message: string): Refusal => ({ kind: 'conflict', message });
export const notFound = (message: string): Refusal => ({ kind: 'not_found', message });

/** The failure type a validator's refusal carries in Temporal, per kind (read back by the API). */
export const refusalFailureTypes: Record<RefusalKind, string> = {
  invalid: 'InvalidUpdate',
  forbidden: 'ForbiddenUpdate',
  conflict: 'ConflictingUpdate',
  not_found: 'UnknownUpdateTarget',
};
