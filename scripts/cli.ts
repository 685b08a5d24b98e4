import { parseArgs } from 'node:util';
import { loadConfigOrExit } from '../platform/config';
import { mintOperatorToken, operatorRoles, type OperatorRole } from '../platform/operators';

// `npm run cli -- <command>`: operator tooling.
//   operator:token --name ana --role approver [--role resolver] [--subject ana] [--ttl 8h]
//     Mints a signed operator token for the embedded issuer (OPERATOR_JWT_SECRET) and prints
//     it on stdout, alone, so that it can be captured: TOKEN=$(npm run -s cli -- operator:token …).
//     --subject is who the person is (maker-checker compares subjects); it defaults to the
//     name in lower case, so one login in two cases is one person.
//     --ttl defaults to 12h (or OPERATOR_TOKEN_MAX_TTL_SECONDS when lower) and may not exceed it.
const USAGE = `usage: npm run cli -- operator:token --name <name> --role <${operatorRoles.join('|')}> [--role …] [--subject <id>] [--ttl 12h]`;

function seconds(ttl: string): number {
  const m = /^(\d{1,6})([smhd])$/.exec(ttl);
  if (!m) throw new Error(`--ttl ${ttl}: use a number and s, m, h or d (e.g. 8h)`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  if (command !== 'operator:token') throw new Error(USAGE);
  const { values } = parseArgs({
    args: rest,
    options: {
      name: { type: 'string' },
      subject: { type: 'string' },
      role: { type: 'string', multiple: true },
      ttl: { type: 'string' },
    },
    strict: true,
  });
  if (!values.name || !values.role?.length) throw new Error(USAGE);
  const unknown = values.role.filter((r) => !(operatorRoles as readonly string[]).includes(r));
  if (unknown.length)
    throw new Error(`unknown role ${unknown.join(', ')}; roles: ${operatorRoles.join(', ')}`);
  const config = loadConfigOrExit();
  const token = await mintOperatorToken(config.api.operatorTokens, {
    name: values.name,
    ...(values.subject === undefined ? {} : { subject: values.subject }),
    roles: values.role as OperatorRole[],
    ...(values.ttl === undefined ? {} : { ttlSeconds: seconds(values.ttl) }),
  });
  process.stdout.write(`${token}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(64);
});
