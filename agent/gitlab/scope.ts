// Which repositories a GitLab project or group held at its last sync, kept in the state's meta:
// plan and status judge only those, since one state (shared with `registry listen`) may hold
// other projects' repositories of the same registry.
import type { RegistryStore } from '../state/registry-store';
import type { GitlabScope } from './client';

const markName = (scope: GitlabScope) => `gitlab ${scope.kind} ${scope.id} repositories`;

/** The scope's repository paths at its last sync; null: never synced. */
export function scopeRepositories(store: RegistryStore, scope: GitlabScope): string[] | null {
  const value = store.mark(markName(scope));
  if (value === null) return null;
  const parsed: unknown = JSON.parse(value);
  return Array.isArray(parsed) ? parsed.filter((p): p is string => typeof p === 'string') : [];
}

export function setScopeRepositories(store: RegistryStore, scope: GitlabScope, paths: string[]): void {
  store.setMark(markName(scope), JSON.stringify([...paths].sort()));
}
