// `registry listen`: the notification receiver, until SIGTERM or SIGINT.
import { startListener } from '../registry/listen';
import type { RegistryContext } from './registry-context';

/** Runs until SIGTERM or SIGINT, then closes the listener and the state. */
export async function registryListenCommand(ctx: RegistryContext): Promise<number> {
  const listener = await startListener({
    listen: ctx.config.registryListen,
    token: ctx.listenToken,
    store: ctx.store,
    filter: { ignoreUserAgents: ctx.config.registryIgnoreUserAgents },
    log: ctx.log,
  });
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await listener.close();
  ctx.log.info('registry_listen_stopped', { ...listener.counts });
  ctx.store.close();
  return 0;
}
