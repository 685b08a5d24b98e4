import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { envSchema } from '../platform/config';
import searchAttributes from '../platform/search-attributes.json';

// No Docker engine runs here, so the production topology is validated statically: it
// parses, its services are the ones Clearhouse needs, and the environment it hands the api
// and worker is exactly what the config module understands.
const root = path.join(__dirname, '..');
interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
}
const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const services = compose.services;

describe('docker-compose.yml: the production topology', () => {
  it('has Postgres, a schema-set-up Temporal server, its UI, and the api and worker', () => {
    expect(Object.keys(services).sort()).toEqual([
      'api',
      'chain-checkpoint',
      'migrate',
      'postgres',
      'temporal',
      'temporal-schema',
      'temporal-setup',
      'temporal-ui',
      'ui-gateway',
      'worker',
    ]);
    expect(services.temporal!.image).toMatch(/^temporalio\/server:/);
    expect(services['temporal-schema']!.image).toMatch(/^temporalio\/admin-tools:/);
    expect(services['temporal-ui']!.image).toMatch(/^temporalio\/ui:/);
    for (const s of Object.values(services)) expect(s.image ?? '').not.toMatch(/auto-setup/);
  });

  it('starts things in a safe order', () => {
    expect(services.temporal!.depends_on!['temporal-schema']!.condition).toBe(
      'service_completed_successfully',
    );
    for (const app of ['api', 'worker']) {
      expect(services[app]!.depends_on!.migrate!.condition).toBe('service_completed_successfully');
      expect(services[app]!.depends_on!['temporal-setup']!.condition).toBe('service_completed_successfully');
    }
  });

  it('gives api and worker only variables the config module knows, and what production requires', () => {
    const known = new Set(Object.keys(envSchema.shape));
    for (const app of ['api', 'worker', 'migrate', 'chain-checkpoint']) {
      const env = services[app]!.environment!;
      for (const key of Object.keys(env))
        expect({ app, key, known: known.has(key) }).toEqual({ app, key, known: true });
      expect(env.NODE_ENV).toBe('production');
      expect(env.DATABASE_URL).toMatch(/^postgres:\/\/.*@postgres:5432\/clearhouse$/);
      expect(env.TEMPORAL_ADDRESS).toBe('temporal:7233');
      expect(env.OPERATOR_JWT_SECRET).toBeDefined();
      expect(env.OPERATOR_JWKS_URL).toBeDefined();
      expect(env.DUE_DILIGENCE_URL).toMatch(/:\?/);
    }
    // The api and worker connect as the application's role, never as the owner.
    for (const app of ['api', 'worker']) {
      expect(services[app]!.environment!.DATABASE_URL).toMatch(/^postgres:\/\/clearhouse_app:/);
      expect(services[app]!.environment!.DATABASE_OWNER_URL).toBeUndefined();
      expect(services[app]!.environment!.CHECKPOINT_SIGNING_KEY).toBeUndefined();
      expect(services[app]!.environment!.DECISION_SEAL_PUBLIC_KEYS).toMatch(/:\?/);
    }
    // Only the api seals decisions; the worker verifies with public keys.
    expect(services.api!.environment!.DECISION_SEAL_PRIVATE_KEY).toMatch(/:\?/);
    expect(services.worker!.environment!.DECISION_SEAL_PRIVATE_KEY).toBeUndefined();
  });

  it('builds api and worker from a glibc (non-alpine) image and runs their compiled entry points', () => {
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    const bases = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]!);
    expect(bases.length).toBeGreaterThan(0);
    for (const base of bases) expect(base).not.toMatch(/alpine/);
    expect(services.api!.command).toEqual(['node', 'dist/api/main.js']);
    expect(services.worker!.command).toEqual(['node', 'dist/workers/main.js']);
    expect(services.migrate!.command).toEqual(['node', 'dist/scripts/migrate.js']);
  });

  it("does not publish Temporal's gRPC frontend, and the UI only on loopback through its gateway", () => {
    expect(services.temporal!.ports).toBeUndefined();
    expect(services['temporal-ui']!.ports).toBeUndefined();
    expect(services['ui-gateway']!.ports).toEqual(['127.0.0.1:8233:8233']);
    expect(services['ui-gateway']!.command).toEqual(['node', 'scripts/lib/ui-gateway.mjs']);
    expect(services['ui-gateway']!.environment).toMatchObject({
      TEMPORAL_UI_SERVER_URL: 'http://temporal-ui:8080',
      CLEARHOUSE_API_URL: 'http://api:3000',
    });
  });

  it('lets operators decide in the UI with sealed Updates behind SSO, and do nothing else there', () => {
    const ui = services['temporal-ui']!.environment!;
    expect(ui.TEMPORAL_AUTH_ENABLED).toBe('${TEMPORAL_UI_AUTH_ENABLED:-true}');
    // Updates on (the one write action decisions use), every other write action off.
    expect(ui.TEMPORAL_DISABLE_WRITE_ACTIONS).toBe('false');
    for (const off of [
      'TEMPORAL_START_WORKFLOW_DISABLED',
      'TEMPORAL_WORKFLOW_RESET_DISABLED',
      'TEMPORAL_WORKFLOW_TERMINATE_DISABLED',
      'TEMPORAL_WORKFLOW_CANCEL_DISABLED',
      'TEMPORAL_WORKFLOW_SIGNAL_DISABLED',
      'TEMPORAL_BATCH_ACTIONS_DISABLED',
    ])
      expect({ [off]: ui[off] }).toEqual({ [off]: 'true' });
    // The codec is Clearhouse's, on the UI's own origin (the gateway), so its session cookie rides along.
    expect(ui.TEMPORAL_CODEC_ENDPOINT).toBe(
      '${TEMPORAL_UI_PUBLIC_URL:-http://localhost:8233}/clearhouse/codec',
    );
    expect(readFileSync(path.join(root, 'Dockerfile'), 'utf8')).toContain('scripts/lib/ui-gateway.mjs');
  });

  it('registers the same search attributes as the dev server and the tests', () => {
    const setup = services['temporal-setup']!;
    expect(setup.volumes).toContain('./platform/search-attributes.json:/search-attributes.json:ro');
    expect(Object.keys(searchAttributes)).toEqual(
      expect.arrayContaining(['PartnerId', 'SettlementPeriod', 'SettlementStatus', 'OpenExceptions']),
    );
  });

  it('commits no secret: credentials are required from the environment', () => {
    const text = readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');
    expect(text).toContain('${POSTGRES_PASSWORD:?');
    expect(text).toContain('${SECRETS_KEY:?');
    expect(text).toContain('${METRICS_TOKEN:?');
    expect(text).not.toMatch(/PASSWORD:\s*[a-z0-9]+\s*$/im);
  });
});
