import express, { type NextFunction, type Request, type Response } from 'express';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { ApiDeps } from './deps';

/**
 * The operator and partner console under /console (issue 19): a small single-page app of plain ES
 * modules (console/), no build step. Every figure on it comes from the API, with the signed-in
 * person's cookie session (api/console-session.ts serves sign-in, session, sign-out and invitation,
 * mounted earlier on the router).
 *
 * - /console/assets/*  the app's own files (console/assets);
 * - /console/vendor/*  exactly three files of maintained chart libraries from node_modules (no CDN,
 *   no directory listing, nothing else from node_modules);
 * - /console and any other /console/* path: index.html (the app routes by path).
 *
 * Every answer carries the console's content-security policy: scripts and styles from this origin
 * only, no inline script or style, no framing.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

/** Paths under /console that belong to the sign-in (api/console-session.ts), never the app's index.html. */
const SESSION_PATHS = /^\/console\/(sign-in|session|sign-out|invitation)(\/|$)/;
/** File areas: a missing file there is a 404, not the app. */
const FILE_AREAS = /^\/console\/(assets|vendor)(\/|$)/;

/** The console's files: next to api/ in the source tree, or dist/console when built (copied there). */
function consoleDir(): string {
  const candidates = [path.join(__dirname, '..', 'console'), path.join(__dirname, '..', '..', 'console')];
  return (
    candidates.find((dir) => existsSync(path.join(dir, 'index.html'))) ??
    path.join(__dirname, '..', 'console')
  );
}

/** A package's root directory, found through its resolvable entry point (exports maps hide package.json). */
function packageRoot(name: string): string {
  let dir = path.dirname(require.resolve(name));
  while (path.basename(dir) !== name && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

/** The vendor files by their public name; nothing else under /console/vendor exists. */
function vendorFiles(): Map<string, { file: string; type: string }> {
  const uplot = packageRoot('uplot');
  const chart = packageRoot('chart.js');
  return new Map([
    ['uPlot.iife.min.js', { file: path.join(uplot, 'dist', 'uPlot.iife.min.js'), type: 'text/javascript' }],
    ['uPlot.min.css', { file: path.join(uplot, 'dist', 'uPlot.min.css'), type: 'text/css' }],
    ['chart.umd.min.js', { file: path.join(chart, 'dist', 'chart.umd.min.js'), type: 'text/javascript' }],
  ]);
}

export function consoleRoutes(app: express.Express, _deps: ApiDeps): void {
  const dir = consoleDir();
  const indexFile = path.join(dir, 'index.html');
  const vendor = vendorFiles();
  // The app's files change with a deploy and carry no content hash: revalidate every time (ETag
  // makes that a 304). Vendor files change only with package-lock: an hour's caching is safe.
  const vendorMaxAge = 3600;

  app.use('/console', (_req: Request, res: Response, next: NextFunction) => {
    res.setHeader('Content-Security-Policy', CONSOLE_CSP);
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'same-origin');
    next();
  });

  app.get('/console/vendor/:file', (req: Request<{ file: string }>, res: Response, next: NextFunction) => {
    const entry = vendor.get(req.params.file);
    if (!entry) {
      next();
      return;
    }
    res.type(entry.type);
    res.sendFile(
      entry.file,
      {
        cacheControl: false,
        headers: {
          'Cache-Control': `public, max-age=${vendorMaxAge}`,
        },
      },
      (err) => {
        if (err) next(err);
      },
    );
  });

  app.use(
    '/console/assets',
    express.static(path.join(dir, 'assets'), {
      index: false,
      redirect: false,
      dotfiles: 'ignore',
      fallthrough: true,
      cacheControl: false,
      setHeaders: (res) => {
        res.setHeader('Cache-Control', 'no-cache');
      },
    }),
  );

  const sendIndex = (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      next();
      return;
    }
    if (SESSION_PATHS.test(req.path) || FILE_AREAS.test(req.path)) {
      next();
      return;
    }
    // The page itself holds no data (that comes from the API with the session): never stored.
    res.sendFile(indexFile, { cacheControl: false, headers: { 'Cache-Control': 'no-store' } }, (err) => {
      if (err) next(err);
    });
  };
  app.get('/console', sendIndex);
  app.get('/console/{*rest}', sendIndex);
}
