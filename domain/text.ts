import { z } from 'zod';

/**
 * What `String.prototype.trim` removes (ECMAScript WhiteSpace and LineTerminator), spelt out
 * so that a JSON Schema reader in another language (Python's `\s` differs) agrees on it.
 */
const TRIMMED = '\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';
/**
 * At least one character that is neither trimmed away nor NUL (the text rule), and no NUL.
 * Linear: the leading run and the first kept character cannot overlap, so nothing backtracks.
 */
const NOT_BLANK = new RegExp(`^[${TRIMMED}]*[^\\u0000${TRIMMED}][^\\u0000]*$`);

/**
 * Free text a person must write (a name, a reason, a note): not blank, at most `max`
 * characters as sent, stored trimmed. The same rule the Update validators apply to a reason
 * (`reason.trim()`), and in the OpenAPI document as a pattern, so what is documented as valid
 * is what is accepted.
 */
export const nonBlankText = (max: number) => z.string().max(max).regex(NOT_BLANK, 'must not be blank').trim();
