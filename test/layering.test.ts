import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

// One owner per concept, checked: SQL lives only in db/ (routes and activities call its
// functions), and db/ knows nothing of providers/ (it stores normalised rows from domain/).
const ROOT = path.join(__dirname, '..');
function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => path.join(dir, f));
}
const SQL = /(['"`])\s*(SELECT|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|WITH\s+\w+\s+AS)\b/i;

describe('layering', () => {
  it('keeps SQL in db/: none in api/ or activities/', () => {
    const offenders = [...sources('api'), ...sources('activities')].filter((f) =>
      SQL.test(readFileSync(path.join(ROOT, f), 'utf8')),
    );
    expect(offenders).toEqual([]);
  });

  it('keeps db/ independent of providers/', () => {
    const offenders = sources('db').filter((f) =>
      /from '\.\.\/providers\//.test(readFileSync(path.join(ROOT, f), 'utf8')),
    );
    expect(offenders).toEqual([]);
  });
});
