import { deathLine, restartBudget } from '../scripts/lib/restarts.mjs';

// `npm run dev` starts the API or the worker again when one dies (the demo survives it), but
// only a few times: a crash loop stops the stack with one line that says who and why.
describe('npm run dev restarts a dead API or worker, within a budget', () => {
  it('allows 3 restarts per component in 10 minutes, then gives up; the window slides', () => {
    let t = 0;
    const budget = restartBudget({ max: 3, windowMs: 600_000, now: () => t });
    expect([1, 2, 3, 4].map(() => budget('api').allowed)).toEqual([true, true, true, false]);
    expect(budget('worker')).toEqual({ allowed: true, attempt: 1, max: 3 });
    t = 600_001;
    expect(budget('api')).toEqual({ allowed: true, attempt: 1, max: 3 });
  });

  it('says in one line which component died, how, and its last words', () => {
    expect(deathLine('api', null, 'SIGKILL', 'request completed')).toBe(
      'api killed by SIGKILL; its last words: request completed',
    );
    expect(deathLine('worker', 1, null, undefined)).toBe('worker exited with code 1');
  });
});
