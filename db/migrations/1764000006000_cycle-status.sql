-- Up Migration

-- A cycle's status is what its workflow published, one of the SettlementStatus union
-- (domain/settlement.ts). "AwaitingApproval" (exceptions open) is now "AwaitingResolution", so
-- it cannot be confused with "AwaitingPayoutApproval"; "Statement" was never a status.
UPDATE settlement_cycles SET status = 'AwaitingResolution' WHERE status = 'AwaitingApproval';
UPDATE settlement_cycles SET status = 'Posting' WHERE status = 'Statement';
ALTER TABLE settlement_cycles ADD CONSTRAINT settlement_cycles_status_known CHECK (
  status IN ('WaitingForCutoff', 'Reconciling', 'AwaitingResolution', 'ComputingFees', 'Posting',
             'AwaitingPayoutApproval', 'PayingOut', 'Completed')
);

-- Down Migration

ALTER TABLE settlement_cycles DROP CONSTRAINT settlement_cycles_status_known;
UPDATE settlement_cycles SET status = 'AwaitingApproval' WHERE status = 'AwaitingResolution';
