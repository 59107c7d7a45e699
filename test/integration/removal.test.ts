// Removing an image with several tags, never forced, on a real engine: all or nothing.
import { createDockerClient } from '../../agent/docker/client';
import { removeAllReferences } from '../../agent/eviction/evictor';
import type { PlanStep } from '../../agent/core/planner';
import { startEngine, type Engine } from '../harness/engine';
import { buildImage } from '../harness/images';

let engine: Engine;

beforeAll(async () => {
  engine = await startEngine({ diskBytes: 300 * 2 ** 20, label: 'removal' });
});

afterAll(async () => {
  await engine?.stop();
});

function step(imageId: string, tags: string[]): PlanStep {
  return { imageId, tags, reason: 'least-recently-used', mode: 'purge', recencyMs: 0, lastUsedMs: null, estimatedBytes: 0, untilFreeBytes: 0, untilFreeInodes: 0 };
}

async function tagsOf(id: string): Promise<string[] | null> {
  const image = await createDockerClient(engine.host).inspectImage(id);
  return image === null ? null : [...image.repoTags].sort();
}

test('an image tagged in several repositories is removed whole, without force', async () => {
  const built = await buildImage({ name: 'removal/free', layerBytes: [2 ** 20] });
  await engine.docker(['pull', '-q', built.ref]);
  await engine.docker(['tag', built.ref, 'ci/other-repo:x']);
  await engine.docker(['tag', built.ref, 'ci/third:y']);
  const tags = (await tagsOf(built.id)) as string[];
  expect(tags).toHaveLength(3);
  expect(await removeAllReferences(createDockerClient(engine.host), step(built.id, tags))).toBe('removed');
  expect(await tagsOf(built.id)).toBeNull();
});

test('when Docker refuses (a stopped container uses it), every tag is put back', async () => {
  const built = await buildImage({ name: 'removal/pinned', layerBytes: [2 ** 20] });
  await engine.docker(['pull', '-q', built.ref]);
  await engine.docker(['tag', built.ref, 'ci/other-repo:pinned']);
  await engine.docker(['create', '--name', 'pinning-job', '--network', 'none', built.ref]);
  const tags = (await tagsOf(built.id)) as string[];
  expect(await removeAllReferences(createDockerClient(engine.host), step(built.id, tags))).toBe('conflict');
  expect(await tagsOf(built.id)).toEqual(tags);
});
