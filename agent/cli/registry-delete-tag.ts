// `registry delete-tag REF...`: what a stop-environment job runs for its review image's tag.
import { parseTagRef, type TagRef } from '../core/tag-ref';
import { ConfigError } from '../errors';
import { deleteGitlabTags } from '../gitlab/delete-tag';
import { escapeControl } from '../log';
import { deleteRegistryTags } from '../registry/delete-tag';
import { renderTable } from './format';
import { distributionClient, type RegistryContext } from './registry-context';

/** Some tag was not deleted (protected, held by another tag, or failed). */
const EXIT_NOT_DELETED = 3;

/** Parses every reference first: one bad one fails the command before any request (exit 2). */
export function parseTagRefs(texts: string[]): TagRef[] {
  return texts.map((text) => {
    const ref = parseTagRef(text);
    if (typeof ref === 'string') throw new ConfigError('command line', ref, 'REF');
    return ref;
  });
}

export async function registryDeleteTagCommand(ctx: RegistryContext, refs: TagRef[], json: boolean): Promise<number> {
  try {
    const outcomes =
      ctx.gitlab !== null ? await deleteGitlabTags({ ...ctx, gitlab: ctx.gitlab.client, scope: ctx.gitlab.scope }, refs) : await deleteRegistryTags({ ...ctx, client: distributionClient(ctx, 'delete-tag') }, refs);
    if (json) process.stdout.write(`${JSON.stringify({ registry: ctx.name, outcomes }, null, 2)}\n`);
    else process.stdout.write(`${renderTable(['RESULT', 'TAG', 'DETAIL'], outcomes.map((o) => [o.result, escapeControl(o.ref), o.detail === null ? '' : escapeControl(o.detail)]))}\n`);
    return outcomes.every((o) => o.result === 'deleted' || o.result === 'gone') ? 0 : EXIT_NOT_DELETED;
  } finally {
    ctx.store.close();
  }
}
