// Structured logging: one event per line, a fixed snake_case message naming the event, details as fields.
import type { Writable } from 'node:stream';
import winston from 'winston';
import { z } from 'zod';

export const LogLevel = z.enum(['error', 'warn', 'info', 'debug']);
export type LogLevel = z.infer<typeof LogLevel>;
export const LogFormat = z.enum(['json', 'text']);
export type LogFormat = z.infer<typeof LogFormat>;

export type LogFields = Record<string, unknown>;

/** The logging surface the agent's modules depend on. */
export interface Log {
  error(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  debug(event: string, fields?: LogFields): void;
}

function unicodeEscape(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** Replaces control characters so untrusted text (image names, labels) cannot forge log lines. */
export function escapeControl(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, unicodeEscape);
}

const MESSAGE = Symbol.for('message');

/** JSON escapes C0 controls itself; DEL, C1 controls and line separators it leaves raw. */
const escapeRawInJson = winston.format((info) => {
  const line = (info as unknown as Record<symbol, unknown>)[MESSAGE];
  if (typeof line === 'string') {
    (info as unknown as Record<symbol, unknown>)[MESSAGE] = line.replace(/[\u007f-\u009f\u2028\u2029]/g, unicodeEscape);
  }
  return info;
});

const textLine = winston.format.printf((info) => {
  const { level, message, timestamp, ...fields } = info;
  const details = Object.entries(fields)
    .map(([key, value]) => `${key}=${escapeControl(typeof value === 'string' ? value : JSON.stringify(value))}`)
    .join(' ');
  return `${String(timestamp)} ${level} ${escapeControl(String(message))}${details ? ` ${details}` : ''}`;
});

export interface LogOptions {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go: stdout for the service (journald), stderr for one-shot commands with output of their own. */
  stream: Writable;
}

/** A winston-backed Log; JSON lines escape control characters by construction. */
export function createLog(options: LogOptions): Log {
  const logger = winston.createLogger({
    level: options.level,
    format: winston.format.combine(
      winston.format.timestamp(),
      ...(options.format === 'json' ? [winston.format.json(), escapeRawInJson()] : [textLine]),
    ),
    transports: [new winston.transports.Stream({ stream: options.stream })],
  });
  return {
    error: (event, fields) => logger.error(event, fields),
    warn: (event, fields) => logger.warn(event, fields),
    info: (event, fields) => logger.info(event, fields),
    debug: (event, fields) => logger.debug(event, fields),
  };
}

/** A Log that drops everything, for pure-code tests and library use. */
export const silentLog: Log = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
