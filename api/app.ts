import express, { Router } from 'express';
import helmet from 'helmet';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createCurrencyRegistry } from '../domain/money';
import { pinoHttp } from 'pino-http';
import swaggerUi from 'swagger-ui-express';
import type { ApiDeps } from './deps';
import { errorHandler, notFoundHandler } from './errors';
import { createMetrics } from './metrics';
import { rateLimits } from './rate-limits';
import { documentTextRule } from './text-rule';
import { methodNotAllowed } from './route';
import { createRegistry, generateOpenApi } from './openapi';
import { alertRoutes } from './routes/alerts';
import { applicationRoutes } from './routes/applications';
import { catalogueRoutes } from './routes/catalogue';
import { insightRoutes } from './routes/insights';
import { partnerUserRoutes } from './routes/partner-users';
import { periodRoutes } from './routes/periods';
import { invoiceRoutes } from './routes/invoices';
import { disputeRoutes } from './routes/disputes';
import { payoutRoutes } from './routes/payouts';
import { restatementRoutes } from './routes/restatements';
import { consoleRoutes } from './console';
import { consoleSessionRoutes } from './console-session';
import { auditRoutes } from './routes/audit';
import { codecRoutes } from './routes/codec';
import { healthRoutes } from './routes/health';
import { contractRoutes } from './routes/contracts';
import { exceptionFileRoutes } from './routes/exception-files';
import { exceptionQueueRoutes } from './routes/exception-queue';
import { exceptionRuleRoutes } from './routes/exception-rules';
import { gameRoutes } from './routes/games';
import { ledgerRoutes } from './routes/ledger';
import { partnerRoutes } from './routes/partners';
import { settlementRoutes } from './routes/settlements';
import { transactionRoutes } from './routes/transactions';

/** Constant-time comparison of two strings (a token against the one configured). */
function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function createApp(deps: ApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // Security headers (nosniff, frame options, HSTS, referrer policy…). No CSP: the API answers
  // JSON and CSV, and its one HTML page, the docs, is swagger-ui's own bundle.
  app.use(helmet({ contentSecurityPolicy: false }));
  app.set('query parser', 'simple');

  const metrics = createMetrics({ db: deps.db });
  app.use(metrics.middleware);
  app.use(
    pinoHttp({
      logger: deps.logger,
      // A caller's own request id (to find its call in our logs and audit trail), else a new one.
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && /^[A-Za-z0-9._:-]{8,100}$/.test(given) ? given : randomUUID();
        res.setHeader('x-request-id', id);
        return id;
      },
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/metrics' },
      // One short line per request; headers (and so credentials) are never logged.
      serializers: {
        req: (req: { id: unknown; method: string; url: string }) => ({
          id: req.id,
          method: req.method,
          // An invitation's token travels in its link (GET /console/invitation?token=…): masked.
          url: req.url.replace(/([?&]token=)[^&]*/gi, '$1…'),
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      customLogLevel: (_req, res, err) =>
        err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
    }),
  );
  app.set('trust proxy', deps.config.api.trustProxy);
  for (const limit of rateLimits(deps.config.api.rateLimits)) app.use(limit);
  // No body is read here: each route authenticates its caller, checks its role, then reads
  // and validates the body it declares (api/route.ts), so an unknown caller cannot make the API
  // buffer megabytes, and a caller without the role hears 403 whatever it sent.

  const registry = createRegistry();
  const router = Router();
  healthRoutes(router, registry, deps);
  partnerRoutes(router, registry, deps);
  applicationRoutes(router, registry, deps);
  contractRoutes(router, registry, deps);
  gameRoutes(router, registry, deps);
  const currencies = createCurrencyRegistry(deps.config.currencies.extraAssets);
  transactionRoutes(router, registry, deps, currencies);
  ledgerRoutes(router, registry, deps, currencies);
  settlementRoutes(router, registry, deps, currencies);
  exceptionQueueRoutes(router, registry, deps);
  exceptionFileRoutes(router, registry, deps, currencies);
  exceptionRuleRoutes(router, registry, deps);
  auditRoutes(router, registry, deps);
  insightRoutes(router, registry, deps);
  catalogueRoutes(router, registry, deps);
  alertRoutes(router, registry, deps);
  partnerUserRoutes(router, registry, deps);
  periodRoutes(router, registry, deps);
  invoiceRoutes(router, registry, deps);
  disputeRoutes(router, registry, deps);
  payoutRoutes(router, registry, deps);
  restatementRoutes(router, registry, deps);
  // The console's sign-in (HTML forms, not REST resources: not in the OpenAPI document).
  consoleSessionRoutes(router, deps);
  // Temporal's codec protocol for the CLI and Web UI (not a REST resource: not in the OpenAPI document).
  codecRoutes(router, deps);
  app.use(router);
  app.use(methodNotAllowed(router));

  const spec = documentTextRule(
    generateOpenApi(registry, deps.config.api.publicUrl) as Record<string, unknown>,
  );
  app.get('/openapi.json', (_req, res) => {
    res.json(spec);
  });
  consoleRoutes(app, deps);
  app.use('/docs', swaggerUi.serve, swaggerUi.setup(spec, { customSiteTitle: 'Clearhouse API' }));
  const metricsToken = deps.config.api.metricsToken;
  app.get('/metrics', async (req, res, next) => {
    try {
      if (metricsToken !== null && !sameSecret(req.get('authorization') ?? '', `Bearer ${metricsToken}`)) {
        res
          .status(401)
          .json({ error: { code: 'unauthorized', message: 'metrics need their bearer token', details: [] } });
        return;
      }
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    } catch (err) {
      next(err);
    }
  });

  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger));
  return app;
}
