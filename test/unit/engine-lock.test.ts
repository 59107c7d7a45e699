// The engine lock: held once per engine ID on the host, released on demand (and by the kernel on exit).
import { randomBytes } from 'node:crypto';
import { engineLockName, lockEngine } from '../../agent/state/engine-lock';
import { LockHeldError } from '../../agent/state/lock';

it('a second holder of the same engine is refused; another engine, or the same after release, is fine', async () => {
  const engine = `test-${randomBytes(6).toString('hex')}`;
  const first = await lockEngine(engine);
  await expect(lockEngine(engine)).rejects.toThrow(new LockHeldError(`${engineLockName(engine)} (engine ${engine})`));
  const other = await lockEngine(`${engine}-other`);
  first.release();
  other.release();
  // close() completes asynchronously: the name is free once the server has closed.
  let again = null;
  for (let attempt = 0; again === null && attempt < 100; attempt += 1) again = await lockEngine(engine).catch(() => null);
  expect(again).not.toBeNull();
  again?.release();
});
