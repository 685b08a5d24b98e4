import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { ping } from '../../db/pool';
import type { ApiDeps } from '../deps';
import { mountRoute } from '../route';

const readinessSchema = z
  .object({
    status: z.enum(['ready', 'not_ready']),
    checks: z.object({ postgres: z.string(), temporal: z.string() }),
  })
  .meta({ id: 'Readiness' });

const CHECK_TIMEOUT_MS = 2_000;

async function check(fn: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    return 'ok';
  } catch (err) {
    return err instanceof Error ? err.message : 'failed';
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = { db: deps.db, operatorToken: deps.config.api.operatorToken };
  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/healthz',
    summary: 'Liveness: the process is up',
    tags: ['health'],
    auth: 'none',
    responses: {
      200: {
        description: 'Up',
        content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } },
      },
    },
    handler: async () => ({ status: 200, body: { status: 'ok' } }),
  });
  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/readyz',
    summary: 'Readiness: Postgres and Temporal are reachable',
    tags: ['health'],
    auth: 'none',
    responses: {
      200: { description: 'Ready', content: { 'application/json': { schema: readinessSchema } } },
      503: {
        description: 'A dependency is unreachable',
        content: { 'application/json': { schema: readinessSchema } },
      },
    },
    handler: async () => {
      const [postgres, temporal] = await Promise.all([
        check(() => ping(deps.db)),
        check(() => deps.temporal.workflowService.getSystemInfo({})),
      ]);
      const ready = postgres === 'ok' && temporal === 'ok';
      return {
        status: ready ? 200 : 503,
        body: { status: ready ? 'ready' : 'not_ready', checks: { postgres, temporal } },
      };
    },
  });
}
