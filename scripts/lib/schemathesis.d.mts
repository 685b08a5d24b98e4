export declare const SCHEMATHESIS_VERSION: string;
export interface SchemathesisCommand {
  command: string;
  args: string[];
  env: Record<string, string>;
}
export declare function ensureSchemathesis(log?: (message: string) => void): SchemathesisCommand | null;
export declare function schemathesisCommand(): SchemathesisCommand | null;
