import { z } from 'zod';
import { BadRequestError } from '../domain/errors';

// Cursor paging for every list endpoint: `limit` (default 100, at most 500) and an opaque
// `cursor` from the previous page's `nextCursor`; null when there is nothing more. No list is
// cut off silently.

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 500;

export const pageQuery = {
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_PAGE_SIZE)
    .default(DEFAULT_PAGE_SIZE)
    .meta({ description: `Page size (at most ${MAX_PAGE_SIZE})` }),
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,1000}$/, 'a nextCursor this list gave out')
    .optional()
    .meta({
      description:
        "The previous page's nextCursor, unchanged. Opaque (base64url): a value this list did not give out is a 400.",
    }),
};

export const nextCursorSchema = z
  .string()
  .nullable()
  .meta({ description: 'Pass as `cursor` for the next page; null on the last page' });

/** The key a page continues after, decoded from a cursor (a 400 when it is not one of ours). */
export function decodeCursor<T>(cursor: string | undefined, schema: z.ZodType<T>): T | null {
  if (cursor === undefined) return null;
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (parsed.success) return parsed.data;
  } catch {
    /* not base64url JSON */
  }
  throw new BadRequestError('cursor is not one this list gave out', [
    { path: 'query.cursor', message: 'pass the nextCursor of the previous page unchanged' },
  ]);
}

/** A page from `limit + 1` rows: the first `limit`, and the cursor after the last of them. */
export function page<R, K>(
  rows: R[],
  limit: number,
  keyOf: (row: R) => K,
): { items: R[]; nextCursor: string | null } {
  if (rows.length <= limit) return { items: rows, nextCursor: null };
  const items = rows.slice(0, limit);
  return {
    items,
    nextCursor: Buffer.from(JSON.stringify(keyOf(items[items.length - 1]!))).toString('base64url'),
  };
}
