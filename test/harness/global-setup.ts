// Starts what all integration tests share: a local registry and a builder engine that builds and
// pushes test images, so the engines under test only ever receive images by real pulls.
// Any failure here fails the whole run: integration tests never skip.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startEngine, type Engine } from './engine';
import { startRegistry, type Registry } from './registry';

declare global {
  // Shared with global-teardown, which runs in the same process.
  var __IE_SHARED__: { registry: Registry; builder: Engine } | undefined;
}

export default async function globalSetup(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('integration tests need root: they start dockerd and mount loop filesystems');
  const cli = join(__dirname, '..', '..', 'dist', 'agent', 'cli', 'main.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run 'npm run build' first (test/run.sh does)`);
  const registry = await startRegistry();
  let builder: Engine;
  try {
    builder = await startEngine({ diskBytes: 4 * 2 ** 30, label: 'builder' });
  } catch (error) {
    await registry.stop();
    throw error;
  }
  globalThis.__IE_SHARED__ = { registry, builder };
  process.env.IE_TEST_REGISTRY = registry.address;
  process.env.IE_TEST_BUILDER_HOST = builder.host;
  process.env.IE_TEST_BUILDER_DIR = builder.workDir;
}
