// Typed errors that carry the context an operator needs to fix the cause.

/** A bad configuration value or file: names the source (file path, env var, flag), line and key. */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly reason: string,
    readonly key?: string,
    readonly line?: number,
  ) {
    const where = line === undefined ? source : `${source}:${line}`;
    super(`${where}: ${key === undefined ? '' : `key '${key}': `}${reason}`);
    this.name = 'ConfigError';
  }
}

/** The Docker daemon could not be reached at all (socket missing, refused, timed out). */
export class DockerUnreachableError extends Error {
  constructor(
    readonly host: string,
    readonly causeText: string,
  ) {
    super(`cannot reach Docker at ${host}: ${causeText}`);
    this.name = 'DockerUnreachableError';
  }
}

/** Docker answered with an HTTP error the caller did not expect. */
export class DockerApiError extends Error {
  constructor(
    readonly operation: string,
    readonly statusCode: number,
    readonly causeText: string,
  ) {
    super(`docker ${operation} failed with HTTP ${statusCode}: ${causeText}`);
    this.name = 'DockerApiError';
  }
}

/** The state database could not be opened or created even after moving a damaged file aside. */
export class StateError extends Error {
  constructor(
    readonly path: string,
    readonly causeText: string,
  ) {
    super(`state database ${path}: ${causeText}`);
    this.name = 'StateError';
  }
}

/** Text of any thrown value, for error messages and logs. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A rule file (docker_gc syntax or a policy's `match:`) that does not parse: where, what, and what was expected. */
export class RuleSyntaxError extends Error {
  constructor(
    readonly source: string,
    readonly line: number,
    readonly column: number,
    readonly reason: string,
    /** The offending line as written. */
    readonly lineText: string,
  ) {
    const caret = `${' '.repeat(Math.max(column - 1, 0))}^`;
    super(`${source}:${line}:${column}: ${reason}\n  ${lineText}\n  ${caret}`);
    this.name = 'RuleSyntaxError';
  }
}
