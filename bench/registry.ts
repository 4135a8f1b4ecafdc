import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** A docker-registry on loopback for the bench's shared cache scenarios; `stop()` ends it. */
export interface BenchRegistry {
  host: string;
  stop(): void;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Starts docker-registry with its data under `dir`/registry and waits until `/v2/` answers. */
export async function startBenchRegistry(dir: string): Promise<BenchRegistry> {
  const host = `127.0.0.1:${await freePort()}`;
  const regDir = path.join(dir, 'registry');
  mkdirSync(regDir, { recursive: true });
  writeFileSync(path.join(regDir, 'config.yml'), `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${regDir}/data\nhttp:\n  addr: ${host}\n`);
  const registry = spawn('docker-registry', ['serve', path.join(regDir, 'config.yml')], { stdio: 'ignore' });
  for (let i = 0; i < 100 && spawnSync('curl', ['-sf', `http://${host}/v2/`]).status !== 0; i++) await new Promise((r) => setTimeout(r, 100));
  return { host, stop: () => registry.kill('SIGTERM') };
}
