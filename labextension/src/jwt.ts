/**
 * A JWT's header and claims, decoded here in the browser: for reading, never verified, never
 * sent anywhere. The signature is not decoded, kept or shown.
 */

function decodeSegment(segment: string): { [key: string]: unknown } {
  const base64 = segment.replace(/-/g, '+').replace(/_/g, '/');
  const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), c => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

export interface IDecoded {
  header: { [key: string]: unknown };
  claims: { [key: string]: unknown };
}

export function decode(token: string): IDecoded {
  const parts = token.split('.');
  if (parts.length !== 3) {
    throw new Error('not a signed JWT (three parts separated by dots)');
  }
  return { header: decodeSegment(parts[0]), claims: decodeSegment(parts[1]) };
}

/** Claims holding times (seconds since the epoch): shown as local times too. */
export const TIME_CLAIMS = ['exp', 'iat', 'nbf', 'auth_time'];

export function shown(name: string, value: unknown): string {
  if (TIME_CLAIMS.includes(name) && typeof value === 'number') {
    return `${new Date(value * 1000).toLocaleString()} (${value})`;
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}
