import searchAttributes from '../platform/search-attributes.json';
import { parseApiKey, issueApiKey, secretMatches, tokenMatches } from '../platform/credentials';
import { onboardingWorkflowId, settlementWorkflowId } from '../workflows/ids';
import { allSearchAttributes } from '../workflows/search-attributes';

describe('contracts shared by the server set-up, the workflows and the API', () => {
  it('registers on the server exactly the search attributes the workflows use', () => {
    const fromJson = Object.entries(searchAttributes)
      .map(([name, type]) => `${name}:${type.toUpperCase()}`)
      .sort();
    const fromCode = allSearchAttributes.map((k) => `${k.name}:${k.type}`).sort();
    expect(fromCode).toEqual(fromJson);
  });

  it('builds workflow ids from business keys in one place', () => {
    expect(onboardingWorkflowId('nova-slots')).toBe('onboarding:nova-slots');
    expect(settlementWorkflowId('nova-slots', '2026-11-23')).toBe('settlement:nova-slots:2026-11-23');
  });
});

describe('partner API keys', () => {
  it('round-trips: the issued key parses and matches only its own hash', () => {
    const a = issueApiKey();
    const b = issueApiKey();
    const parsed = parseApiKey(a.plaintext);
    expect(parsed?.keyId).toBe(a.keyId);
    expect(secretMatches(parsed!.secret, a.hash)).toBe(true);
    expect(secretMatches(parsed!.secret, b.hash)).toBe(false);
    expect(a.hash.toString('hex')).not.toContain(parsed!.secret);
  });

  it('rejects malformed keys and compares operator tokens of any length', () => {
    expect(parseApiKey('chk_short_x')).toBeNull();
    expect(parseApiKey('Bearer something')).toBeNull();
    expect(tokenMatches('a-token', 'a-token')).toBe(true);
    expect(tokenMatches('a-token', 'a-token-longer')).toBe(false);
  });
});
