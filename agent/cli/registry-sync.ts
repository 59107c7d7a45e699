// `registry sync`: the crawl (a Distribution registry's catalog, or a GitLab scope through its API), and what it found.
import { syncGitlab } from '../gitlab/sync';
import { escapeControl } from '../log';
import { syncRegistry } from '../registry/sync';
import { distributionClient, type RegistryContext } from './registry-context';

export async function registrySyncCommand(ctx: RegistryContext, json: boolean): Promise<number> {
  if (ctx.gitlab !== null) {
    try {
      const result = await syncGitlab({ ...ctx, gitlab: ctx.gitlab.client, scope: ctx.gitlab.scope });
      const { scope } = ctx.gitlab;
      if (json) process.stdout.write(`${JSON.stringify({ registry: ctx.name, gitlab: ctx.gitlab.client.url, scope, ...result }, null, 2)}\n`);
      else {
        process.stdout.write(
          `${escapeControl(ctx.gitlab.client.url)} ${scope.kind} ${escapeControl(scope.id)}: ${result.repositories} repositories, ${result.tags} tags; ${result.newManifests} images new to the state, ${result.detailsRead} tag details read, ${result.vanished} gone\n`,
        );
      }
      return 0;
    } finally {
      ctx.store.close();
    }
  }
  const client = distributionClient(ctx, 'sync');
  try {
    const result = await syncRegistry({ ...ctx, client });
    if (json) process.stdout.write(`${JSON.stringify({ registry: ctx.name, ...result }, null, 2)}\n`);
    else {
      process.stdout.write(
        `${escapeControl(ctx.name)}: ${result.repositories} repositories, ${result.tags} tags; ${result.newManifests} manifests new to the state, ${result.manifestsRead} read, ${result.vanished} gone\n`,
      );
    }
    return 0;
  } finally {
    ctx.store.close();
  }
}
