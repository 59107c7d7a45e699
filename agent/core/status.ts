// What `status` reports about each image: pure, from records and the current containers.
import { compareLeastRecent } from './usage';
import { isDangling, type ContainerRef, type ImageRecord } from './image';

/** One image as `status` shows it. */
export interface ImageStatus {
  record: ImageRecord;
  dangling: boolean;
  /** Names of containers, running or stopped, created from the image. */
  containers: string[];
}

/** Live images, least recently used first, with the containers that use each. */
export function imageStatuses(records: Iterable<ImageRecord>, containers: ContainerRef[]): ImageStatus[] {
  const byImage = new Map<string, string[]>();
  for (const c of containers) byImage.set(c.imageId, [...(byImage.get(c.imageId) ?? []), c.name]);
  return [...records]
    .filter((r) => r.removedMs === null)
    .sort(compareLeastRecent)
    .map((record) => ({ record, dangling: isDangling(record), containers: byImage.get(record.id) ?? [] }));
}
