// `registry sync`: the crawl, and what it found.
import { escapeControl } from '../log';
import { syncRegistry } from '../registry/sync';
import type { RegistryContext } from './registry-context';

export async function registrySyncCommand(ctx: RegistryContext, json: boolean): Promise<number> {
  try {
    const result = await syncRegistry(ctx);
    if (json) process.stdout.write(`${JSON.stringify({ registry: ctx.client.url, ...result }, null, 2)}\n`);
    else {
      process.stdout.write(
        `${escapeControl(ctx.client.url)}: ${result.repositories} repositories, ${result.tags} tags; ${result.newManifests} manifests new to the state, ${result.manifestsRead} read, ${result.vanished} gone\n`,
      );
    }
    return 0;
  } finally {
    ctx.store.close();
  }
}
