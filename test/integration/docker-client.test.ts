// The built Docker client as the agent loads it: against a real engine over its unix socket, with
// no SSH code in the process (dockerode's modem would load ssh2, whose WebAssembly costs the
// agent 4-14 MiB of RSS for its whole life; agent/docker/without-ssh.ts gives it a stand-in).
import { join } from 'node:path';
import { startEngine, type Engine } from '../harness/engine';
import { run } from '../harness/proc';

const MiB = 2 ** 20;
const CLIENT = join(__dirname, '..', '..', 'dist', 'agent', 'docker', 'client.js');
let engine: Engine;

beforeAll(async () => {
  engine = await startEngine({ diskBytes: 200 * MiB, label: 'docker-client' });
}, 120_000);

afterAll(async () => {
  await engine?.stop();
});

it('talks to a real engine with no ssh2 code loaded, and refuses ssh:// with a clear error', async () => {
  const script = `
    const { createDockerClient } = require(${JSON.stringify(CLIENT)});
    const Dockerode = require('dockerode');
    (async () => {
      const root = await createDockerClient(${JSON.stringify(engine.host)}).dataRoot();
      const ssh2 = Object.keys(require.cache).filter((p) => p.includes('/node_modules/ssh2/'));
      let refused = null;
      try { await new Dockerode({ protocol: 'ssh', host: '127.0.0.1', port: 1 }).ping(); } catch (error) { refused = error.message; }
      process.stdout.write(JSON.stringify({ root, ssh2, stub: ssh2.map((p) => Object.keys(require.cache[p].exports)), refused }));
    })();`;
  const ran = await run(process.execPath, ['-e', script], { cwd: join(__dirname, '..', '..') });
  // (stderr may carry Node's deprecation warning for the modem's ssh URL.)
  expect(ran.code).toBe(0);
  const out = JSON.parse(ran.stdout) as { root: string; ssh2: string[]; stub: string[][]; refused: string | null };
  expect(out.root).toBe(engine.dataRoot);
  // Only ssh2's entry point, holding the stand-in: none of its modules (nor its WebAssembly) loaded.
  expect(out.ssh2.map((p) => p.slice(p.indexOf('/node_modules/')))).toEqual(['/node_modules/ssh2/lib/index.js']);
  expect(out.stub).toEqual([['Client']]);
  expect(out.refused).toBe('image-evictor does not connect to Docker over SSH: use unix:// or tcp://');
});

it('a catch-up the daemon does not answer is an error, not an empty list: no removal goes ahead on it', async () => {
  // The daemon is stopped (SIGSTOP by its PID), as a loaded one that cannot answer in time: before,
  // the catch-up gave back no events, and the removal waiting on it went ahead on stale records.
  const script = `
    const { createDockerClient } = require(${JSON.stringify(CLIENT)});
    (async () => {
      const client = createDockerClient(${JSON.stringify(engine.host)});
      const nowNano = String(BigInt(Date.now()) * 1000000n);
      await client.eventsBetween('0', nowNano);
      process.stdout.write('answered\\n');
      process.kill(${engine.pid}, 'SIGSTOP');
      // A group stop reaches each thread in turn: on a loaded machine a running thread can still
      // answer for a while (once it answered this whole catch-up). Wait until every thread is stopped.
      const fs = require('node:fs');
      const state = (t) => { const stat = fs.readFileSync('/proc/${engine.pid}/task/' + t + '/stat', 'utf8'); return stat.slice(stat.lastIndexOf(') ') + 2, stat.lastIndexOf(') ') + 3); };
      const stopped = () => fs.readdirSync('/proc/${engine.pid}/task').every((t) => state(t) === 'T');
      for (const deadline = Date.now() + 30000; !stopped(); ) {
        if (Date.now() > deadline) throw new Error('dockerd did not stop');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      try {
        const events = await client.eventsBetween('0', nowNano);
        process.stdout.write(JSON.stringify({ events: events.length }));
      } catch (error) {
        process.stdout.write(JSON.stringify({ error: error.message }));
      } finally {
        process.kill(${engine.pid}, 'SIGCONT');
      }
    })();`;
  let ran: Awaited<ReturnType<typeof run>>;
  try {
    ran = await run(process.execPath, ['-e', script], { cwd: join(__dirname, '..', '..') });
  } finally {
    process.kill(engine.pid, 'SIGCONT');
  }
  expect(ran.code).toBe(0);
  const [answered, outcome] = ran.stdout.split('\n');
  expect(answered).toBe('answered');
  expect(JSON.parse(outcome as string)).toEqual({ error: expect.stringMatching(/^cannot reach Docker at .*: no answer to the events catch-up within 3 s$/) });
  // The daemon goes on as before.
  expect(await engine.docker(['version', '--format', '{{.Server.Version}}'])).toMatch(/^\d+\./);
});
