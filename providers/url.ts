/** A path under a provider's base URL, keeping any path prefix the base has (https://host/api/v1). */
export function under(baseUrl: string, path: string): URL {
  return new URL(path.replace(/^\//, ''), baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
}
