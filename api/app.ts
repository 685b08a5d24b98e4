import express, { Router } from 'express';
import { createCurrencyRegistry } from '../domain/money';
import { pinoHttp } from 'pino-http';
import swaggerUi from 'swagger-ui-express';
import type { ApiDeps } from './deps';
import { errorHandler, notFoundHandler } from './errors';
import { createMetrics } from './metrics';
import { createRegistry, generateOpenApi } from './openapi';
import { healthRoutes } from './routes/health';
import { contractRoutes } from './routes/contracts';
import { gameRoutes } from './routes/games';
import { ledgerRoutes } from './routes/ledger';
import { partnerRoutes } from './routes/partners';
import { settlementRoutes } from './routes/settlements';
import { transactionRoutes } from './routes/transactions';

export function createApp(deps: ApiDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  const metrics = createMetrics();
  app.use(metrics.middleware);
  app.use(
    pinoHttp({
      logger: deps.logger,
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/metrics' },
      // One short line per request; headers (and so credentials) are never logged.
      serializers: {
        req: (req: { id: unknown; method: string; url: string }) => ({
          id: req.id,
          method: req.method,
          url: req.url,
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      customLogLevel: (_req, res, err) =>
        err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
    }),
  );
  app.use(
    express.json({ limit: deps.config.api.bodyLimitBytes, type: ['application/json', 'application/*+json'] }),
  );

  const registry = createRegistry();
  const router = Router();
  healthRoutes(router, registry, deps);
  partnerRoutes(router, registry, deps);
  contractRoutes(router, registry, deps);
  gameRoutes(router, registry, deps);
  const currencies = createCurrencyRegistry(deps.config.currencies.extraAssets);
  transactionRoutes(router, registry, deps, currencies);
  ledgerRoutes(router, registry, deps, currencies);
  settlementRoutes(router, registry, deps, currencies);
  app.use(router);

  const spec = generateOpenApi(registry, deps.config.api.publicUrl);
  app.get('/openapi.json', (_req, res) => {
    res.json(spec);
  });
  app.use('/docs', swaggerUi.serve, swaggerUi.setup(spec, { customSiteTitle: 'Clearhouse API' }));
  app.get('/metrics', async (_req, res, next) => {
    try {
      res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    } catch (err) {
      next(err);
    }
  });

  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger));
  return app;
}
