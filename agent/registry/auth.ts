// Registry credentials: from a file (`registry-auth-file`) or the IMAGE_EVICTOR_REGISTRY_AUTH
// environment variable, never from a flag's value, which `ps` shows to every user.
import { readFileSync } from 'node:fs';
import { ConfigError, errorText } from '../errors';

/** The env var holding credentials: a loader input, like IMAGE_EVICTOR_CONFIG, not a config key. */
export const AUTH_ENV = 'IMAGE_EVICTOR_REGISTRY_AUTH';

export interface RegistryAuth {
  /** The Authorization header value. */
  header: string;
  /** Which kind, for logs: never the secret. */
  kind: 'basic' | 'bearer';
}

/** `basic USER:PASSWORD` or `bearer TOKEN`, one line; `source` names where it came from for errors. */
export function parseAuth(text: string, source: string): RegistryAuth {
  const line = text.trim();
  const match = /^(basic|bearer)\s+(\S.*)$/i.exec(line);
  if (!match) throw new ConfigError(source, "expected one line 'basic USER:PASSWORD' or 'bearer TOKEN'");
  const kind = (match[1] as string).toLowerCase() as RegistryAuth['kind'];
  const secret = (match[2] as string).trim();
  if (kind === 'basic') {
    if (!secret.includes(':')) throw new ConfigError(source, "basic credentials must be 'USER:PASSWORD'");
    return { kind, header: `Basic ${Buffer.from(secret).toString('base64')}` };
  }
  return { kind, header: `Bearer ${secret}` };
}

/** Credentials from the file if given, else the env var, else none. */
export function loadAuth(file: string | null, env: NodeJS.ProcessEnv): RegistryAuth | null {
  if (file !== null) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(file, `cannot read the registry credentials: ${errorText(error)}`, 'registry-auth-file');
    }
    return parseAuth(text, file);
  }
  const value = env[AUTH_ENV];
  return value === undefined || value === '' ? null : parseAuth(value, `environment variable ${AUTH_ENV}`);
}

/** A bearer token the listener requires from the registry, read from a file; null: none required. */
export function loadToken(file: string | null): string | null {
  if (file === null) return null;
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new ConfigError(file, `cannot read the listener token: ${errorText(error)}`, 'registry-listen-token-file');
  }
  if (text.length < 16) throw new ConfigError(file, 'the listener token must be at least 16 characters', 'registry-listen-token-file');
  return text;
}
