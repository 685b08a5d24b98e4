import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import { z } from 'zod';
import { ping } from '../../db/pool';
import type { ApiDeps } from '../deps';
import { mountRoute } from '../route';
import { authDeps } from '../auth';

const readinessSchema = z
  .object({
    status: z.enum(['ready', 'not_ready']),
    checks: z.object({
      postgres: z.enum(['ok', 'unreachable', 'timed out']),
      temporal: z.enum(['ok', 'unreachable', 'timed out']),
    }),
  })
  .meta({ id: 'Readiness' });

const CHECK_TIMEOUT_MS = 2_000;

/**
 * One dependency's readiness, as a caller may read it: `ok`, `unreachable` or `timed out`.
 * The raw error (addresses, credentials in a message, driver detail) goes to the log only.
 */
async function check(
  fn: () => Promise<unknown>,
  log: (detail: string) => void,
): Promise<'ok' | 'unreachable' | 'timed out'> {
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => {
          timedOut = true;
          reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`));
        }, CHECK_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (err) {
    log(err instanceof Error ? err.message : String(err));
    return timedOut ? 'timed out' : 'unreachable';
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);
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
        check(
          () => ping(deps.db),
          (detail) => deps.logger.warn({ dependency: 'postgres', detail }, 'not ready'),
        ),
        check(
          () => deps.temporal.workflowService.getSystemInfo({}),
          (detail) => deps.logger.warn({ dependency: 'temporal', detail }, 'not ready'),
        ),
      ]);
      const ready = postgres === 'ok' && temporal === 'ok';
      return {
        status: ready ? 200 : 503,
        body: { status: ready ? 'ready' : 'not_ready', checks: { postgres, temporal } },
      };
    },
  });
}
