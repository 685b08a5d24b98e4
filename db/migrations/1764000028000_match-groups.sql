-- Up Migration

-- Match groups (domain/matching.ts): after reconciliation by transaction id, the open
-- missing_theirs (ours only) and missing_ours (theirs only) exceptions of one round that belong
-- together — a split win (1:N), a provider's aggregate of a round (N:1), N:M — with the group's
-- confidence and evidence. Confirmed groups (confidence ≥ autoConfirmAt) have their members
-- resolved accept_ours by the matcher through the exception book; a suggested group is carried
-- by an open exception of kind suggested_match (exception_id) until a person confirms or
-- rejects it. A group's id is a hash of its member ids, so a retried or replayed run finds the
-- same group and stores nothing twice. Per generation of the cycle's book, like its exceptions.
CREATE TABLE match_groups (
  cycle_id      text NOT NULL REFERENCES settlement_cycles (id),
  generation    integer NOT NULL CHECK (generation > 0),
  group_id      text NOT NULL CHECK (group_id ~ '^mg_[0-9a-f]{32}$'),
  shape         text NOT NULL CHECK (shape IN ('1:1', '1:N', 'N:1', 'N:M')),
  confidence    integer NOT NULL CHECK (confidence BETWEEN 0 AND 100),
  -- What the matcher decided; `state` is what became of it (a suggestion confirmed or rejected).
  decision      text NOT NULL CHECK (decision IN ('confirmed', 'suggested')),
  evidence      jsonb NOT NULL,
  state         text NOT NULL CHECK (state IN ('confirmed', 'suggested', 'rejected')),
  -- The suggested_match exception that carries a suggested group (set once it is recorded).
  exception_id  text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (cycle_id, generation, group_id),
  FOREIGN KEY (cycle_id, generation, exception_id) REFERENCES settlement_exceptions (cycle_id, generation, exception_id),
  CHECK (decision = 'suggested' OR exception_id IS NULL)
);
-- The group a suggested_match exception carries (the history route reads it by that id).
CREATE INDEX match_groups_exception ON match_groups (cycle_id, exception_id) WHERE exception_id IS NOT NULL;

CREATE TABLE match_group_members (
  cycle_id      text NOT NULL,
  generation    integer NOT NULL,
  group_id      text NOT NULL,
  exception_id  text NOT NULL,
  side          text NOT NULL CHECK (side IN ('ours', 'theirs')),
  PRIMARY KEY (cycle_id, generation, group_id, exception_id),
  FOREIGN KEY (cycle_id, generation, group_id) REFERENCES match_groups (cycle_id, generation, group_id),
  FOREIGN KEY (cycle_id, generation, exception_id) REFERENCES settlement_exceptions (cycle_id, generation, exception_id)
);
-- The groups an exception belongs to (history route; members already grouped are not matched again).
CREATE INDEX match_group_members_exception ON match_group_members (cycle_id, exception_id);

-- The application writes groups and moves their state (and links the suggested_match
-- exception); it never deletes them, nor rewrites who was in a group.
REVOKE DELETE, TRUNCATE ON match_groups FROM clearhouse_app;
REVOKE UPDATE, DELETE, TRUNCATE ON match_group_members FROM clearhouse_app;

-- Down Migration
DROP TABLE match_group_members;
DROP TABLE match_groups;
