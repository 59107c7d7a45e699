// GitLab credentials from the environment only: GITLAB_TOKEN (a personal, project or group access
// token, sent as PRIVATE-TOKEN), else CI_JOB_TOKEN inside a CI job (sent as JOB-TOKEN). Never a
// flag's value (`ps` shows those) and never logged.
import { ConfigError } from '../errors';

export interface GitlabToken {
  header: 'PRIVATE-TOKEN' | 'JOB-TOKEN';
  value: string;
  /** Where it came from, for errors: never the secret. */
  source: string;
}

export function loadGitlabToken(env: NodeJS.ProcessEnv): GitlabToken {
  const personal = env.GITLAB_TOKEN?.trim();
  if (personal) return { header: 'PRIVATE-TOKEN', value: personal, source: '$GITLAB_TOKEN' };
  const job = env.CI_JOB_TOKEN?.trim();
  if (job) return { header: 'JOB-TOKEN', value: job, source: '$CI_JOB_TOKEN' };
  throw new ConfigError('environment', 'no GitLab token: set GITLAB_TOKEN (an access token with api scope; read_api for sync, plan and status), or run inside a CI job (CI_JOB_TOKEN)', 'gitlab');
}
