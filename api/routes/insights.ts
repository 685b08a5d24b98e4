import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Router } from 'express';
import type { ApiDeps } from '../deps';

// Being written (issue 19).
export function insightRoutes(_router: Router, _registry: OpenAPIRegistry, _deps: ApiDeps): void {}
