import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import type { ApiDeps } from '../deps';

// Placeholder wired into createApp; replaced by the work of issue 20.
export function restatementRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  void router;
  void registry;
  void deps;
}
