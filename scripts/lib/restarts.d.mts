export function restartBudget(opts?: {
  max?: number;
  windowMs?: number;
  now?: () => number;
}): (component: string) => { allowed: boolean; attempt: number; max: number };
export function deathLine(
  component: string,
  code: number | null,
  signal: string | null,
  lastWords?: string,
): string;
