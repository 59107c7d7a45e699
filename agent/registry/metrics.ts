// The registry commands' metrics, for node_exporter's textfile collector: `apply` and `gc` are
// one-shots (a nightly timer), so they write what they did to a file Prometheus scrapes through
// node_exporter, atomically, keeping the other command's figures.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

/** Gauges by name (without the image_evictor_registry_ prefix), with their help. */
export interface RegistryFigures {
  [name: string]: { help: string; value: number };
}

const PREFIX = 'image_evictor_registry_';

/** One `# HELP`/`# TYPE`/value block per gauge: the exposition format, labels carry the registry. */
function block(name: string, help: string, value: number, registry: string): string {
  const label = registry.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  return `# HELP ${PREFIX}${name} ${help}\n# TYPE ${PREFIX}${name} gauge\n${PREFIX}${name}{registry="${label}"} ${value}\n`;
}

/**
 * Merges `figures` into the textfile at `file` (other gauges already there stay: apply and gc
 * write their own) and replaces it atomically, so node_exporter never reads half a file.
 */
export function writeRegistryMetrics(file: string, registry: string, figures: RegistryFigures): void {
  const blocks = new Map<string, string>();
  let previous = '';
  try {
    previous = readFileSync(file, 'utf8');
  } catch {
    // No file yet.
  }
  for (const chunk of previous.split(/(?=^# HELP )/m)) {
    const name = /^# HELP (\S+)/.exec(chunk)?.[1];
    if (name !== undefined) blocks.set(name, chunk.endsWith('\n') ? chunk : `${chunk}\n`);
  }
  for (const [name, { help, value }] of Object.entries(figures)) blocks.set(`${PREFIX}${name}`, block(name, help, value, registry));
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, [...blocks.values()].join(''), { mode: 0o644 });
  renameSync(temporary, file);
}
