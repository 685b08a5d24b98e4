// The chart of accounts: every ledger account code Clearhouse uses, built here and nowhere else
// in TypeScript. (The ingest function in SQL books game activity under the same two codes;
// test/settlement.test.ts checks that they agree.)
//
// Per partner and currency:
//   game_activity  asset      what game play owes the operator through this partner (GGR accrued)
//   gaming_revenue revenue    the operator's gaming revenue from this partner
//   provider_fees  expense    the partner's fee for a settled period
//   fees_payable   liability  the fee owed to the partner until it is paid out
//   tax_withheld   liability  tax withheld from the fee, owed to the tax authority
// House, per currency:
//   payouts_clearing asset    money on its way to partners

export type AccountKind = 'asset' | 'liability' | 'equity' | 'revenue' | 'expense';

export interface AccountSpec {
  code: string;
  ownerKind: 'house' | 'partner';
  partnerId?: string;
  kind: AccountKind;
  currency: string;
}

const PARTNER_ACCOUNTS = {
  game_activity: 'asset',
  gaming_revenue: 'revenue',
  provider_fees: 'expense',
  fees_payable: 'liability',
  tax_withheld: 'liability',
} as const satisfies Record<string, AccountKind>;
export type PartnerAccountName = keyof typeof PARTNER_ACCOUNTS;

const HOUSE_ACCOUNTS = { payouts_clearing: 'asset' } as const satisfies Record<string, AccountKind>;
export type HouseAccountName = keyof typeof HOUSE_ACCOUNTS;

export function partnerAccount(partnerId: string, name: PartnerAccountName, currency: string): AccountSpec {
  return {
    code: `partner:${partnerId}:${name}:${currency}`,
    ownerKind: 'partner',
    partnerId,
    kind: PARTNER_ACCOUNTS[name],
    currency,
  };
}

export function houseAccount(name: HouseAccountName, currency: string): AccountSpec {
  return { code: `house:${name}:${currency}`, ownerKind: 'house', kind: HOUSE_ACCOUNTS[name], currency };
}
