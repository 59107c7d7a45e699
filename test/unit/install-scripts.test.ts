// npm 12 skips the install script of every dependency that package.json's `allowScripts` does not
// name (npm 11 only warns). better-sqlite3 builds its SQLite binding in its install script: unnamed,
// `npm ci` and systemd/install.sh succeed and the agent then fails to open its state.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

const ROOT = join(__dirname, '..', '..');

const PackageJson = z.object({ allowScripts: z.record(z.string(), z.boolean()).default({}) });
const PackageLock = z.object({ packages: z.record(z.string(), z.object({ hasInstallScript: z.boolean().optional() })) });

const readJson = (name: string): unknown => JSON.parse(readFileSync(join(ROOT, name), 'utf8'));

/** Names of the locked packages that have an install script (lockfile v3 marks them). */
function withInstallScripts(): string[] {
  const { packages } = PackageLock.parse(readJson('package-lock.json'));
  return Object.entries(packages)
    .filter(([path, entry]) => path !== '' && entry.hasInstallScript === true)
    .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
}

it('allowScripts decides for every locked package with an install script, and lets better-sqlite3 build', () => {
  const { allowScripts } = PackageJson.parse(readJson('package.json'));
  const scripted = withInstallScripts();
  expect(scripted).toContain('better-sqlite3');
  expect(scripted.filter((name) => !(name in allowScripts))).toEqual([]);
  expect(allowScripts['better-sqlite3']).toBe(true);
});
