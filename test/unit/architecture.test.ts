// The layers README's Architecture section draws, held by a test: the pure core imports nothing but
// zod, and no two folders of agent/ import each other, directly or round a loop.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const AGENT = join(__dirname, '..', '..', 'agent');

/** Every .ts file under agent/, relative to it. */
function sources(dir = AGENT): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [relative(AGENT, path)] : [];
  });
}

/** The modules a file imports or re-exports from. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(AGENT, file), 'utf8');
  return [...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom '([^']+)'/gm)].map((m) => m[1] as string);
}

/** The folder a file sits in under agent/ ('.' for the top level). */
const folderOf = (file: string) => dirname(file);

/** Folder-level dependencies: folder -> the other folders its files import. */
function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sources()) {
    const from = folderOf(file);
    const targets = graph.get(from) ?? new Set<string>();
    graph.set(from, targets);
    for (const spec of importsOf(file).filter((s) => s.startsWith('.'))) {
      const to = folderOf(relative(AGENT, resolve(AGENT, dirname(file), spec)));
      if (to !== from) targets.add(to);
    }
  }
  return graph;
}

/** A loop of folders, if there is one. */
function findCycle(graph: Map<string, Set<string>>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): string[] | null => {
    if (state.get(node) === 'done') return null;
    if (state.get(node) === 'open') return [...path.slice(path.indexOf(node)), node];
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, 'done');
    return null;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return null;
}

describe('architecture', () => {
  it('core/ is pure: it imports zod and other core modules only', () => {
    const outside = sources()
      .filter((file) => folderOf(file) === 'core')
      .flatMap((file) => importsOf(file).filter((spec) => spec !== 'zod' && !spec.startsWith('./')).map((spec) => `${file}: ${spec}`));
    expect(outside).toEqual([]);
  });

  it('no folder of agent/ imports one that imports it back, directly or round a loop', () => {
    const graph = folderGraph();
    expect(graph.size).toBeGreaterThan(8);
    expect(findCycle(graph)).toBeNull();
  });

  it('the loop finder finds loops (so the test above can fail)', () => {
    const graph = new Map([
      ['cli', new Set(['service'])],
      ['service', new Set(['eviction'])],
      ['eviction', new Set(['service'])],
    ]);
    expect(findCycle(graph)).toEqual(['service', 'eviction', 'service']);
  });
});
