export declare function ensureTimeSkippingServer(log?: (message: string) => void): string | null;
