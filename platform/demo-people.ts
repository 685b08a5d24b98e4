import type { OperatorRole } from './operators';

/**
 * The demo people `npm run dev` can sign in as with one click (the development issuer only, and
 * only from a browser on this machine): the Temporal UI's codec sign-in and the console's alike.
 */
export const DEMO_PEOPLE: { name: string; roles: OperatorRole[] }[] = [
  { name: 'ana', roles: ['viewer', 'resolver', 'approver'] },
  { name: 'bo', roles: ['viewer', 'resolver', 'approver'] },
];

/** A connection from this machine (the socket's own address: no forwarded header decides it). */
export const isLoopback = (address: string | undefined): boolean =>
  address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
