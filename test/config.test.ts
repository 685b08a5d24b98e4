import { ConfigError, DEV_DEFAULTS, loadConfig } from '../platform/config';

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
    const ok = loadConfig({
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://a@b/c',
      OPERATOR_TOKEN: 'x'.repeat(32),
      OPERATOR_JWT_SECRET: 'j'.repeat(32),
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
});
