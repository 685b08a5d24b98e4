export declare const ROOT: string;
export declare const TOOLS_DIR: string;
export declare function ensureTemporalCli(log?: (message: string) => void): string | null;
