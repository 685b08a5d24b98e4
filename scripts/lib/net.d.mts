export declare function freePort(): Promise<number>;
export declare function portOpen(port: number, host?: string): Promise<boolean>;
