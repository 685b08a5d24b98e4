import type pg from 'pg';

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/**
 * The console's partner users (table partner_users): several per partner, each with roles,
 * invited by an operator or the partner's admin user, activated when they set a password with
 * their invitation, revocable. `session_version` is raised whenever every session of a user
 * must end (revocation, a new password, signing out); sessions carry the version they were
 * signed with (platform/partner-sessions.ts).
 */
export const partnerUserRoles = ['admin', 'finance', 'viewer'] as const;
export type PartnerUserRole = (typeof partnerUserRoles)[number];
export const partnerUserStatuses = ['invited', 'active', 'revoked'] as const;
export type PartnerUserStatus = (typeof partnerUserStatuses)[number];

export interface PartnerUser {
  id: string;
  partnerId: string;
  login: string;
  displayName: string;
  roles: PartnerUserRole[];
  status: PartnerUserStatus;
  /** Who invited the user (an actor key: an operator, or the partner's admin user). */
  createdBy: string;
  createdAt: string;
  /** When the open invitation expires; null when none is open. */
  invitationExpiresAt: string | null;
  revokedBy: string | null;
  revokedAt: string | null;
}

interface UserRow {
  id: string;
  partner_id: string;
  login: string;
  display_name: string;
  roles: PartnerUserRole[];
  status: PartnerUserStatus;
  created_by: string;
  created_at: Date;
  invite_expires_at: Date | null;
  revoked_by: string | null;
  revoked_at: Date | null;
}

const COLUMNS = `id, partner_id, login, display_name, roles, status, created_by, created_at, invite_expires_at,
  revoked_by, revoked_at`;

function toUser(r: UserRow): PartnerUser {
  return {
    id: r.id,
    partnerId: r.partner_id,
    login: r.login,
    displayName: r.display_name,
    roles: r.roles,
    status: r.status,
    createdBy: r.created_by,
    createdAt: r.created_at.toISOString(),
    invitationExpiresAt: r.invite_expires_at ? r.invite_expires_at.toISOString() : null,
    revokedBy: r.revoked_by,
    revokedAt: r.revoked_at ? r.revoked_at.toISOString() : null,
  };
}

/** Whether the partner exists and is onboarded (active or suspended): the partners users belong to. */
export async function partnerAcceptsUsers(db: Queryable, partnerId: string): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM partners WHERE id = $1 AND status IN ('active', 'suspended')`,
    [partnerId],
  );
  return rows.length > 0;
}

/** A new invited user; null when the login is taken (logins are unique across partners). */
export async function insertPartnerUser(
  db: Queryable,
  u: {
    id: string;
    partnerId: string;
    login: string;
    displayName: string;
    roles: PartnerUserRole[];
    inviteHash: Buffer;
    inviteExpiresAt: Date;
    createdBy: string;
  },
): Promise<PartnerUser | null> {
  const { rows } = await db.query<UserRow>(
    `INSERT INTO partner_users (id, partner_id, login, display_name, roles, invite_hash, invite_expires_at, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (login) DO NOTHING
     RETURNING ${COLUMNS}`,
    [u.id, u.partnerId, u.login, u.displayName, u.roles, u.inviteHash, u.inviteExpiresAt, u.createdBy],
  );
  return rows[0] ? toUser(rows[0]) : null;
}

/** A partner's users by login, after `afterLogin`. */
export async function listPartnerUsers(
  db: Queryable,
  partnerId: string,
  filter: { status?: PartnerUserStatus | undefined },
  afterLogin: string | null,
  limit: number,
): Promise<PartnerUser[]> {
  const { rows } = await db.query<UserRow>(
    `SELECT ${COLUMNS} FROM partner_users
      WHERE partner_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR login > $3)
      ORDER BY login LIMIT $4`,
    [partnerId, filter.status ?? null, afterLogin, limit],
  );
  return rows.map(toUser);
}

export async function getPartnerUser(
  db: Queryable,
  partnerId: string,
  userId: string,
): Promise<PartnerUser | null> {
  const { rows } = await db.query<UserRow>(
    `SELECT ${COLUMNS} FROM partner_users WHERE partner_id = $1 AND id = $2`,
    [partnerId, userId],
  );
  return rows[0] ? toUser(rows[0]) : null;
}

/**
 * Revokes a user of this partner: no session of theirs works from now on, nor their invitation.
 * A repeat changes nothing and answers the user as revoked then. Null when no such user.
 */
export async function revokePartnerUser(
  db: Queryable,
  partnerId: string,
  userId: string,
  by: string,
): Promise<PartnerUser | null> {
  const { rows } = await db.query<UserRow>(
    `UPDATE partner_users
        SET status = 'revoked', revoked_by = $3, revoked_at = now(), session_version = session_version + 1,
            invite_hash = NULL, invite_expires_at = NULL
      WHERE partner_id = $1 AND id = $2 AND status <> 'revoked'
      RETURNING ${COLUMNS}`,
    [partnerId, userId, by],
  );
  return rows[0] ? toUser(rows[0]) : getPartnerUser(db, partnerId, userId);
}

/**
 * A new invitation for a user who is not revoked (replacing any open one): an invited user
 * whose invitation expired, or an active user who lost their password (the current password
 * keeps working until the new one is set). Null when no such user or the user is revoked.
 */
export async function reissueInvitation(
  db: Queryable,
  partnerId: string,
  userId: string,
  inviteHash: Buffer,
  inviteExpiresAt: Date,
): Promise<PartnerUser | null> {
  const { rows } = await db.query<UserRow>(
    `UPDATE partner_users SET invite_hash = $3, invite_expires_at = $4
      WHERE partner_id = $1 AND id = $2 AND status <> 'revoked'
      RETURNING ${COLUMNS}`,
    [partnerId, userId, inviteHash, inviteExpiresAt],
  );
  return rows[0] ? toUser(rows[0]) : null;
}

/** The user an open invitation (not used, not expired, user not revoked) is for; null otherwise. */
export async function openInvitation(db: Queryable, inviteHash: Buffer): Promise<PartnerUser | null> {
  const { rows } = await db.query<UserRow>(
    `SELECT ${COLUMNS} FROM partner_users
      WHERE invite_hash = $1 AND invite_expires_at > now() AND status IN ('invited', 'active')`,
    [inviteHash],
  );
  return rows[0] ? toUser(rows[0]) : null;
}

/**
 * Uses an open invitation: sets the password, activates the user and ends their earlier
 * sessions. Once: the invitation is gone after it. Null when it is not open (any more).
 */
export async function acceptInvitation(
  db: Queryable,
  inviteHash: Buffer,
  passwordHash: string,
): Promise<(PartnerUser & { sessionVersion: number }) | null> {
  const { rows } = await db.query<UserRow & { session_version: number }>(
    `UPDATE partner_users
        SET password_hash = $2, status = 'active', invite_hash = NULL, invite_expires_at = NULL,
            session_version = session_version + 1
      WHERE invite_hash = $1 AND invite_expires_at > now() AND status IN ('invited', 'active')
      RETURNING ${COLUMNS}, session_version`,
    [inviteHash, passwordHash],
  );
  return rows[0] ? { ...toUser(rows[0]), sessionVersion: rows[0].session_version } : null;
}

/** What signing in with a login needs: the password hash and whether the user may sign in. */
export interface UserCredentials {
  id: string;
  partnerId: string;
  login: string;
  passwordHash: string | null;
  sessionVersion: number;
  /** Active, of a partner that is active or suspended (a suspended partner's users still read). */
  mayUse: boolean;
}

export async function credentialsOf(db: Queryable, login: string): Promise<UserCredentials | null> {
  const { rows } = await db.query<{
    id: string;
    partner_id: string;
    login: string;
    password_hash: string | null;
    session_version: number;
    may_use: boolean;
  }>(
    `SELECT u.id, u.partner_id, u.login, u.password_hash, u.session_version,
            (u.status = 'active' AND p.status IN ('active', 'suspended')) AS may_use
       FROM partner_users u JOIN partners p ON p.id = u.partner_id
      WHERE u.login = $1`,
    [login],
  );
  const r = rows[0];
  return r
    ? {
        id: r.id,
        partnerId: r.partner_id,
        login: r.login,
        passwordHash: r.password_hash,
        sessionVersion: r.session_version,
        mayUse: r.may_use,
      }
    : null;
}

/** A session's user as each request checks it: null unless active, of this version, of an onboarded partner. */
export async function sessionUser(
  db: Queryable,
  userId: string,
  sessionVersion: number,
): Promise<{
  id: string;
  partnerId: string;
  login: string;
  displayName: string;
  roles: PartnerUserRole[];
  partnerSuspended: boolean;
} | null> {
  const { rows } = await db.query<{
    id: string;
    partner_id: string;
    login: string;
    display_name: string;
    roles: PartnerUserRole[];
    partner_status: string;
  }>(
    `SELECT u.id, u.partner_id, u.login, u.display_name, u.roles, p.status AS partner_status
       FROM partner_users u JOIN partners p ON p.id = u.partner_id
      WHERE u.id = $1 AND u.session_version = $2 AND u.status = 'active' AND p.status IN ('active', 'suspended')`,
    [userId, sessionVersion],
  );
  const r = rows[0];
  return r
    ? {
        id: r.id,
        partnerId: r.partner_id,
        login: r.login,
        displayName: r.display_name,
        roles: r.roles,
        partnerSuspended: r.partner_status === 'suspended',
      }
    : null;
}

/** Ends every session of a user (signing out): their version moves on. */
export async function endSessions(db: Queryable, userId: string, sessionVersion: number): Promise<void> {
  await db.query(
    `UPDATE partner_users SET session_version = session_version + 1 WHERE id = $1 AND session_version = $2`,
    [userId, sessionVersion],
  );
}
