import { ConfigError, DEV_DEFAULTS, loadConfig } from '../platform/config';

describe('config: validated once at start-up, naming each bad variable', () => {
  it('runs on embedded defaults with an empty environment', () => {
    const config = loadConfig({});
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
      /DATABASE_URL: is required when NODE_ENV=production[\s\S]*OPERATOR_TOKEN: is required/,
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
      SECRETS_KEY: 'k'.repeat(32),
      METRICS_TOKEN: 'm'.repeat(16),
    });
    expect(ok.api.operatorToken).toBe('x'.repeat(32));
  });

  it('reads extra assets and their scales', () => {
    expect(loadConfig({}).currencies.extraAssets).toEqual({ USDC: 6, USDT: 6 });
    expect(loadConfig({ CURRENCY_EXTRA_ASSETS: 'GOLD:3,USDC:6' }).currencies.extraAssets).toEqual({
      GOLD: 3,
      USDC: 6,
    });
    expect(() => loadConfig({ CURRENCY_EXTRA_ASSETS: 'usdc:6' })).toThrow(/CURRENCY_EXTRA_ASSETS/);
    expect(() => loadConfig({ CURRENCY_EXTRA_ASSETS: 'GOLD:19' })).toThrow(/CURRENCY_EXTRA_ASSETS/);
  });

  it('treats empty strings as unset, as shells and compose files produce them', () => {
    expect(loadConfig({ API_PORT: '', DATABASE_URL: '' }).api.port).toBe(3000);
  });
});
