// Keeps ssh2 out of the process. dockerode's modem requires ssh2 at load for `ssh://` hosts, and
// ssh2 instantiates a 16 MiB WebAssembly module as it loads (mscdex/ssh2#1494): 14 MiB of idle
// RSS for the agent's whole life. The agent only speaks unix:// and tcp:// (client.ts refuses
// others), so the modem gets a stand-in that refuses SSH if it were ever asked. Imported before
// dockerode; Node's module cache is the documented place to give a module its exports.
import Module from 'node:module';
import { dirname } from 'node:path';

class NoSshClient {
  constructor() {
    throw new Error('image-evictor does not connect to Docker over SSH: use unix:// or tcp://');
  }
}

function standIn(): void {
  let path: string;
  try {
    // The ssh2 that docker-modem would load, wherever npm placed it.
    const modem = dirname(require.resolve('docker-modem/package.json', { paths: [dirname(require.resolve('dockerode'))] }));
    path = require.resolve('ssh2', { paths: [modem] });
  } catch {
    return; // Not installed next to the modem: nothing would load it from here.
  }
  if (require.cache[path] !== undefined) return;
  const module = new Module(path);
  module.filename = path;
  module.loaded = true;
  module.exports = { Client: NoSshClient };
  require.cache[path] = module;
}

standIn();
