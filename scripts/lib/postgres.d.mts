import type { ChildProcess } from 'node:child_process';

export declare const PG_USER: string;
export declare const PG_PASSWORD: string;
export declare const PG_APP_USER: string;
export declare const PG_APP_PASSWORD: string;
export declare class StartupError extends Error {}
export declare function isRoot(): boolean;
export declare function devPostgresDataDir(root: string): string;
export declare function spawnPostgresServer(opts: {
  dataDir: string;
  port: number;
  persistent: boolean;
  database: string;
  onLine?: (line: string) => void;
  onSpawn?: (child: ChildProcess) => void;
}): Promise<{ url: string; child: ChildProcess; stop: () => Promise<void> }>;
export declare function ensureDatabase(adminUrl: string, name: string, template?: string): Promise<void>;
export declare function withDatabase(url: string, database: string): string;
export declare function withUser(url: string, user: string, password: string): string;
export declare function ensureAppRole(ownerUrl: string, user?: string, password?: string): Promise<void>;
