import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { DEFAULT_TOKEN_TTL_SECONDS, type OperatorTokenSettings } from './operators';
import { LEGACY_KID, parseSecretKeys, type SecretKey } from './secrets';
import { DEFAULT_SLA_TIERS, parseSlaTiers, type SlaTiers } from '../domain/sla';

/**
 * The one place where Clearhouse reads its environment. Every process (API, worker,
 * scripts) calls `loadConfig()` once at start-up; a missing or invalid variable stops the
 * process with a message that names each offending variable.
 *
 * Temporal connection settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
 * TEMPORAL_TLS*, TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE) are read by @temporalio/envconfig
 * in platform/temporal.ts, so the same build reaches a dev server, a self-hosted cluster or
 * Temporal Cloud; they are listed here only so that they are validated and documented.
 */

/** Defaults that make `npm run dev` work with no environment at all. */
export const DEV_DEFAULTS = {
  /** The application's role (a login member of clearhouse_app, made by npm run dev and the tests). */
  DATABASE_URL: 'postgres://clearhouse_app:clearhouse-app-dev@127.0.0.1:54329/clearhouse',
  /** The owner (the embedded Postgres superuser): migrations and chain checkpoints. */
  DATABASE_OWNER_URL: 'postgres://clearhouse:clearhouse@127.0.0.1:54329/clearhouse',
  /**
   * A development-only Ed25519 key pair for chain checkpoints (PKCS8 / SPKI DER, base64),
   * generated once and committed: refused in production like the other defaults here.
   */
  CHECKPOINT_SIGNING_KEY: 'MC4CAQAwBQYDK2VwBCIEIOgcCpI0IErE0ZtANcxSHbYplsnNKqysSGQHOWb4oed+',
  CHECKPOINT_PUBLIC_KEYS: 'dev:MCowBQYDK2VwAyEAkD4sGt469T1DBisAI9ZV2ffREl0noKf9cgKSaezU8ck=',
  OPERATOR_TOKEN: 'dev-operator-token',
  SECRETS_KEY: 'dev-secrets-key-do-not-use-in-production',
  OPERATOR_JWT_SECRET: 'dev-operator-jwt-secret-do-not-use-in-production',
  /** Ed25519, development only: seals decisions (domain/decisions.ts). Refused in production. */
  DECISION_SEAL_PRIVATE_KEY: 'dev-1:MC4CAQAwBQYDK2VwBCIEIIGZMujqZbvpmF8pSGurgd0QyhPyZHAzYumIcRcnED1C',
  /** Its public half: a worker trusting it would accept seals anyone can make. Refused in production. */
  DECISION_SEAL_PUBLIC_KEY: 'MCowBQYDK2VwAyEAHi49V7o06CEAMzZGT9VvQEFPqc7Ni8Km8augws5lcH0=',
} as const;

const port = z.coerce.number().int().min(0).max(65535);
const postgresUrl = z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection URL');

/** Parses an Ed25519 private key (PKCS8: PEM, or base64 of the DER). Throws when it is not one. */
export function parseCheckpointSigningKey(text: string): KeyObject {
  const t = text.trim().replace(/\\n/g, '\n');
  const k = createPrivateKey(
    t.startsWith('-----BEGIN')
      ? { key: t, format: 'pem' }
      : { key: Buffer.from(t, 'base64'), format: 'der', type: 'pkcs8' },
  );
  if (k.asymmetricKeyType !== 'ed25519') throw new Error('not an Ed25519 key');
  return k;
}

/** `keyId:<base64 SPKI DER>` entries (comma- or whitespace-separated). Throws on a bad entry. */
export function parseCheckpointPublicKeys(text: string): { keyId: string; key: KeyObject }[] {
  return text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((entry) => {
      const m = /^([A-Za-z0-9._-]{1,64}):(.+)$/.exec(entry);
      if (!m) throw new Error(`"${entry.slice(0, 20)}…" is not keyId:<base64 SPKI>`);
      const key = createPublicKey({ key: Buffer.from(m[2]!, 'base64'), format: 'der', type: 'spki' });
      if (key.asymmetricKeyType !== 'ed25519') throw new Error(`key ${m[1]} is not an Ed25519 key`);
      return { keyId: m[1]!, key };
    });
}

/** A signing key's default id: the first 16 hex digits of the SHA-256 of its public key (SPKI DER). */
export function checkpointKeyFingerprint(key: KeyObject): string {
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('hex').slice(0, 16);
}

/**
 * What one cycle's provider report may store, unless configured. Rows: a large provider's day
 * is a few million transactions, so 20 million leaves a wide margin, and at the cap the rows
 * take a few GB in Postgres (about 150–300 bytes each with their key). Bytes, as the provider
 * sends them: 8 GiB is 512 answers at the outbound client's 16 MiB cap, and 20 million JSON or
 * CSV rows of 100–400 bytes each come to 2–8 GiB, so the two caps bind at about the same size
 * for an ordinary report and the byte cap also stops one with oversized rows. Both are per
 * cycle: size the database for them times the cycles that fetch at once.
 */
export const REPORT_CAP_DEFAULTS = { maxRows: 20_000_000, maxBytes: 8 * 1024 ** 3 } as const;
/**
 * How far the configuration may raise them. Rows: report rows are numbered with a Postgres
 * integer. Bytes: 1 TiB, beyond any report one worker should read in a 30-minute attempt window.
 */
const REPORT_CAP_CEILINGS = { maxRows: 2_000_000_000, maxBytes: 1024 ** 4 } as const;

/**
 * Whether this process is the test runner or one its harness started. jest sets JEST_WORKER_ID
 * in each of its workers; the harness sets CLEARHOUSE_TEST_RUN=1 in jest's own process (global
 * setup) and in the environments it builds for the processes it starts (test/support/env.ts).
 * Children given the process's environment inherit either. NODE_ENV=test is refused anywhere
 * else: it switches the development keys on, which a deployment that sets it by mistake must
 * not get silently.
 */
function inTestRunner(source: NodeJS.ProcessEnv): boolean {
  const says = (env: NodeJS.ProcessEnv) =>
    env.JEST_WORKER_ID !== undefined || env.CLEARHOUSE_TEST_RUN === '1';
  return says(process.env) || says(source);
}
const bool = z.enum(['true', 'false', '1', '0', '']).transform((v) => v === 'true' || v === '1');

export const envSchema = z
  .object({
    // Safe by default: a process not told it is in development (npm run dev says so) is in
    // production, and refuses the development defaults. `test` has them too, so it is accepted
    // only in the test runner (see inTestRunner).
    NODE_ENV: z.enum(['development', 'test', 'production']).default('production'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    LOG_PRETTY: bool.default(false),

    /** The application's role: a member of clearhouse_app, neither superuser nor owner (see README, "Database roles"). */
    DATABASE_URL: postgresUrl.optional(),
    /** The owner's role: runs migrations (and, unless CHECKPOINT_DATABASE_URL, chain checkpoints). Unset: DATABASE_URL. */
    DATABASE_OWNER_URL: postgresUrl.optional(),
    /** Where `npm run chain:checkpoint` writes (a member of clearhouse_checkpointer, or the owner). Unset: the owner's URL. */
    CHECKPOINT_DATABASE_URL: postgresUrl.optional(),
    /** Ed25519 private key (PKCS8, base64 DER or PEM) that signs chain checkpoints; only the checkpoint process needs it. */
    CHECKPOINT_SIGNING_KEY: z.string().min(1).optional(),
    /** The id written with each checkpoint; unset: the key's fingerprint (`dev` for the development key). */
    CHECKPOINT_KEY_ID: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, dash, underscore (at most 64)')
      .optional(),
    /** Keys that verify checkpoints: `keyId:<base64 SPKI DER>`, comma-separated. */
    CHECKPOINT_PUBLIC_KEYS: z.string().min(1).optional(),
    /** A file (JSON lines) each checkpoint is also appended to, and that verification also checks. */
    CHECKPOINT_FILE: z.string().min(1).optional(),
    DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),

    API_HOST: z.string().min(1).default('0.0.0.0'),
    API_PORT: port.default(3000),
    API_BODY_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(8 * 1024 * 1024),
    API_PUBLIC_URL: z.url().optional(),
    /** Express "trust proxy": how to find the client address behind a load balancer (e.g. 1, loopback). */
    API_TRUST_PROXY: z
      .string()
      .regex(
        /^(\d{1,2}|loopback|linklocal|uniquelocal|false|true)$/,
        'a hop count, loopback, linklocal, uniquelocal, true or false',
      )
      .default('false'),
    RATE_LIMIT_PER_CREDENTIAL_PER_MINUTE: z.coerce.number().int().min(0).max(10_000_000).default(6000),
    /** Failed authentications (401) per minute per source address before it is answered 429; validation refusals, 403, 404 and 429 answers do not count. 0 switches the limit off. */
    RATE_LIMIT_FAILURES_PER_ADDRESS_PER_MINUTE: z.coerce.number().int().min(0).max(10_000_000).default(600),
    /** The bootstrap administrator's bearer token (optional in production: unset it once named operators exist). */
    OPERATOR_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    /** HS256 key of operator tokens minted by `npm run cli -- operator:token`. */
    OPERATOR_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    /** An external OIDC issuer's JWKS URL: its tokens identify operators (with or without the secret). */
    OPERATOR_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
    OPERATOR_JWT_ISSUER: z.string().min(1).default('clearhouse'),
    OPERATOR_JWT_AUDIENCE: z.string().min(1).default('clearhouse-api'),
    OPERATOR_ROLES_CLAIM: z.string().min(1).default('roles'),
    OPERATOR_NAME_CLAIM: z.string().min(1).default('preferred_username'),
    /** The longest an operator token may live (exp − iat), minted or presented. */
    OPERATOR_TOKEN_MAX_TTL_SECONDS: z.coerce
      .number()
      .int()
      .min(60)
      .max(7 * 86_400)
      .default(DEFAULT_TOKEN_TTL_SECONDS),
    SECRETS_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
    /** Several keys, `kid:material,…`: the first seals, all open (rotation); instead of SECRETS_KEY. */
    SECRETS_KEYS: z
      .string()
      .optional()
      .superRefine((v, ctx) => {
        if (v === undefined) return;
        try {
          parseSecretKeys(v);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
        }
      }),
    /**
     * Decision seals (platform/decision-seal.ts). The API (and its codec endpoint) signs with
     * the private key, `<key id>:<base64 PKCS#8 Ed25519>`; workers verify with the public keys,
     * `<key id>:<base64 SPKI>,…`: every key a history may replay with (derived from the private
     * key when unset). Seals hold DECISION_SEAL_TTL_SECONDS.
     */
    DECISION_SEAL_PRIVATE_KEY: z.string().min(1).optional(),
    DECISION_SEAL_PUBLIC_KEYS: z.string().min(1).optional(),
    DECISION_SEAL_TTL_SECONDS: z.coerce.number().int().min(10).max(3600).default(600),
    /** Bearer token a Prometheus scraper sends to the API's /metrics (open without it in development). */
    METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),

    TEMPORAL_ADDRESS: z
      .string()
      .regex(/^[^:\s]+:\d+$/, 'must be host:port')
      .default('127.0.0.1:7233'),
    TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
    TEMPORAL_API_KEY: z.string().min(1).optional(),
    TEMPORAL_TLS: bool.optional(),
    TEMPORAL_UI_URL: z.url().default('http://localhost:8233'),
    TASK_QUEUE_PREFIX: z
      .string()
      .regex(/^[a-z0-9-]*$/, 'only lowercase letters, digits and dashes')
      .default(''),

    WORKER_METRICS_PORT: port.default(9464),
    /** A workflow bundle built ahead (bundleWorkflowCode); unset: the worker bundles workflows/ at start. */
    WORKFLOW_BUNDLE_PATH: z.string().min(1).optional(),
    FX_RATES_URL: z.url().default('http://127.0.0.1:4200'),
    /** The company-registry/licence and sanctions-screening service onboarding checks call. */
    DUE_DILIGENCE_URL: z.url().default('http://127.0.0.1:4300'),
    /** While an application waits on operators or the applicant: remind this often, close after this long. */
    ONBOARDING_REMINDER_SECONDS: z.coerce.number().int().min(1).max(31_536_000).default(86_400),
    ONBOARDING_EXPIRY_SECONDS: z.coerce
      .number()
      .int()
      .min(1)
      .max(31_536_000)
      .default(30 * 86_400),
    /** Hosts outbound calls may reach although not public (comma-separated); development: loopback. */
    OUTBOUND_ALLOWED_HOSTS: z
      .string()
      .regex(/^[A-Za-z0-9.:-]+(,[A-Za-z0-9.:-]+)*$/, 'host names or addresses, comma-separated')
      .optional(),

    /** What one cycle's provider report may store; a provider connection's `limits` may lower them. */
    /**
     * How often the worker's Schedule sweeps Temporal for terminations, resets, cancellations
     * and unplanned starts to audit (activities/temporal-sweep.ts); 0 creates no Schedule.
     */
    TEMPORAL_SWEEP_INTERVAL_SECONDS: z.coerce.number().int().min(0).max(86_400).default(300),
    /**
     * The exception work queue's SLA tiers (domain/sla.ts), JSON: per tier (critical, high,
     * medium) the |difference| in minor units and the age in hours at or above which an open
     * exception is in it, and how many hours after it was found it is due; `low` only a due
     * time. Unset: DOMAIN.md's figures, i.e. {"critical":{"minAmountMinor":"100000",
     * "minAgeHours":120,"dueHours":24},"high":{"minAmountMinor":"10000","minAgeHours":72,"dueHours":72},
     * "medium":{"minAmountMinor":"1000","minAgeHours":24,"dueHours":120},"low":{"dueHours":168}}.
     */
    EXCEPTION_SLA_TIERS: z
      .string()
      .optional()
      .superRefine((v, ctx) => {
        if (v === undefined) return;
        try {
          parseSlaTiers(v);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
        }
      }),
    /**
     * How often the worker's Schedule sweeps open exceptions past their due time and escalates
     * them (activities/exception-queue.ts); 0 creates no Schedule.
     */
    EXCEPTION_SLA_SWEEP_SECONDS: z.coerce.number().int().min(0).max(86_400).default(300),
    /**
     * Watching the money (activities/watch.ts): how often the worker's Schedule scans for
     * anomalies (0 creates no Schedule), and the production thresholds. DOMAIN.md's figures:
     * RTP |z| > 3 over a rolling window of days; volume robust |z| > 4 against the same hour of
     * week over the trailing weeks; big wins above an amount of the settlement currency AND a
     * multiple of the round's bets (40,000 and 350×, per partner overridable).
     */
    WATCH_SCAN_SECONDS: z.coerce.number().int().min(0).max(86_400).default(60),
    WATCH_RTP_Z: z.coerce.number().min(1).max(20).default(3),
    WATCH_RTP_WINDOW_DAYS: z.coerce.number().int().min(1).max(400).default(7),
    WATCH_RTP_MIN_SPINS: z.coerce.number().int().min(100).max(1_000_000_000).default(10_000),
    WATCH_VOLUME_Z: z.coerce.number().min(1).max(20).default(4),
    WATCH_VOLUME_WEEKS: z.coerce.number().int().min(2).max(52).default(4),
    WATCH_BIG_WIN_AMOUNT: z
      .string()
      .regex(/^\d{1,15}(\.\d{1,8})?$/, 'a decimal amount of the settlement currency, e.g. 40000')
      .default('40000'),
    WATCH_BIG_WIN_MULTIPLE: z
      .string()
      .regex(/^\d{1,9}(\.\d{1,4})?$/, "a decimal multiple of the round's bets, e.g. 350")
      .default('350'),
    /** Fractions: rollbacks per bet and duplicates per received transaction that raise an alert. */
    WATCH_ROLLBACK_RATE: z.coerce.number().gt(0).max(1).default(0.05),
    WATCH_DUPLICATE_RATE: z.coerce.number().gt(0).max(1).default(0.02),
    /** Transactions received this long after they occurred (or dated ahead) in the last hour. */
    WATCH_STALE_COUNT: z.coerce.number().int().min(1).default(100),
    /** A locked FX rate that moved more than this many percent from the previous lock. */
    WATCH_FX_MOVE_PERCENT: z
      .string()
      .regex(/^\d{1,3}(\.\d{1,4})?$/, 'a percentage, e.g. 5')
      .default('5'),
    /** A provider report still not fetched this many minutes after its cycle's cut-off and grace. */
    WATCH_REPORT_LATE_MINUTES: z.coerce.number().int().min(1).max(100_000).default(120),
    /** Where alerts are POSTed, signed (Clearhouse-Signature, platform/webhooks.ts); unset: nowhere. */
    OPS_WEBHOOK_URL: z.url().optional(),
    OPS_WEBHOOK_SECRET: z.string().min(16).optional(),
    REPORT_MAX_ROWS: z.coerce
      .number()
      .int()
      .min(1)
      .max(REPORT_CAP_CEILINGS.maxRows)
      .default(REPORT_CAP_DEFAULTS.maxRows),
    REPORT_MAX_BYTES: z.coerce
      .number()
      .int()
      .min(1)
      .max(REPORT_CAP_CEILINGS.maxBytes)
      .default(REPORT_CAP_DEFAULTS.maxBytes),
    /**
     * Report fetches one worker runs at once (each holds at most one page of rows in memory);
     * the others wait their turn. Bounds the worker's memory and the database connections the
     * report path takes, whatever the number of cycles started together.
     */
    REPORT_FETCH_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
    /**
     * Rows asked for per report page (formats that page by rows; CSV files are streamed in pages
     * of it). A page's answer must stay under the outbound client's 16 MB: ~2.3 MB at 10,000.
     */
    REPORT_PAGE_ROWS: z.coerce.number().int().min(100).max(50_000).default(10_000),
    /**
     * Months of provider report rows kept (`npm run reports:retention` drops older months'
     * partitions); 0 keeps them forever.
     */
    REPORT_RETENTION_MONTHS: z.coerce.number().int().min(0).max(1200).default(13),

    /**
     * The highest payout-approval threshold a contract may set, in minor units of the partner's
     * settlement currency (default 100000000: 1,000,000.00 of a two-decimal currency). Payouts
     * above a contract's threshold need two approvers; a proposal above this ceiling is a 422.
     */
    CONTRACT_MAX_PAYOUT_APPROVAL_THRESHOLD_MINOR: z
      .string()
      .regex(/^\d{1,18}$/, 'minor units as a string of digits such as 100000000')
      .default('100000000'),

    CURRENCY_EXTRA_ASSETS: z
      .string()
      .regex(
        /^([A-Z][A-Z0-9]{2,9}:(1[0-8]|[0-9]))(,[A-Z][A-Z0-9]{2,9}:(1[0-8]|[0-9]))*$/,
        'must look like USDC:6,USDT:6 (code:scale, scale 0 to 18)',
      )
      .default('USDC:6,USDT:6'),
  })
  .superRefine((env, ctx) => {
    // An operations webhook is signed: its URL and its secret come together.
    if ((env.OPS_WEBHOOK_URL === undefined) !== (env.OPS_WEBHOOK_SECRET === undefined))
      ctx.addIssue({
        code: 'custom',
        path: [env.OPS_WEBHOOK_URL === undefined ? 'OPS_WEBHOOK_URL' : 'OPS_WEBHOOK_SECRET'],
        message: 'OPS_WEBHOOK_URL and OPS_WEBHOOK_SECRET are set together (alerts are POSTed signed)',
      });
    if (env.CHECKPOINT_SIGNING_KEY) {
      try {
        parseCheckpointSigningKey(env.CHECKPOINT_SIGNING_KEY);
      } catch (err) {
        ctx.addIssue({
          code: 'custom',
          path: ['CHECKPOINT_SIGNING_KEY'],
          message: `must be an Ed25519 private key (PKCS8, base64 DER or PEM): ${err instanceof Error ? err.message : String(err)}`,
        });
      }
    }
    if (env.CHECKPOINT_PUBLIC_KEYS) {
      try {
        parseCheckpointPublicKeys(env.CHECKPOINT_PUBLIC_KEYS);
      } catch (err) {
        ctx.addIssue({
          code: 'custom',
          path: ['CHECKPOINT_PUBLIC_KEYS'],
          message: `must be keyId:<base64 SPKI> entries of Ed25519 keys: ${err instanceof Error ? err.message : String(err)}`,
        });
      }
    }
    if (env.NODE_ENV !== 'production') return;
    // In production nothing may fall back to, or repeat, a development default.
    const hint = '(NODE_ENV is production unless set: npm run dev sets development)';
    for (const key of ['DATABASE_URL', 'SECRETS_KEY', 'METRICS_TOKEN'] as const) {
      if (!env[key] && !(key === 'SECRETS_KEY' && env.SECRETS_KEYS))
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `is required when NODE_ENV=production ${hint}`,
        });
    }
    if (!env.OPERATOR_JWT_SECRET && !env.OPERATOR_JWKS_URL)
      ctx.addIssue({
        code: 'custom',
        path: ['OPERATOR_JWT_SECRET'],
        message: `or OPERATOR_JWKS_URL is required when NODE_ENV=production: operators need signed tokens ${hint}`,
      });
    if (env.OPERATOR_JWKS_URL && !env.OPERATOR_JWKS_URL.startsWith('https://'))
      ctx.addIssue({
        code: 'custom',
        path: ['OPERATOR_JWKS_URL'],
        message: 'must be an https:// URL in production',
      });
    if (!env.DECISION_SEAL_PRIVATE_KEY && !env.DECISION_SEAL_PUBLIC_KEYS)
      ctx.addIssue({
        code: 'custom',
        path: ['DECISION_SEAL_PRIVATE_KEY'],
        message: `(API) or DECISION_SEAL_PUBLIC_KEYS (workers) is required when NODE_ENV=production: decisions carry sealed identities ${hint}`,
      });
    if (env.DECISION_SEAL_PUBLIC_KEYS?.includes(DEV_DEFAULTS.DECISION_SEAL_PUBLIC_KEY))
      ctx.addIssue({
        code: 'custom',
        path: ['DECISION_SEAL_PUBLIC_KEYS'],
        message:
          "lists the development key, whose private half is public: workers would accept anyone's seal",
      });
    for (const key of [
      'OPERATOR_TOKEN',
      'SECRETS_KEY',
      'OPERATOR_JWT_SECRET',
      'DECISION_SEAL_PRIVATE_KEY',
    ] as const) {
      if (env[key] === DEV_DEFAULTS[key])
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: 'is the development default: choose a secret one',
        });
    }
    if (env.CHECKPOINT_SIGNING_KEY?.trim() === DEV_DEFAULTS.CHECKPOINT_SIGNING_KEY)
      ctx.addIssue({
        code: 'custom',
        path: ['CHECKPOINT_SIGNING_KEY'],
        message: 'is the development key: generate one (see README, "Chain checkpoints")',
      });
    const devPublicKey = DEV_DEFAULTS.CHECKPOINT_PUBLIC_KEYS.split(':')[1]!;
    if (env.CHECKPOINT_PUBLIC_KEYS?.includes(devPublicKey))
      ctx.addIssue({
        code: 'custom',
        path: ['CHECKPOINT_PUBLIC_KEYS'],
        message: 'lists the development key: list only your own',
      });
    if (
      env.SECRETS_KEYS &&
      parseSecretKeys(env.SECRETS_KEYS).some((k) => k.material === DEV_DEFAULTS.SECRETS_KEY)
    )
      ctx.addIssue({
        code: 'custom',
        path: ['SECRETS_KEYS'],
        message: 'holds the development key: choose secret ones',
      });
    if (!env.DUE_DILIGENCE_URL.startsWith('https://'))
      ctx.addIssue({
        code: 'custom',
        path: ['DUE_DILIGENCE_URL'],
        message: `must be an https:// URL when NODE_ENV=production ${hint}`,
      });
    if (!env.FX_RATES_URL.startsWith('https://'))
      ctx.addIssue({
        code: 'custom',
        path: ['FX_RATES_URL'],
        message: `must be an https:// URL when NODE_ENV=production ${hint}`,
      });
  });

export type Env = z.infer<typeof envSchema>;

export interface Config {
  nodeEnv: Env['NODE_ENV'];
  log: { level: Env['LOG_LEVEL']; pretty: boolean };
  /** url: the application's role; ownerUrl: the role that runs migrations (DATABASE_OWNER_URL, else DATABASE_URL). */
  db: { url: string; ownerUrl: string; poolMax: number };
  /** Signed checkpoints of the audit and ledger chain heads (`npm run chain:checkpoint`, the verify commands). */
  checkpoints: {
    /** Where checkpoints are written (CHECKPOINT_DATABASE_URL, else the owner's URL). */
    databaseUrl: string;
    /** The signing key (PKCS8, as configured); null when this process has none. */
    signingKey: string | null;
    keyId: string | null;
    /** `keyId:<base64 SPKI>` entries that verify checkpoints (empty: none configured). */
    publicKeys: string;
    file: string | null;
  };
  api: {
    host: string;
    port: number;
    bodyLimitBytes: number;
    publicUrl: string;
    trustProxy: string | number | boolean;
    rateLimits: { perCredentialPerMinute: number; failuresPerAddressPerMinute: number };
    /** The bootstrap administrator's token; null when none is configured. */
    operatorToken: string | null;
    /** How operator tokens are verified (and, with a secret, minted). */
    operatorTokens: OperatorTokenSettings;
    /** When set, /metrics answers only `Authorization: Bearer <metricsToken>`. */
    metricsToken: string | null;
  };
  temporal: { address: string; namespace: string; uiUrl: string; taskQueuePrefix: string };
  worker: { metricsPort: number; workflowBundlePath?: string; temporalSweepSeconds: number };
  /** Assets beyond ISO 4217 and their scales (minor-unit exponents), e.g. { USDC: 6 }. */
  currencies: { extraAssets: Record<string, number> };
  /** Key material that encrypts stored secrets (webhook signing keys). */
  secretsKey: string;
  /** The keys stored secrets are sealed under: the first seals, every one opens. */
  secretKeys: SecretKey[];
  /** Decision seals: the API's signing key entry (null: this process cannot seal), the verify keys, the lifetime. */
  decisionSeals: { privateKey: string | null; publicKeys: string | null; ttlMs: number };
  /** The FX reference-rates service cycles lock their rates from. */
  fxRatesUrl: string;
  onboarding: { dueDiligenceUrl: string; reminderIntervalMs: number; expiresAfterMs: number };
  /** Non-public hosts outbound calls may reach (the address policy's allow-list). */
  outboundAllowedHosts: string[];
  /** What one cycle's provider report may store (REPORT_MAX_ROWS, REPORT_MAX_BYTES). */
  reportCaps: { maxRows: number; maxBytes: number };
  /** The report path at scale: fetches at once per worker, rows per page, months of rows kept. */
  reports: { fetchConcurrency: number; pageRows: number; retentionMonths: number };
  /** Contract rules (CONTRACT_MAX_PAYOUT_APPROVAL_THRESHOLD_MINOR). */
  contracts: { maxPayoutApprovalThresholdMinor: string };
  /** The exception work queue: SLA tiers (EXCEPTION_SLA_TIERS) and the escalation sweep's interval (0: none). */
  exceptionQueue: { slaTiers: SlaTiers; sweepSeconds: number };
  /** Anomaly detection's Schedule and thresholds (WATCH_*), and the operations webhook. */
  watch: WatchSettings;
}

export interface WatchSettings {
  scanSeconds: number;
  rtp: { z: number; windowDays: number; minSpins: number };
  volume: { z: number; weeks: number };
  /** Production defaults for every partner without its own (partner_watch_settings). */
  bigWin: { amount: string; multiple: string };
  rollbackRate: number;
  duplicateRate: number;
  staleCount: number;
  fxMovePercent: string;
  reportLateMinutes: number;
  opsWebhook: { url: string; secret: string } | null;
}

function checkpointSettings(e: Env): Config['checkpoints'] {
  const dev = e.NODE_ENV !== 'production';
  const signingKey = e.CHECKPOINT_SIGNING_KEY ?? (dev ? DEV_DEFAULTS.CHECKPOINT_SIGNING_KEY : null);
  return {
    databaseUrl:
      e.CHECKPOINT_DATABASE_URL ?? e.DATABASE_OWNER_URL ?? e.DATABASE_URL ?? DEV_DEFAULTS.DATABASE_OWNER_URL,
    signingKey,
    keyId:
      signingKey === null
        ? null
        : (e.CHECKPOINT_KEY_ID ??
          (signingKey.trim() === DEV_DEFAULTS.CHECKPOINT_SIGNING_KEY
            ? 'dev'
            : checkpointKeyFingerprint(parseCheckpointSigningKey(signingKey)))),
    publicKeys: e.CHECKPOINT_PUBLIC_KEYS ?? (dev ? DEV_DEFAULTS.CHECKPOINT_PUBLIC_KEYS : ''),
    file: e.CHECKPOINT_FILE ?? null,
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; message: string }[]) {
    super('Invalid configuration:\n' + problems.map((p) => `  - ${p.variable}: ${p.message}`).join('\n'));
    this.name = 'ConfigError';
  }
}

/** Parses an environment (default: process.env) into a typed Config, or throws ConfigError. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings mean "unset" (a common shell and compose idiom).
  const env = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(env);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((i) => ({
        variable: String(i.path[0] ?? '(environment)'),
        message: i.message,
      }));
  if (env.NODE_ENV === 'test' && !inTestRunner(source))
    problems.unshift({
      variable: 'NODE_ENV',
      message:
        'test is for the test runner only (jest, or a process its harness starts with CLEARHOUSE_TEST_RUN=1): ' +
        'it switches the development keys on. Deploy with production (the default); npm run dev sets development',
    });
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;
  return {
    nodeEnv: e.NODE_ENV,
    log: { level: e.LOG_LEVEL, pretty: e.LOG_PRETTY },
    db: {
      url: e.DATABASE_URL ?? DEV_DEFAULTS.DATABASE_URL,
      // DATABASE_URL set and no owner URL: a single-URL deployment migrates with it, as before.
      ownerUrl: e.DATABASE_OWNER_URL ?? e.DATABASE_URL ?? DEV_DEFAULTS.DATABASE_OWNER_URL,
      poolMax: e.DATABASE_POOL_MAX,
    },
    checkpoints: checkpointSettings(e),
    api: {
      host: e.API_HOST,
      port: e.API_PORT,
      bodyLimitBytes: e.API_BODY_LIMIT_BYTES,
      publicUrl: e.API_PUBLIC_URL ?? `http://localhost:${e.API_PORT}`,
      trustProxy: /^\d+$/.test(e.API_TRUST_PROXY)
        ? Number(e.API_TRUST_PROXY)
        : e.API_TRUST_PROXY === 'true'
          ? true
          : e.API_TRUST_PROXY === 'false'
            ? false
            : e.API_TRUST_PROXY,
      rateLimits: {
        perCredentialPerMinute: e.RATE_LIMIT_PER_CREDENTIAL_PER_MINUTE,
        failuresPerAddressPerMinute: e.RATE_LIMIT_FAILURES_PER_ADDRESS_PER_MINUTE,
      },
      operatorToken: e.OPERATOR_TOKEN ?? (e.NODE_ENV === 'production' ? null : DEV_DEFAULTS.OPERATOR_TOKEN),
      operatorTokens: {
        secret:
          e.OPERATOR_JWT_SECRET ?? (e.NODE_ENV === 'production' ? null : DEV_DEFAULTS.OPERATOR_JWT_SECRET),
        jwksUrl: e.OPERATOR_JWKS_URL ?? null,
        issuer: e.OPERATOR_JWT_ISSUER,
        audience: e.OPERATOR_JWT_AUDIENCE,
        rolesClaim: e.OPERATOR_ROLES_CLAIM,
        nameClaim: e.OPERATOR_NAME_CLAIM,
        maxTtlSeconds: e.OPERATOR_TOKEN_MAX_TTL_SECONDS,
      },
      metricsToken: e.METRICS_TOKEN ?? null,
    },
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      uiUrl: e.TEMPORAL_UI_URL,
      taskQueuePrefix: e.TASK_QUEUE_PREFIX,
    },
    worker: {
      metricsPort: e.WORKER_METRICS_PORT,
      temporalSweepSeconds: e.TEMPORAL_SWEEP_INTERVAL_SECONDS,
      ...(e.WORKFLOW_BUNDLE_PATH ? { workflowBundlePath: e.WORKFLOW_BUNDLE_PATH } : {}),
    },
    secretsKey: e.SECRETS_KEY ?? DEV_DEFAULTS.SECRETS_KEY,
    // SECRETS_KEYS when set (the first seals); otherwise SECRETS_KEY under the key id k0.
    secretKeys: e.SECRETS_KEYS
      ? parseSecretKeys(e.SECRETS_KEYS)
      : [{ kid: LEGACY_KID, material: e.SECRETS_KEY ?? DEV_DEFAULTS.SECRETS_KEY }],
    decisionSeals: {
      privateKey:
        e.DECISION_SEAL_PRIVATE_KEY ??
        (e.NODE_ENV === 'production' ? null : DEV_DEFAULTS.DECISION_SEAL_PRIVATE_KEY),
      publicKeys: e.DECISION_SEAL_PUBLIC_KEYS ?? null,
      ttlMs: e.DECISION_SEAL_TTL_SECONDS * 1000,
    },
    fxRatesUrl: e.FX_RATES_URL,
    onboarding: {
      dueDiligenceUrl: e.DUE_DILIGENCE_URL,
      reminderIntervalMs: e.ONBOARDING_REMINDER_SECONDS * 1000,
      expiresAfterMs: e.ONBOARDING_EXPIRY_SECONDS * 1000,
    },
    // Development and tests run their simulators on loopback; production allows none by default.
    outboundAllowedHosts: (
      e.OUTBOUND_ALLOWED_HOSTS ?? (e.NODE_ENV === 'production' ? '' : 'localhost,127.0.0.1,::1')
    )
      .split(',')
      .filter(Boolean),
    reportCaps: { maxRows: e.REPORT_MAX_ROWS, maxBytes: e.REPORT_MAX_BYTES },
    reports: {
      fetchConcurrency: e.REPORT_FETCH_CONCURRENCY,
      pageRows: e.REPORT_PAGE_ROWS,
      retentionMonths: e.REPORT_RETENTION_MONTHS,
    },
    contracts: { maxPayoutApprovalThresholdMinor: e.CONTRACT_MAX_PAYOUT_APPROVAL_THRESHOLD_MINOR },
    exceptionQueue: {
      slaTiers: e.EXCEPTION_SLA_TIERS ? parseSlaTiers(e.EXCEPTION_SLA_TIERS) : DEFAULT_SLA_TIERS,
      sweepSeconds: e.EXCEPTION_SLA_SWEEP_SECONDS,
    },
    watch: {
      scanSeconds: e.WATCH_SCAN_SECONDS,
      rtp: { z: e.WATCH_RTP_Z, windowDays: e.WATCH_RTP_WINDOW_DAYS, minSpins: e.WATCH_RTP_MIN_SPINS },
      volume: { z: e.WATCH_VOLUME_Z, weeks: e.WATCH_VOLUME_WEEKS },
      bigWin: { amount: e.WATCH_BIG_WIN_AMOUNT, multiple: e.WATCH_BIG_WIN_MULTIPLE },
      rollbackRate: e.WATCH_ROLLBACK_RATE,
      duplicateRate: e.WATCH_DUPLICATE_RATE,
      staleCount: e.WATCH_STALE_COUNT,
      fxMovePercent: e.WATCH_FX_MOVE_PERCENT,
      reportLateMinutes: e.WATCH_REPORT_LATE_MINUTES,
      opsWebhook:
        e.OPS_WEBHOOK_URL && e.OPS_WEBHOOK_SECRET
          ? { url: e.OPS_WEBHOOK_URL, secret: e.OPS_WEBHOOK_SECRET }
          : null,
    },
    currencies: {
      extraAssets: Object.fromEntries(
        e.CURRENCY_EXTRA_ASSETS.split(',').map((pair) => [pair.split(':')[0]!, Number(pair.split(':')[1])]),
      ),
    },
  };
}

/** For process entry points: print the problems and exit instead of a stack trace. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
}
