import type { Router } from 'express';
import type { ApiDeps } from './deps';

// The console's sign-in, session and sign-out (issue 19): being written.
export function consoleSessionRoutes(_router: Router, _deps: ApiDeps): void {}
