import pino, { type Logger } from 'pino';
import type { Config } from './config';

export type { Logger };

/**
 * Structured JSON logs (pino) in production; one readable line per event when LOG_PRETTY
 * is set (npm run dev sets it). Credentials are redacted wherever they may appear.
 */
export function createLogger(config: Pick<Config, 'log'>, component: string): Logger {
  return pino({
    name: component,
    level: config.log.level,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["x-api-key"]',
        'headers.authorization',
        '*.apiKey',
        '*.password',
        '*.token',
      ],
      censor: '[redacted]',
    },
    ...(config.log.pretty
      ? {
          transport: {
            target: 'pino-pretty',
            options: {
              colorize: process.stdout.isTTY,
              ignore: 'pid,hostname,name',
              translateTime: 'HH:MM:ss.l',
              singleLine: true,
            },
          },
        }
      : {}),
  });
}
