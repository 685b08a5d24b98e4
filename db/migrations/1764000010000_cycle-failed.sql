-- Up Migration

-- A cycle stopped by a data error (non-retryable) is "Failed"; its id may be started again.
ALTER TABLE settlement_cycles DROP CONSTRAINT settlement_cycles_status_known;
ALTER TABLE settlement_cycles ADD CONSTRAINT settlement_cycles_status_known CHECK (
  status IN ('WaitingForCutoff', 'Reconciling', 'AwaitingResolution', 'ComputingFees', 'Posting',
             'AwaitingPayoutApproval', 'PayingOut', 'Completed', 'Failed')
);

-- Down Migration

UPDATE settlement_cycles SET status = 'Posting' WHERE status = 'Failed';
ALTER TABLE settlement_cycles DROP CONSTRAINT settlement_cycles_status_known;
ALTER TABLE settlement_cycles ADD CONSTRAINT settlement_cycles_status_known CHECK (
  status IN ('WaitingForCutoff', 'Reconciling', 'AwaitingResolution', 'ComputingFees', 'Posting',
             'AwaitingPayoutApproval', 'PayingOut', 'Completed')
);
