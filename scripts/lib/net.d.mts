export interface DevPort {
  variable: string;
  port: number;
  what: string;
  unless?: string;
}
export declare const DEV_PORTS: readonly DevPort[];
export declare function devPort(variable: string, env?: Record<string, string | undefined>): number;
export declare function freePort(): Promise<number>;
export declare function portOpen(port: number, host?: string): Promise<boolean>;
