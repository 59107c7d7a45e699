// Builds test images FROM scratch (busybox plus layers of random bytes) on the builder engine and
// pushes them to the local registry.
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCKER_CLI, dockerEnv } from './engine';
import { runOk } from './proc';

export interface ImageSpec {
  /** Repository name under the registry, e.g. `tracking/app`. */
  name: string;
  tag?: string;
  /** Sizes of the random layers on top. */
  layerBytes: number[];
  /** A pushed image to build on (shares its layers); default: scratch plus busybox. */
  from?: string;
  /** host:port of the registry to push to; default: the shared one. */
  registry?: string;
}

export interface BuiltImage {
  /** registry/name:tag */
  ref: string;
  id: string;
  /** registry/name@sha256:... */
  digestRef: string;
}

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: integration tests must run under test/harness/global-setup.ts`);
  return value;
}

export function registryAddress(): string {
  return env('IE_TEST_REGISTRY');
}

let contexts = 0;

/** Builds and pushes an image; each call writes fresh random bytes, so content is always new. */
export async function buildImage(spec: ImageSpec): Promise<BuiltImage> {
  const host = env('IE_TEST_BUILDER_HOST');
  const workDir = env('IE_TEST_BUILDER_DIR');
  const ref = `${spec.registry ?? registryAddress()}/${spec.name}:${spec.tag ?? 'latest'}`;
  const context = join(workDir, 'contexts', `${process.pid}-${(contexts += 1)}`);
  mkdirSync(context, { recursive: true });
  const lines = spec.from === undefined ? ['FROM scratch', 'COPY busybox /bin/busybox'] : [`FROM ${spec.from}`];
  if (spec.from === undefined) copyFileSync('/bin/busybox', join(context, 'busybox'));
  spec.layerBytes.forEach((bytes, i) => {
    const file = `layer${i}`;
    writeFileSync(join(context, file), randomBytes(bytes));
    lines.push(`COPY ${file} /data/${spec.name.replace(/\W/g, '_')}-${file}`);
  });
  lines.push('CMD ["/bin/busybox", "true"]');
  writeFileSync(join(context, 'Dockerfile'), `${lines.join('\n')}\n`);
  const cli = (args: string[]) => runOk(DOCKER_CLI, args, { env: dockerEnv(host, workDir) });
  await cli(['build', '-q', '-t', ref, context]);
  await cli(['push', ref]);
  const [id, digestRef] = (await cli(['image', 'inspect', '--format', '{{.Id}} {{index .RepoDigests 0}}', ref])).trim().split(' ');
  return { ref, id: id as string, digestRef: digestRef as string };
}

/** Runs the docker CLI against the builder engine (pull, push, tag to other registries). */
export function builderCli(args: string[]): Promise<string> {
  return runOk(DOCKER_CLI, args, { env: dockerEnv(env('IE_TEST_BUILDER_HOST'), env('IE_TEST_BUILDER_DIR')) });
}
