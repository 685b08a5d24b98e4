import type { SecretBox, StoredSecret } from '../platform/secrets';
import type { FetchPageParams } from './types';

/** A provider connection as db/partners.ts stores it: the credential's value still sealed. */
export interface SealedProviderConnection {
  format: string;
  baseUrl: string;
  options: Record<string, unknown>;
  /** Sealed, with the owner and purpose its row gives it. */
  credentials: { header: string; sealed: StoredSecret } | null;
}

/** What an adapter needs to fetch a partner's report, the credential opened into its header. */
export type OpenedProviderConnection = { format: string } & Required<
  Pick<FetchPageParams, 'baseUrl' | 'options' | 'headers'>
>;

/**
 * Opens a stored connection for the adapter of its format. The credential is opened only here,
 * just before use, and lives only in the returned headers (never logged, never in history).
 */
export function openProviderConnection(
  stored: SealedProviderConnection | null,
  secrets: SecretBox | undefined,
): OpenedProviderConnection | null {
  if (!stored) return null;
  const { format, baseUrl, options, credentials } = stored;
  if (!credentials) return { format, baseUrl, options, headers: {} };
  if (!secrets)
    throw new Error('provider credentials are configured but no SecretBox was given to open them');
  return { format, baseUrl, options, headers: { [credentials.header]: secrets.open(credentials.sealed) } };
}
