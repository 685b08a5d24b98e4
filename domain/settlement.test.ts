import {
  approvalProblem,
  samePerson,
  payoutMakers,
  resolutionBaseEffect,
  resolutionMovesGgr,
  resolutions,
  type Resolution,
  type SettlementException,
} from './settlement';

// Maker-checker counts as a maker whoever moved the GGR the fee is computed on: by the same
// rule the fee step applies (resolutionBaseEffect), so the two cannot disagree.
const exception = (over: Partial<SettlementException> = {}): SettlementException => ({
  exceptionId: 'amount_mismatch:t1',
  kind: 'amount_mismatch',
  txId: 't1',
  differenceMinor: '250',
  detail: 'ours 10000, theirs 10250',
  txType: 'bet',
  isAggregate: false,
  ...over,
});
const resolved = (e: SettlementException, resolution: Resolution, operator = 'rui'): SettlementException => ({
  ...e,
  resolution: {
    resolution,
    reason: 'checked',
    operator,
    ...(resolution === 'adjust' ? { amount: '0.01' } : {}),
  },
});

describe('payout makers', () => {
  const cases: [string, SettlementException][] = [
    ['a bet', exception()],
    ['a win', exception({ txType: 'win', differenceMinor: '-90' })],
    ['no difference (a duplicate)', exception({ kind: 'duplicate', differenceMinor: '0' })],
    ['report totals', exception({ kind: 'control_total_mismatch', txId: null, txType: null })],
    [
      'an aggregator key',
      exception({ kind: 'amount_mismatch', txId: null, txType: null, isAggregate: true }),
    ],
    ['a round still open', exception({ kind: 'open_round', txType: 'bet', differenceMinor: '0' })],
  ];

  it('counts exactly the resolutions whose GGR effect the fee step applies is not zero; an adjust always', () => {
    for (const [what, e] of cases)
      for (const r of resolutions) {
        const effect = resolutionBaseEffect(
          {
            kind: e.kind,
            txType: e.txType ?? null,
            isAggregate: e.isAggregate ?? false,
            differenceMinor: BigInt(e.differenceMinor),
          },
          { resolution: r },
        );
        expect([what, r, resolutionMovesGgr(resolved(e, r))]).toEqual([
          what,
          r,
          r === 'adjust' || effect !== 0n,
        ]);
      }
    // The cases cover both answers for accept_theirs.
    const theirs = cases.map(([, e]) => resolutionMovesGgr(resolved(e, 'accept_theirs')));
    expect(theirs).toEqual([true, true, false, false, true, false]);
  });

  it('names the requester and each operator whose resolution moved GGR, and refuses them as approvers', () => {
    const exceptions = [
      resolved(exception(), 'accept_theirs', 'rui'),
      resolved(
        exception({ exceptionId: 'duplicate:t2', kind: 'duplicate', differenceMinor: '0' }),
        'accept_theirs',
        'ines',
      ),
      resolved(
        exception({ exceptionId: 'missing_theirs:t3', differenceMinor: '-500' }),
        'accept_ours',
        'olga',
      ),
      resolved(exception({ exceptionId: 'fx_rounding:t4', differenceMinor: '1' }), 'adjust', 'ana'),
      exception({ exceptionId: 'open:t5' }),
    ];
    const makers = payoutMakers(exceptions, { actor: null, name: 'maria' });
    expect(makers.map((m) => m.name)).toEqual(['maria', 'rui', 'ana']);
    const refusal = (operator: string) =>
      approvalProblem([], { actor: null, name: operator }, {}, true, makers)?.message ?? null;
    expect(refusal('rui')).toBe(
      'rui resolved exception amount_mismatch:t1 with accept_theirs, which moved the GGR (and so the fee): ' +
        'a maker cannot approve the payout (maker-checker)',
    );
    expect(refusal('ana')).toBe(
      'ana adjusted exception fx_rounding:t4: a maker cannot approve the payout (maker-checker)',
    );
    expect(refusal('ines')).toBeNull();
    expect(refusal('olga')).toBeNull();
  });

  it('judges an exception reconciled before its facts were kept as a bet: the safe side', () => {
    const old = (differenceMinor: string) => {
      const { txType: _t, isAggregate: _a, ...rest } = exception({ differenceMinor });
      return rest;
    };
    expect(resolutionMovesGgr(resolved(old('250'), 'accept_theirs'))).toBe(true);
    expect(resolutionMovesGgr(resolved(old('0'), 'accept_theirs'))).toBe(false);
    expect(resolutionMovesGgr(resolved(old('250'), 'accept_ours'))).toBe(false);
  });
});

describe('maker-checker between actors', () => {
  const ana = { actor: 'clearhouse#ana', name: 'ana' };
  it('compares actor keys, never display names', () => {
    expect(samePerson(ana, { actor: 'clearhouse#ana', name: 'Mallory' })).toBe(true);
    expect(samePerson(ana, { actor: 'https://sso.example#ana', name: 'ana' })).toBe(false);
    expect(approvalProblem([ana], { actor: 'clearhouse#ana', name: 'ANA' }, {}, true)?.kind).toBe(
      'forbidden',
    );
    expect(approvalProblem([ana], { actor: 'clearhouse#bo', name: 'ana' }, {}, true)).toBeNull();
  });
  it('matches a decision recorded with a typed name by its name in any case (the cut-over)', () => {
    const legacy = { actor: null, name: 'Mallory' };
    expect(samePerson(legacy, { actor: 'clearhouse#mallory', name: 'mallory' })).toBe(true);
    expect(samePerson(legacy, { actor: null, name: 'MALLORY ' })).toBe(true);
    expect(samePerson(legacy, { actor: 'clearhouse#bo', name: 'bo' })).toBe(false);
  });
});
