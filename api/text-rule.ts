import { BadRequestError, ValidationError } from '../domain/errors';

/**
 * Text Clearhouse can store and pass on: Postgres text and jsonb hold no NUL character, and
 * neither UTF-8 nor Temporal's payloads hold a lone UTF-16 surrogate. One rule for every
 * request, checked by mountRoute once a request is authenticated, naming the first offending
 * field; never a 500 from deep inside the database or a client library. The same rule is
 * written into the OpenAPI document (documentTextRule), so the contract says it too.
 */
// eslint-disable-next-line no-control-regex
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function unstorableText(value: string): boolean {
  return UNSTORABLE.test(value);
}

function firstUnstorable(value: unknown, path: string, depth = 0): string | null {
  if (typeof value === 'string') return unstorableText(value) ? path : null;
  if (depth > 64 || value === null || typeof value !== 'object') return null;
  for (const [k, v] of Object.entries(value)) {
    const at = `${path}${path ? '.' : ''}${k}`;
    if (unstorableText(k)) return at;
    const found = firstUnstorable(v, at, depth + 1);
    if (found) return found;
  }
  return null;
}

const MESSAGE = 'text must be valid Unicode without NUL characters';

/** The path's parameters (as decoded: `%00` is a NUL) and the query string: a 400 naming the parameter. */
export function checkRequestLineText(params: unknown, query: unknown): void {
  for (const [where, value] of [
    ['params', params],
    ['query', query],
  ] as const) {
    const found = firstUnstorable(value, where);
    if (found !== null)
      throw new BadRequestError(`${found}: ${MESSAGE}`, [{ path: found, message: MESSAGE }]);
  }
}

/** A parsed JSON body: a 422 naming the field. */
export function checkBodyText(body: unknown): void {
  const inBody = firstUnstorable(body, '');
  if (inBody !== null)
    throw new ValidationError(`${inBody || 'body'}: ${MESSAGE}`, [
      { path: inBody || 'body', message: MESSAGE },
    ]);
}

/**
 * JSON Schema's spelling of the rule (ECMA-262 and Python alike read `\u0000`): no NUL. A lone
 * surrogate (`"\ud800"` in a JSON text) is refused too, but no pattern says it alike in both
 * languages; no generator of valid text produces one.
 */
export const STORABLE_TEXT_PATTERN = '^[^\\u0000]*$';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Writes the text rule into every request schema of an OpenAPI document: a string with no
 * pattern, format or enum of its own gets the pattern, and an object with free-form keys gets
 * it as `propertyNames`. (A string with a pattern, format or enum already excludes NUL.)
 * Responses are left as they are: the rule is about what a request may carry.
 */
export function documentTextRule(doc: Json): Json {
  const seen = new WeakSet<object>();
  const visit = (schema: unknown): void => {
    if (!isObject(schema) || seen.has(schema)) return;
    seen.add(schema);
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (
      types.includes('string') &&
      schema.pattern === undefined &&
      schema.format === undefined &&
      schema.enum === undefined &&
      schema.const === undefined
    )
      schema.pattern = STORABLE_TEXT_PATTERN;
    if (isObject(schema.additionalProperties) && schema.propertyNames === undefined)
      schema.propertyNames = { type: 'string', pattern: STORABLE_TEXT_PATTERN };
    for (const key of ['properties', 'patternProperties', '$defs', 'definitions'])
      if (isObject(schema[key])) for (const sub of Object.values(schema[key])) visit(sub);
    for (const key of ['items', 'additionalProperties', 'not', 'contains', 'propertyNames'])
      visit(schema[key]);
    for (const key of ['anyOf', 'oneOf', 'allOf', 'prefixItems'])
      if (Array.isArray(schema[key])) for (const sub of schema[key]) visit(sub);
  };
  const components = isObject(doc.components) ? doc.components : {};
  // Request schemas: every parameter, every request body, and the named schemas they refer to
  // (a named schema is used by requests here; response-only ones carry no free text to refuse).
  for (const item of Object.values(isObject(doc.paths) ? doc.paths : {})) {
    if (!isObject(item)) continue;
    for (const op of Object.values(item)) {
      if (!isObject(op)) continue;
      for (const p of Array.isArray(op.parameters) ? op.parameters : []) if (isObject(p)) visit(p.schema);
      const content =
        isObject(op.requestBody) && isObject(op.requestBody.content) ? op.requestBody.content : {};
      for (const media of Object.values(content)) if (isObject(media)) visit(media.schema);
    }
  }
  const schemas = isObject(components.schemas) ? components.schemas : {};
  for (const name of requestSchemaNames(doc)) visit(schemas[name]);
  return doc;
}

/** Names of component schemas reachable from request parameters and bodies. */
function requestSchemaNames(doc: Json): Set<string> {
  const names = new Set<string>();
  const schemas = isObject(doc.components) && isObject(doc.components.schemas) ? doc.components.schemas : {};
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (!isObject(v)) return;
    const ref = typeof v.$ref === 'string' ? /^#\/components\/schemas\/(.+)$/.exec(v.$ref)?.[1] : undefined;
    if (ref && !names.has(ref)) {
      names.add(ref);
      walk(schemas[ref]);
    }
    for (const sub of Object.values(v)) walk(sub);
  };
  for (const item of Object.values(isObject(doc.paths) ? doc.paths : {})) {
    if (!isObject(item)) continue;
    for (const op of Object.values(item)) {
      if (!isObject(op)) continue;
      walk(op.parameters);
      walk(op.requestBody);
    }
  }
  return names;
}
