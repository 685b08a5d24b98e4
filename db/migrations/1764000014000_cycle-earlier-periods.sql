-- Up Migration

-- A cycle whose fee follows earlier periods of its month (tiers by month-to-date volume, the
-- minimum guarantee, carries) waits for them to compute theirs first: WaitingForEarlierPeriods.
ALTER TABLE settlement_cycles DROP CONSTRAINT settlement_cycles_status_known;
ALTER TABLE settlement_cycles ADD CONSTRAINT settlement_cycles_status_known CHECK (
  status IN ('WaitingForCutoff', 'Reconciling', 'AwaitingResolution', 'WaitingForEarlierPeriods', 'ComputingFees',
             'Posting', 'AwaitingPayoutApproval', 'PayingOut', 'Completed', 'Failed')
);

-- Down Migration

UPDATE settlement_cycles SET status = 'AwaitingResolution' WHERE status = 'WaitingForEarlierPeriods';
ALTER TABLE settlement_cycles DROP CONSTRAINT settlement_cycles_status_known;
ALTER TABLE settlement_cycles ADD CONSTRAINT settlement_cycles_status_known CHECK (
  status IN ('WaitingForCutoff', 'Reconciling', 'AwaitingResolution', 'ComputingFees', 'Posting',
             'AwaitingPayoutApproval', 'PayingOut', 'Completed', 'Failed')
);
