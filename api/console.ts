import type express from 'express';
import type { ApiDeps } from './deps';

// The operator and partner console under /console (issue 19): being written.
export function consoleRoutes(_app: express.Express, _deps: ApiDeps): void {}
