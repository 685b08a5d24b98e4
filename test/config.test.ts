import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import { ConfigError, DEV_DEFAULTS, loadConfig } from '../platform/config';
/** A deployment's own decision seal key (not the development one), generated for this test. */
const SEALING_PAIR = generateKeyPairSync('ed25519');
const SEALING_PUBLIC_KEY = `prod-1:${SEALING_PAIR.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
const SEALING_KEY = `prod-1:${SEALING_PAIR.privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64')}`;

describe('config: validated once at start-up, naming each bad variable', () => {
  it('runs on embedded defaults in development, and refuses them when not told it is development', () => {
    expect(() => loadConfig({})).toThrow(
      /OPERATOR_JWT_SECRET: or OPERATOR_JWKS_URL is required when NODE_ENV=production/,
    );
    expect(() =>
      loadConfig({
        DATABASE_URL: 'postgres://a@b/c',
        OPERATOR_TOKEN: DEV_DEFAULTS.OPERATOR_TOKEN,
        OPERATOR_JWT_SECRET: DEV_DEFAULTS.OPERATOR_JWT_SECRET,
        SECRETS_KEY: DEV_DEFAULTS.SECRETS_KEY,
        METRICS_TOKEN: 'm'.repeat(16),
        FX_RATES_URL: 'http://rates.example',
      }),
    ).toThrow(
      /OPERATOR_TOKEN: is the development default[\s\S]*SECRETS_KEY: is the development default[\s\S]*OPERATOR_JWT_SECRET: is the development default[\s\S]*DUE_DILIGENCE_URL: must be an https[\s\S]*FX_RATES_URL: must be an https/,
    );
    const config = loadConfig({ NODE_ENV: 'development' });
    expect(config.db.url).toBe(DEV_DEFAULTS.DATABASE_URL);
    expect(config.api.port).toBe(3000);
    expect(config.temporal).toMatchObject({
      address: '127.0.0.1:7233',
      namespace: 'default',
      taskQueuePrefix: '',
    });
  });

  it('names every invalid variable in one error', () => {
    let caught: unknown;
    try {
      loadConfig({
        NODE_ENV: 'development',
        API_PORT: '99999',
        DATABASE_URL: 'mysql://x',
        TEMPORAL_ADDRESS: 'no-port',
        LOG_LEVEL: 'loud',
      });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems.map((p) => p.variable).sort();
    expect(problems).toEqual(['API_PORT', 'DATABASE_URL', 'LOG_LEVEL', 'TEMPORAL_ADDRESS']);
    expect((caught as ConfigError).message).toContain('DATABASE_URL: must be a postgres:// connection URL');
  });

  it('refuses development defaults in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(
      /DATABASE_URL: is required when NODE_ENV=production[\s\S]*OPERATOR_JWT_SECRET: or OPERATOR_JWKS_URL is required/,
    );
    expect(() =>
      loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://a@b/c', OPERATOR_TOKEN: 'short' }),
    ).toThrow(/OPERATOR_TOKEN: must be at least 16 characters/);
    expect(() =>
      loadConfig({
        NODE_ENV: 'production',
        DATABASE_URL: 'postgres://a@b/c',
        OPERATOR_TOKEN: 'x'.repeat(32),
      }),
    ).toThrow(/SECRETS_KEY: is required/);
    expect(() =>
      loadConfig({
        NODE_ENV: 'production',
        DATABASE_URL: 'postgres://a@b/c',
        OPERATOR_TOKEN: 'x'.repeat(32),
        SECRETS_KEY: 'k'.repeat(32),
      }),
    ).toThrow(/METRICS_TOKEN: is required/);
    // The development decision seal key is refused; one of the deployment's own is required.
    expect(() =>
      loadConfig({
        NODE_ENV: 'production',
        DECISION_SEAL_PRIVATE_KEY: DEV_DEFAULTS.DECISION_SEAL_PRIVATE_KEY,
      }),
    ).toThrow(/DECISION_SEAL_PRIVATE_KEY: is the development default/);
    expect(() =>
      loadConfig({
        NODE_ENV: 'production',
        DECISION_SEAL_PUBLIC_KEYS: `k1:${DEV_DEFAULTS.DECISION_SEAL_PUBLIC_KEY}`,
      }),
    ).toThrow(/DECISION_SEAL_PUBLIC_KEYS: lists the development key/);
    const ok = loadConfig({
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://a@b/c',
      OPERATOR_TOKEN: 'x'.repeat(32),
      OPERATOR_JWT_SECRET: 'j'.repeat(32),
      DECISION_SEAL_PRIVATE_KEY: SEALING_KEY,
      SECRETS_KEY: 'k'.repeat(32),
      METRICS_TOKEN: 'm'.repeat(16),
      FX_RATES_URL: 'https://rates.example',
      DUE_DILIGENCE_URL: 'https://checks.example',
    });
    expect(ok.api.operatorToken).toBe('x'.repeat(32));
    // Named operators only: no bootstrap token, tokens from an OIDC issuer.
    const oidc = loadConfig({
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://a@b/c',
      OPERATOR_JWKS_URL: 'https://sso.example/.well-known/jwks.json',
      DECISION_SEAL_PUBLIC_KEYS: SEALING_PUBLIC_KEY,
      SECRETS_KEY: 'k'.repeat(32),
      METRICS_TOKEN: 'm'.repeat(16),
      FX_RATES_URL: 'https://rates.example',
      DUE_DILIGENCE_URL: 'https://checks.example',
    });
    expect(oidc.api).toMatchObject({
      operatorToken: null,
      operatorTokens: { secret: null, jwksUrl: expect.any(String) },
    });
    expect(() =>
      loadConfig({
        NODE_ENV: 'production',
        DATABASE_URL: 'postgres://a@b/c',
        OPERATOR_JWKS_URL: 'http://sso.example/jwks',
        DECISION_SEAL_PUBLIC_KEYS: SEALING_PUBLIC_KEY,
        SECRETS_KEY: 'k'.repeat(32),
        METRICS_TOKEN: 'm'.repeat(16),
        FX_RATES_URL: 'https://rates.example',
        DUE_DILIGENCE_URL: 'https://checks.example',
      }),
    ).toThrow(/OPERATOR_JWKS_URL: must be an https/);
  });

  it('reads extra assets and their scales', () => {
    expect(loadConfig({ NODE_ENV: 'development' }).currencies.extraAssets).toEqual({ USDC: 6, USDT: 6 });
    expect(
      loadConfig({ NODE_ENV: 'development', CURRENCY_EXTRA_ASSETS: 'GOLD:3,USDC:6' }).currencies.extraAssets,
    ).toEqual({
      GOLD: 3,
      USDC: 6,
    });
    expect(() => loadConfig({ NODE_ENV: 'development', CURRENCY_EXTRA_ASSETS: 'usdc:6' })).toThrow(
      /CURRENCY_EXTRA_ASSETS/,
    );
    expect(() => loadConfig({ NODE_ENV: 'development', CURRENCY_EXTRA_ASSETS: 'GOLD:19' })).toThrow(
      /CURRENCY_EXTRA_ASSETS/,
    );
  });

  it('treats empty strings as unset, as shells and compose files produce them', () => {
    expect(loadConfig({ NODE_ENV: 'development', API_PORT: '', DATABASE_URL: '' }).api.port).toBe(3000);
  });

  it('reads the operator token lifetime and the report caps, with their defaults and bounds', () => {
    const defaults = loadConfig({ NODE_ENV: 'development' });
    expect(defaults.api.operatorTokens.maxTtlSeconds).toBe(12 * 3600);
    expect(defaults.reportCaps).toEqual({ maxRows: 20_000_000, maxBytes: 8 * 1024 ** 3 });
    const set = loadConfig({
      NODE_ENV: 'development',
      OPERATOR_TOKEN_MAX_TTL_SECONDS: '3600',
      REPORT_MAX_ROWS: '5000000',
      REPORT_MAX_BYTES: String(2 * 1024 ** 3),
    });
    expect(set.api.operatorTokens.maxTtlSeconds).toBe(3600);
    expect(set.reportCaps).toEqual({ maxRows: 5_000_000, maxBytes: 2 * 1024 ** 3 });
    let caught: unknown;
    try {
      loadConfig({
        NODE_ENV: 'development',
        OPERATOR_TOKEN_MAX_TTL_SECONDS: String(8 * 86_400),
        REPORT_MAX_ROWS: '0',
        REPORT_MAX_BYTES: String(2 * 1024 ** 4),
      });
    } catch (err) {
      caught = err;
    }
    expect((caught as ConfigError).problems.map((p) => p.variable).sort()).toEqual([
      'OPERATOR_TOKEN_MAX_TTL_SECONDS',
      'REPORT_MAX_BYTES',
      'REPORT_MAX_ROWS',
    ]);
  });
});

// NODE_ENV=test switches the development keys on (the bootstrap token, the JWT secret, the
// secrets key, loopback and plain-http services), so only the test runner may use it.
describe('NODE_ENV=test, outside the test runner', () => {
  /** `npm run cli -- operator:token` as a deployment would start it: no jest, no test harness. */
  const start = (env: Record<string, string>) =>
    spawnSync(
      process.execPath,
      ['--import', 'tsx', 'scripts/cli.ts', 'operator:token', '--name', 'ana', '--role', 'viewer'],
      {
        cwd: path.join(__dirname, '..'),
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
        encoding: 'utf8',
        timeout: 60_000,
      },
    );

  it('refuses to start, saying why and what to set instead', () => {
    const r = start({ NODE_ENV: 'test' });
    expect(r.status).toBe(78);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      'NODE_ENV: test is for the test runner only (jest, or a process its harness starts with ' +
        'CLEARHOUSE_TEST_RUN=1): it switches the development keys on. Deploy with production (the ' +
        'default); npm run dev sets development',
    );
    // Named with the other problems, not after they are fixed.
    const both = start({ NODE_ENV: 'test', REPORT_MAX_ROWS: '0' });
    expect(both.stderr).toMatch(/- NODE_ENV: test is for the test runner only[^\n]*\n\s+- REPORT_MAX_ROWS: /);
  });

  it('is accepted in the test runner and in the processes its harness starts', () => {
    // This process is a jest worker (JEST_WORKER_ID).
    expect(loadConfig({ NODE_ENV: 'test' }).api.operatorToken).toBe(DEV_DEFAULTS.OPERATOR_TOKEN);
    const harnessed = start({ NODE_ENV: 'test', CLEARHOUSE_TEST_RUN: '1' });
    expect([harnessed.status, harnessed.stderr]).toEqual([0, '']);
    expect(harnessed.stdout).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(start({ NODE_ENV: 'development' }).status).toBe(0);
  });
});
