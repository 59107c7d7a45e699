// `registry delete-tag` references: `PATH:TAG`, where PATH may start with the registry's host
// (`registry.example.com:5050/group/app:mr-12`), as CI variables such as $CI_REGISTRY_IMAGE give it.
import { z } from 'zod';

export const TagRef = z.object({ repository: z.string().min(1), tag: z.string().min(1) });
export type TagRef = z.infer<typeof TagRef>;

/** Docker's tag grammar: what a push accepts. */
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Parses one reference; a message saying what is wrong when it is not one. */
export function parseTagRef(text: string): TagRef | string {
  const slash = text.lastIndexOf('/');
  const colon = text.lastIndexOf(':');
  if (colon <= slash) return `'${text}' names no tag: expected REPOSITORY:TAG, e.g. group/project/app:mr-12`;
  let repository = text.slice(0, colon);
  const tag = text.slice(colon + 1);
  if (!TAG.test(tag)) return `'${text}': '${tag}' is not a valid tag`;
  // A first component with a dot or a port, or `localhost`, is the registry's host, not a path.
  const first = repository.split('/')[0] as string;
  if (repository.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')) repository = repository.slice(first.length + 1);
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repository)) return `'${text}': '${repository}' is not a valid repository path`;
  return { repository, tag };
}

/** What became of one reference: `held` when deleting its digest would take what another tag needs. */
export interface TagDeleteOutcome {
  ref: string;
  result: 'deleted' | 'gone' | 'protected' | 'held' | 'failed';
  detail: string | null;
}
