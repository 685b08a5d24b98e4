import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Secrets Clearhouse must use again later (webhook signing keys) cannot be stored as a hash;
 * they are stored encrypted with AES-256-GCM under SECRETS_KEY, which lives outside the
 * database (environment, secret manager). Format: base64url(iv).base64url(tag).base64url(data).
 */
export class SecretBox {
  private readonly key: Buffer;
  constructor(keyMaterial: string) {
    // Any length of key material; SHA-256 gives the 32-byte AES key.
    this.key = createHash('sha256').update(keyMaterial, 'utf8').digest();
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [iv, cipher.getAuthTag(), data].map((b) => b.toString('base64url')).join('.');
  }

  open(sealed: string): string {
    const [iv, tag, data] = sealed.split('.').map((p) => Buffer.from(p, 'base64url'));
    if (!iv || !tag || !data) throw new Error('malformed sealed secret');
    const decipher = createDecipheriv('aes-256-gcm', this.key, iv);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8');
  }
}
