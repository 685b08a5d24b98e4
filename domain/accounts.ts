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
//   gaming_tax     expense    the gaming tax levied on the partner's games' revenue
//   carry_forward  asset      memo: base carried to later periods (negative base, deferred
//                             resolutions), signed; zero once later periods absorbed it
//   carry_forward_offset equity  memo: the other side of carry_forward
//   write_off:<name> expense  memo: differences written off to a named account (a rule's or a
//                             bulk's write-off), in GGR terms; settled on our figure
//   write_off_offset equity   memo: the other side of write_off:<name>
// House, per currency:
//   payouts_clearing asset    money on its way to partners
//   gaming_tax_payable:<jurisdiction, e.g. mt> liability  gaming tax owed to that jurisdiction

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
  gaming_tax: 'expense',
  carry_forward: 'asset',
  carry_forward_offset: 'equity',
} as const satisfies Record<string, AccountKind>;
export type PartnerAccountName = keyof typeof PARTNER_ACCOUNTS;

const HOUSE_ACCOUNTS = {
  // Approved payouts awaiting their transfer (fees payable → here, at approval).
  payouts_clearing: 'asset',
  // Sent to the bank with a payment reference, not yet confirmed by a bank statement.
  payouts_in_transit: 'asset',
  // The operator's settlement bank account, as its statements (camt.053) confirm it.
  bank: 'asset',
} as const satisfies Record<string, AccountKind>;
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

/** The gaming tax owed to one jurisdiction (ISO 3166 code, lowercase in the code: mt, gb), per currency. */
export function gamingTaxAccount(jurisdiction: string, currency: string): AccountSpec {
  return {
    code: `house:gaming_tax_payable:${jurisdiction.toLowerCase()}:${currency}`,
    ownerKind: 'house',
    kind: 'liability',
    currency,
  };
}

/**
 * A named write-off account of a partner (a contract rule's or a bulk resolution's
 * `writeOffAccount`, e.g. rounding_differences) and its offset: memo accounts recording, in GGR
 * terms, what was written off while the period settled on our figure.
 */
export function writeOffAccounts(
  partnerId: string,
  name: string,
  currency: string,
): { account: AccountSpec; offset: AccountSpec } {
  return {
    account: {
      code: `partner:${partnerId}:write_off:${name}:${currency}`,
      ownerKind: 'partner',
      partnerId,
      kind: 'expense',
      currency,
    },
    offset: {
      code: `partner:${partnerId}:write_off_offset:${currency}`,
      ownerKind: 'partner',
      partnerId,
      kind: 'equity',
      currency,
    },
  };
}
