import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import {
  getPartner,
  providerConnectionOf,
  upsertProviderConnection,
  type StoredProviderConnection,
} from '../../db/partners';
import { NotFoundError } from '../../domain/errors';
import { partnerIdSchema } from '../../domain/partner';
import { partnerSecret, SecretBox } from '../../platform/secrets';
import { taskQueue } from '../../platform/temporal';
import type { partnerConnectivityTest } from '../../workflows/onboarding';
import { PartnerId } from '../../workflows/search-attributes';
import { randomUUID } from 'node:crypto';
import { providerFormats } from '../../providers/registry';
import { reportCapsInForce, type ReportCaps } from '../../providers/types';
import type { ApiDeps } from '../deps';
import { mountRoute } from '../route';
import { errorResponses, jsonResponse } from '../schemas';
import { authDeps } from '../auth';

/** Limits on what an operator may store for a provider connection. */
const BASE_URL_MAX_CHARS = 2000;
const CREDENTIAL_HEADER_MAX_CHARS = 100;
const CREDENTIAL_VALUE_MAX_CHARS = 4096;

// The same address policy as partners' webhook URLs: http(s) only, and every call goes through
// platform/outbound-http.ts (timeout, byte cap, redirects never followed). A secret in the URL
// would be stored and shown in clear, so credentials go in `credentials`, sealed; a query or
// fragment would be dropped silently when report paths are joined to the base (providers/url.ts).
const parseUrl = (u: string): URL | null => {
  try {
    return new URL(u);
  } catch {
    return null;
  }
};

const baseUrlSchema = z
  .url({ protocol: /^https?$/ })
  .max(BASE_URL_MAX_CHARS)
  // Zod runs refinements even after the URL check failed: parse defensively.
  .refine((u) => {
    const url = parseUrl(u);
    return url === null || (url.username === '' && url.password === '');
  }, 'must not carry credentials (user:password@); send them in `credentials`')
  .refine((u) => {
    const url = parseUrl(u);
    return url === null || (url.search === '' && url.hash === '');
  }, 'must not carry a query or fragment: report paths are joined to it');

// Headers that frame or route the request itself cannot carry a credential.
const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'expect',
  'proxy-connection',
]);

const credentialsSchema = z
  .object({
    header: z
      .string()
      .max(CREDENTIAL_HEADER_MAX_CHARS)
      .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be an HTTP header name such as authorization')
      .transform((h) => h.toLowerCase())
      .refine((h) => !RESERVED_HEADERS.has(h), 'is a header that frames the request, not a credential'),
    value: z
      .string()
      .min(1)
      .max(CREDENTIAL_VALUE_MAX_CHARS)
      .regex(/^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/, 'visible ASCII, no leading or trailing spaces')
      .meta({ description: 'Stored encrypted; never returned' }),
  })
  .strict()
  .meta({ id: 'ProviderCredentials' });

// One body variant per registered format, each with exactly the options its adapter reads.
const variants = Object.entries(providerFormats).map(([format, { options }]) =>
  z
    .object({
      format: z.literal(format),
      baseUrl: baseUrlSchema,
      options: options.default({}),
      credentials: credentialsSchema.optional(),
    })
    .strict(),
);
/** A connection as a partner application carries it (limits are set afterwards, by PUT). */
export const providerConnectionBody = z
  .discriminatedUnion('format', variants as [(typeof variants)[number], ...typeof variants])
  .meta({ id: 'ProviderConnectionConfig' });

/**
 * The PUT's body: a connection and its own report limits, which may lower the deployment's
 * caps but never raise them (its database was sized for them). The caps are the schema's
 * maximum, so the published contract states the figure a value is refused above.
 */
function connectionSettingsBody(caps: ReportCaps) {
  const cap = (figure: number, variable: string, what: string) =>
    z
      .number()
      .int()
      .positive()
      .max(figure, `at most ${figure}, the deployment's ${variable}: limits only lower it`)
      .optional()
      .meta({ description: `${what}; at most ${variable}` });
  const limits = z
    .object({
      maxRows: cap(caps.maxRows, 'REPORT_MAX_ROWS', 'Rows (transactions and totals) one cycle may store'),
      maxBytes: cap(caps.maxBytes, 'REPORT_MAX_BYTES', "Bytes of the provider's answers one cycle may read"),
    })
    .strict()
    .meta({
      id: 'ProviderReportLimits',
      description:
        "Caps on one cycle's report below the deployment's (REPORT_MAX_ROWS, REPORT_MAX_BYTES), never above. " +
        'Beyond either the fetch stops and the cycle gets a report_unavailable exception naming the cap',
    });
  const withLimits = variants.map((v) => v.extend({ limits: limits.optional() }));
  return z
    .discriminatedUnion('format', withLimits as [(typeof withLimits)[number], ...typeof withLimits])
    .meta({ id: 'ProviderConnectionSettings' });
}

const connectionSchema = z
  .object({
    format: z.enum(Object.keys(providerFormats) as [string, ...string[]]),
    baseUrl: z.string(),
    options: z.record(z.string(), z.unknown()),
    credentials: z
      .object({ header: z.string(), configured: z.literal(true) })
      .nullable()
      .meta({ description: 'Which header carries the credential; its value is never returned' }),
    limits: z
      .object({ maxRows: z.number().nullable(), maxBytes: z.number().nullable() })
      .meta({ description: "This connection's own caps; null: the deployment's" }),
    limitsInForce: z.object({ maxRows: z.number(), maxBytes: z.number() }).meta({
      description: "What one cycle's report may store: the lower of the connection's and the deployment's",
    }),
    updatedAt: z.string(),
  })
  .meta({ id: 'ProviderConnection' });

/** How long the PUT waits for its connectivity test (retries with backoff included). */
const CONNECTIVITY_WAIT_MS = 20_000;

async function connectivityTest(
  deps: ApiDeps,
  partnerId: string,
): Promise<{ report: string; webhook: string } | { error: string } | { pending: string }> {
  const workflowId = `connectivity:${partnerId}:${randomUUID()}`;
  const handle = await deps.temporal.workflow.start<typeof partnerConnectivityTest>(
    'partnerConnectivityTest',
    {
      taskQueue: taskQueue(deps.config, 'onboarding'),
      workflowId,
      args: [partnerId],
      typedSearchAttributes: [{ key: PartnerId, value: partnerId }],
      staticSummary: `Connectivity test of ${partnerId}`,
    },
  );
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      handle.result(),
      new Promise<{ pending: string }>((resolve) => {
        timer = setTimeout(() => resolve({ pending: workflowId }), CONNECTIVITY_WAIT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const shown = (c: StoredProviderConnection, deploymentCaps: ReportCaps): z.infer<typeof connectionSchema> => {
  const inForce = reportCapsInForce(deploymentCaps, c.limits);
  return {
    format: c.format,
    baseUrl: c.baseUrl,
    options: c.options,
    credentials: c.credentials ? { header: c.credentials.header, configured: true } : null,
    limits: c.limits,
    limitsInForce: { maxRows: inForce.rows.limit, maxBytes: inForce.bytes.limit },
    updatedAt: c.updatedAt,
  };
};

export function providerConnectionRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);
  const secrets = new SecretBox(deps.config.secretKeys);
  const params = z.object({ partnerId: partnerIdSchema });

  mountRoute(router, registry, auth, {
    method: 'put',
    path: '/v1/partners/{partnerId}/provider-connection',
    summary: "Set where and how the partner's provider report is fetched (operator)",
    description:
      'Replaces the whole connection: the report format (one of the adapter registry), its base URL, the ' +
      "options that format reads, and optionally a credential for the provider's API, sent in the named header " +
      'with every report request. The credential is stored encrypted and never returned; a PUT without ' +
      "`credentials` removes it. Optional `limits` lower what one cycle's report may store (rows, and bytes of the " +
      "provider's answers) below the deployment's REPORT_MAX_ROWS and REPORT_MAX_BYTES (a higher value is refused); " +
      'beyond a cap the fetch stops and the cycle gets an exception naming it. A PUT without `limits` removes them. ' +
      'Repeating the same PUT leaves the same connection. For a partner past onboarding ' +
      'the connectivity test runs again (one report page, one signed test webhook) and its outcome is in the answer.',
    tags: ['partners'],
    auth: 'admin',
    params,
    body: connectionSettingsBody(deps.config.reportCaps),
    bodyExample: {
      format: 'csv-daily',
      baseUrl: 'https://reports.provider.example/clearhouse',
      options: { timezone: 'Europe/London' },
      credentials: { header: 'x-api-key', value: 'provider-issued-key' },
      limits: { maxRows: 5_000_000 },
    },
    responses: {
      200: jsonResponse(
        connectionSchema.extend({
          connectivity: z
            .union([
              z.object({ report: z.string(), webhook: z.string() }),
              z.object({ error: z.string() }),
              z.object({ pending: z.string().meta({ description: 'The test workflow still running' }) }),
            ])
            .nullable()
            .meta({
              description:
                'The connectivity test just run (one report page, one signed test webhook); null while onboarding',
            }),
        }),
        'Connection set (the credential is not echoed) and tested',
      ),
      ...errorResponses(400, 401, 403, 404, 422),
    },
    handler: async ({ params, body }) => {
      const partner = await getPartner(deps.db, params.partnerId);
      if (!partner)
        throw new NotFoundError(`partner ${params.partnerId} not found`, [
          { path: 'params.partnerId', message: 'not found' },
        ]);
      const stored = await upsertProviderConnection(deps.db, params.partnerId, {
        format: body.format,
        baseUrl: body.baseUrl,
        options: body.options,
        credentials: body.credentials
          ? {
              header: body.credentials.header,
              sealed: secrets.seal(
                body.credentials.value,
                partnerSecret(params.partnerId, 'provider-credential'),
              ),
            }
          : null,
        limits: { maxRows: body.limits?.maxRows ?? null, maxBytes: body.limits?.maxBytes ?? null },
      });
      // A partner past onboarding is tested at once (during onboarding the workflow tests it).
      const connectivity =
        partner.status === 'onboarding' ? null : await connectivityTest(deps, params.partnerId);
      return { status: 200, body: { ...shown(stored, deps.config.reportCaps), connectivity } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/partners/{partnerId}/provider-connection',
    summary: "Read the partner's provider connection (operator); the credential's value is never returned",
    tags: ['partners'],
    auth: 'viewer',
    params,
    responses: {
      200: jsonResponse(connectionSchema, 'The connection'),
      ...errorResponses(400, 401, 403, 404),
    },
    handler: async ({ params }) => {
      const stored = await providerConnectionOf(deps.db, params.partnerId);
      if (!stored)
        throw new NotFoundError(`no provider connection for partner ${params.partnerId}`, [
          { path: 'params.partnerId', message: 'no provider connection' },
        ]);
      return { status: 200, body: shown(stored, deps.config.reportCaps) };
    },
  });
}
