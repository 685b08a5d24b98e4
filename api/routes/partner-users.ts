import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Request, Router } from 'express';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { getPartner } from '../../db/partners';
import {
  acceptInvitation,
  getPartnerUser,
  insertPartnerUser,
  listPartnerUsers,
  openInvitation,
  partnerAcceptsUsers,
  partnerUserRoles,
  partnerUserStatuses,
  reissueInvitation,
  revokePartnerUser,
  type PartnerUser,
} from '../../db/partner-users';
import { ConflictError, NotFoundError } from '../../domain/errors';
import { partnerIdSchema } from '../../domain/partner';
import { nonBlankText } from '../../domain/text';
import {
  hashPassword,
  INVITATION_TOKEN_PATTERN,
  INVITATION_TTL_MS,
  invitationHash,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  newInvitation,
} from '../../platform/partner-sessions';
import { authDeps, principalActor, type Principal } from '../auth';
import type { ApiDeps } from '../deps';
import { decodeCursor, nextCursorSchema, page, pageQuery } from '../paging';
import { auditEvent, mountRoute } from '../route';
import { errorResponses, jsonResponse } from '../schemas';

/**
 * Who is calling (GET /v1/me) and the console's partner users: several per partner, with roles
 * (admin manages the partner's users; finance and viewer read), invited by an operator with
 * the admin role or by the partner's admin user, activated by setting a password with the
 * invitation (POST /v1/console/invitations, or the page /console/invitation), revocable at once.
 */

const loginSchema = z
  .string()
  .regex(/^[A-Za-z0-9._@+-]{3,200}$/, '3 to 200 letters, digits and . _ @ + - (an e-mail address will do)')
  .toLowerCase()
  .meta({
    description: 'Unique across partners; stored and compared in lower case',
    example: 'maria@partner.example',
  });
const userIdSchema = z.uuid().meta({ description: "The user's id (from the user list)" });
export const passwordSchema = z
  .string()
  .min(MIN_PASSWORD_LENGTH, `at least ${MIN_PASSWORD_LENGTH} characters`)
  .max(MAX_PASSWORD_LENGTH)
  .meta({ description: `At least ${MIN_PASSWORD_LENGTH} characters; stored as an scrypt hash, never shown` });
const invitationTokenSchema = z
  .string()
  .regex(INVITATION_TOKEN_PATTERN, 'the token of an invitation (43 characters)')
  .meta({ description: 'The token of the invitation, as its link carries it' });

const userSchema = z
  .object({
    id: z.string(),
    partnerId: z.string(),
    login: z.string(),
    displayName: z.string(),
    roles: z.array(z.enum(partnerUserRoles)),
    status: z.enum(partnerUserStatuses),
    createdBy: z.string().meta({ description: 'Who invited the user (an actor key)' }),
    createdAt: z.string(),
    invitationExpiresAt: z
      .string()
      .nullable()
      .meta({ description: 'When the open invitation expires; null if none' }),
    revokedBy: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .meta({ id: 'PartnerUser' });

/** The user as the person accepting their invitation reads it. */
const acceptedSchema = userSchema
  .pick({ id: true, partnerId: true, login: true, displayName: true, roles: true, status: true })
  .meta({ id: 'AcceptedPartnerUser' });

const invitationSchema = z
  .object({
    token: z.string().meta({ description: 'Shown only now: only its digest is stored' }),
    url: z.string().meta({ description: 'The page where the user sets a password with it' }),
    expiresAt: z.string(),
  })
  .meta({ id: 'PartnerUserInvitation' });

const invitedSchema = z.object({ user: userSchema, invitation: invitationSchema });

/** An operator who invited or revoked shows as `operations` to the partner; its own people by their key. */
const actorForPartner = z.string().transform((v) => (v.startsWith('partner:') ? v : 'operations'));
const userForPartner = userSchema.extend({
  createdBy: actorForPartner,
  revokedBy: actorForPartner.nullable(),
});

const meSchema = z
  .object({
    kind: z.enum(['operator', 'partner']),
    name: z
      .string()
      .meta({ description: "The operator's or partner user's name; for an API key, the partner's" }),
    roles: z
      .array(z.string())
      .meta({ description: 'Operator roles, or partner-user roles (none for an API key)' }),
    via: z.enum(['token', 'bootstrap', 'api-key', 'console']),
    partnerId: z.string().optional(),
    partnerName: z.string().optional(),
    partnerStatus: z.string().optional(),
    userId: z.string().optional(),
    login: z.string().optional(),
  })
  .meta({ id: 'Me' });

/** Operators manage any onboarded partner's users; a partner user only its own partner's (another's is a 404). */
async function managedPartner(deps: ApiDeps, principal: Principal, partnerId: string): Promise<string> {
  const visible = principal.kind !== 'partner' || principal.partnerId === partnerId;
  if (!visible || !(await partnerAcceptsUsers(deps.db, partnerId)))
    throw new NotFoundError(`partner ${partnerId} not found (or not onboarded yet)`, [
      { path: 'params.partnerId', message: 'not found' },
    ]);
  return partnerId;
}

function invitationOf(deps: ApiDeps, token: string, expiresAt: Date) {
  return {
    token,
    url: `${deps.config.api.publicUrl.replace(/\/+$/, '')}/console/invitation?token=${token}`,
    expiresAt: expiresAt.toISOString(),
  };
}

const noOpenInvitation = () =>
  new NotFoundError(
    'this invitation is not open: it was used, it expired (invitations last 72 h), or it never existed; ask for a new one',
    [{ path: 'token', message: 'not an open invitation' }],
  );

/**
 * Sets a password with an invitation (the API's route and the console's page alike): the
 * user becomes active and their earlier sessions end. Recorded in the audit trail as the
 * user; nothing derived from the password is recorded.
 */
export async function useInvitation(
  deps: ApiDeps,
  req: Request,
  token: string,
  password: string,
): Promise<PartnerUser & { sessionVersion: number }> {
  const hash = invitationHash(token);
  // The slow hash only for an open invitation: guessing tokens costs us nothing.
  if (!INVITATION_TOKEN_PATTERN.test(token) || !(await openInvitation(deps.db, hash)))
    throw noOpenInvitation();
  const user = await acceptInvitation(deps.db, hash, await hashPassword(password));
  if (!user) throw noOpenInvitation();
  await auditEvent(deps, req, {
    action: 'POST /v1/console/invitations',
    target: `/v1/partners/${user.partnerId}/users/${user.id}`,
    principal: {
      kind: 'partner',
      partnerId: user.partnerId,
      user: { id: user.id, login: user.login, name: user.displayName, roles: user.roles },
    },
    status: 200,
    digest: null,
  });
  return user;
}

export function partnerUserRoutes(router: Router, registry: OpenAPIRegistry, deps: ApiDeps): void {
  const auth = authDeps(deps.db, deps.config.api);

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/me',
    summary: 'Who is calling: an operator, a partner user of the console, or a partner API key',
    description:
      'The console reads it to know whom it shows and what (an operator, or one partner scoped to itself).',
    tags: ['identity'],
    auth: 'any',
    partnerView: meSchema,
    responses: { 200: jsonResponse(meSchema, 'The caller') },
    handler: async ({ principal }) => {
      if (principal.kind === 'operator')
        return {
          status: 200,
          body: { kind: 'operator', name: principal.name, roles: principal.roles, via: principal.via },
        };
      if (principal.kind !== 'partner') throw new Error('GET /v1/me without a caller');
      const partner = await getPartner(deps.db, principal.partnerId);
      const of = {
        partnerId: principal.partnerId,
        ...(partner ? { partnerName: partner.name, partnerStatus: partner.status } : {}),
      };
      return {
        status: 200,
        body: principal.user
          ? {
              kind: 'partner',
              name: principal.user.name,
              roles: principal.user.roles,
              via: 'console',
              ...of,
              userId: principal.user.id,
              login: principal.user.login,
            }
          : { kind: 'partner', name: partner?.name ?? principal.partnerId, roles: [], via: 'api-key', ...of },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/partners/{partnerId}/users',
    summary: "Invite a partner user to the console (operator admin, or the partner's admin user)",
    description:
      'Answers the invitation once: its token and the link where the person sets a password (at least ' +
      `${MIN_PASSWORD_LENGTH} characters), valid for ${INVITATION_TTL_MS / 3_600_000} h and once. Roles: admin ` +
      "(manages the partner's users), finance, viewer; every partner user reads what its partner reads, none pushes " +
      "data (that is the API key's). A login is unique across partners: one taken answers 409.",
    tags: ['identity'],
    auth: 'admin',
    partnerUserRole: 'admin',
    partnerView: z.object({ user: userForPartner, invitation: invitationSchema }),
    params: z.object({ partnerId: partnerIdSchema }),
    body: z
      .object({
        login: loginSchema,
        displayName: nonBlankText(200),
        roles: z
          .array(z.enum(partnerUserRoles))
          .min(1)
          .max(partnerUserRoles.length)
          .transform((r) => [...new Set(r)]),
      })
      .strict()
      .meta({ id: 'NewPartnerUser' }),
    bodyExample: { login: 'maria@partner.example', displayName: 'Maria Rossi', roles: ['finance'] },
    responses: {
      201: jsonResponse(invitedSchema, 'Invited: the invitation is shown only now'),
      ...errorResponses(404, 409),
    },
    handler: async ({ params, body, principal }) => {
      const partnerId = await managedPartner(deps, principal, params.partnerId);
      const invitation = newInvitation();
      const user = await insertPartnerUser(deps.db, {
        id: randomUUID(),
        partnerId,
        login: body.login,
        displayName: body.displayName,
        roles: body.roles,
        inviteHash: invitation.hash,
        inviteExpiresAt: invitation.expiresAt,
        createdBy: principalActor(principal),
      });
      if (!user)
        throw new ConflictError(`login ${body.login} is taken`, [
          { path: 'login', message: 'taken: choose another' },
        ]);
      return {
        status: 201,
        body: { user, invitation: invitationOf(deps, invitation.token, invitation.expiresAt) },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'get',
    path: '/v1/partners/{partnerId}/users',
    summary: "A partner's console users (operator, or the partner itself)",
    description: 'By login; `status` filters. Never a password or an invitation token.',
    tags: ['identity'],
    auth: 'any',
    params: z.object({ partnerId: partnerIdSchema }),
    query: z.object({ status: z.enum(partnerUserStatuses).optional(), ...pageQuery }),
    partnerView: z.object({ users: z.array(userForPartner), nextCursor: z.string().nullable() }),
    responses: {
      200: jsonResponse(z.object({ users: z.array(userSchema), nextCursor: nextCursorSchema }), 'A page'),
      ...errorResponses(404),
    },
    handler: async ({ params, query, principal }) => {
      const partnerId = await managedPartner(deps, principal, params.partnerId);
      const after = decodeCursor(query.cursor, z.object({ login: z.string() }));
      const rows = await listPartnerUsers(
        deps.db,
        partnerId,
        { status: query.status },
        after?.login ?? null,
        query.limit + 1,
      );
      const { items, nextCursor } = page(rows, query.limit, (u) => ({ login: u.login }));
      return { status: 200, body: { users: items, nextCursor } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/partners/{partnerId}/users/{userId}/revocation',
    summary:
      "Revoke a partner user (operator admin, or the partner's admin user): their sessions end at once",
    description:
      'Every session of the user stops working with its next request, and any open invitation with it. ' +
      'Repeating the call changes nothing.',
    tags: ['identity'],
    auth: 'admin',
    partnerUserRole: 'admin',
    partnerView: z.object({ user: userForPartner }),
    params: z.object({ partnerId: partnerIdSchema, userId: userIdSchema }),
    responses: { 200: jsonResponse(z.object({ user: userSchema }), 'Revoked'), ...errorResponses(404) },
    handler: async ({ params, principal }) => {
      const partnerId = await managedPartner(deps, principal, params.partnerId);
      const user = await revokePartnerUser(deps.db, partnerId, params.userId, principalActor(principal));
      if (!user)
        throw new NotFoundError(`user ${params.userId} not found`, [
          { path: 'params.userId', message: 'not found' },
        ]);
      return { status: 200, body: { user } };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/partners/{partnerId}/users/{userId}/invitation',
    summary: "A new invitation for a partner user (operator admin, or the partner's admin user)",
    description:
      'For a user whose invitation expired, or who lost their password: any earlier invitation stops working. An ' +
      "active user's password keeps working until a new one is set with it. A revoked user answers 409.",
    tags: ['identity'],
    auth: 'admin',
    partnerUserRole: 'admin',
    partnerView: z.object({ user: userForPartner, invitation: invitationSchema }),
    params: z.object({ partnerId: partnerIdSchema, userId: userIdSchema }),
    responses: {
      201: jsonResponse(invitedSchema, 'Invited again: the invitation is shown only now'),
      ...errorResponses(404, 409),
    },
    handler: async ({ params, principal }) => {
      const partnerId = await managedPartner(deps, principal, params.partnerId);
      const invitation = newInvitation();
      const user = await reissueInvitation(
        deps.db,
        partnerId,
        params.userId,
        invitation.hash,
        invitation.expiresAt,
      );
      if (!user) {
        if (await getPartnerUser(deps.db, partnerId, params.userId))
          throw new ConflictError(`user ${params.userId} is revoked: invite a new user instead`, [
            { path: 'params.userId', message: 'revoked' },
          ]);
        throw new NotFoundError(`user ${params.userId} not found`, [
          { path: 'params.userId', message: 'not found' },
        ]);
      }
      return {
        status: 201,
        body: { user, invitation: invitationOf(deps, invitation.token, invitation.expiresAt) },
      };
    },
  });

  mountRoute(router, registry, auth, {
    method: 'post',
    path: '/v1/console/invitations',
    summary: 'Accept an invitation: set the partner user’s password (no credentials: the token is one)',
    description:
      `The token works once, for ${INVITATION_TTL_MS / 3_600_000} h; the password needs at least ` +
      `${MIN_PASSWORD_LENGTH} characters. The user is active from now on, and any earlier session of theirs ends. ` +
      'A used, expired or unknown token answers 404 naming `token`. The console’s page /console/invitation does the ' +
      'same and signs the person in.',
    tags: ['identity'],
    auth: 'none',
    // Recorded by useInvitation, as the user, without a digest of a body that holds a password.
    audit: false,
    body: z
      .object({ token: invitationTokenSchema, password: passwordSchema })
      .strict()
      .meta({ id: 'InvitationAcceptance' }),
    bodyExample: {
      token: 'Vq3mX0m1b3N9aP7c2Yk5tR8wE4uI6oL1sD0fG2hJ9kQ',
      password: 'correct horse battery staple',
    },
    responses: {
      200: jsonResponse(z.object({ user: acceptedSchema }), 'The user, active'),
      ...errorResponses(404),
    },
    handler: async ({ body, req }) => {
      const user = await useInvitation(deps, req, body.token, body.password);
      // Who invited them is not said: it may be an operator, whose name no partner reads.
      return { status: 200, body: { user: acceptedSchema.parse(user) } };
    },
  });
}
