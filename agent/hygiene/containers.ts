// Removes stopped job containers past their grace period, so the images they pin become evictable.
import { containersToRemove } from '../core/containers';
import type { ContainerPolicy } from '../core/containers';
import type { DockerClient } from '../docker/client';
import { errorText } from '../errors';
import type { Log } from '../log';

export interface ContainerRemoval {
  id: string;
  name: string;
  image: string;
  result: 'removed' | 'gone' | 'in-use' | 'would-remove' | 'failed';
}

/** Removes the stopped containers the policy selects (never forced); a dry run only logs them. */
export async function removeStoppedContainers(
  deps: { docker: DockerClient; log: Log },
  policy: ContainerPolicy,
  nowMs: number,
  dryRun: boolean,
): Promise<ContainerRemoval[]> {
  if (!policy.removeExited) return [];
  const selected = containersToRemove(await deps.docker.listContainerInfo(), policy, nowMs);
  const removals: ContainerRemoval[] = [];
  for (const c of selected) {
    const removal: ContainerRemoval = { id: c.id, name: c.name, image: c.image, result: 'would-remove' };
    const fields = { containerId: c.id, name: c.name, image: c.image, state: c.state, finishedMs: c.finishedMs };
    if (!dryRun) {
      try {
        const result = await deps.docker.removeContainer(c.id, policy.removeVolumes);
        // 409: it was restarted or is being removed since the listing; not ours to touch.
        removal.result = result === 'conflict' ? 'in-use' : result;
      } catch (error) {
        removal.result = 'failed';
        deps.log.warn('container_removal_failed', { ...fields, error: errorText(error) });
      }
    }
    if (removal.result !== 'failed') deps.log.info(dryRun ? 'container_removal_dry_run' : 'container_removal', { ...fields, result: removal.result });
    removals.push(removal);
  }
  return removals;
}
