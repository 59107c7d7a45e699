// Sizes and durations, both directions: what operators write (`12GiB`, `15%`, `5m`) and what they
// read (`12.5 GiB`, `3d 4h`). Pure; used by config, the planner's thresholds, CLI output and logs.

/** A free-space amount: absolute bytes, or a ratio (0..1) of the filesystem. */
export type SizeSpec = { kind: 'bytes'; bytes: number } | { kind: 'ratio'; ratio: number };

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

const DURATION_UNITS_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/**
 * Parses `500MB`, `12GiB`, `1.5 g`, `1048576B` or `15%`; returns an error message on bad input.
 * A bare number other than 0 is refused: `15` meant as 15% would be 15 bytes, a threshold that
 * never triggers.
 */
export function parseSize(text: string): SizeSpec | { error: string } {
  const trimmed = text.trim();
  const percent = /^(\d+(?:\.\d+)?)\s*%$/.exec(trimmed);
  if (percent) {
    const value = Number(percent[1]);
    if (value > 100) return { error: `percentage '${text}' is above 100%` };
    return { kind: 'ratio', ratio: value / 100 };
  }
  const match = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(trimmed);
  if (!match) return { error: `invalid size '${text}' (expected e.g. 500MB, 12GiB, 15%)` };
  const unit = (match[2] ?? '').toLowerCase();
  if (unit === '' && Number(match[1]) !== 0) return { error: `size '${text}' has no unit: write ${match[1]}% or ${match[1]}GB (or ${match[1]}B for bytes)` };
  const factor = unit === '' ? 1 : SIZE_UNITS[unit];
  if (factor === undefined) {
    return { error: `unknown size unit '${match[2]}' in '${text}' (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB or %)` };
  }
  return { kind: 'bytes', bytes: Math.round(Number(match[1]) * factor) };
}

/** Parses `500ms`, `5m`, `3d`, `1h30m`, `3d 4h`; a bare number is rejected because its unit would be a guess. */
export function parseDuration(text: string): number | { error: string } {
  const trimmed = text.trim();
  const part = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*/gy;
  let totalMs = 0;
  let consumed = 0;
  let parts = 0;
  for (let m = part.exec(trimmed); m; m = part.exec(trimmed)) {
    totalMs += Number(m[1]) * (DURATION_UNITS_MS[m[2] as string] as number);
    consumed = part.lastIndex;
    parts += 1;
  }
  if (parts === 0 || consumed !== trimmed.length) {
    return { error: `invalid duration '${text}' (expected e.g. 500ms, 30s, 5m, 12h, 3d)` };
  }
  return Math.round(totalMs);
}

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** `1.50` -> `1.5`, `2.00` -> `2`. */
function trimZeros(fixed: string): string {
  return fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
}

/** Formats bytes in binary units with three significant digits: `12.5 GiB`, `980 MiB`, `512 B`. */
export function formatBytes(bytes: number): string {
  const sign = bytes < 0 ? '-' : '';
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < BINARY_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${sign}${trimZeros(value.toFixed(digits))} ${BINARY_UNITS[unit]}`;
}

/** Formats a ratio as a percentage: 0.153 -> `15.3%`. */
export function formatRatio(ratio: number): string {
  return `${trimZeros((ratio * 100).toFixed(1))}%`;
}

const COARSE_UNITS: Array<[string, number]> = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
];

/** Formats a duration with its two largest units: `3d 4h`, `5m`, `12s`, `450ms`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const first = COARSE_UNITS.findIndex(([, size]) => ms >= size);
  const [bigName, bigSize] = COARSE_UNITS[first] as [string, number];
  const bigCount = Math.floor(ms / bigSize);
  const next = COARSE_UNITS[first + 1];
  const smallCount = next ? Math.floor((ms - bigCount * bigSize) / next[1]) : 0;
  return next && smallCount > 0 ? `${bigCount}${bigName} ${smallCount}${next[0]}` : `${bigCount}${bigName}`;
}

/** Bytes with their share of a whole: `1.2 GiB (15.3%)`. */
export function formatShare(bytes: number, totalBytes: number): string {
  return `${formatBytes(bytes)} (${formatRatio(bytes / totalBytes)})`;
}
