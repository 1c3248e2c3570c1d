// Starts a real `bulwark serve` (the binary BULWARK_BIN names) on a free
// port with a fresh data directory, for the SDK tests of this directory,
// and stops it: startBulwark returns its base URL, its admin key and a
// stop function for after().
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';

export const adminKey = 'bk-node-test-admin-key-0123456789abcdefghijklmnop';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

async function waitReady(base) {
  for (let i = 0; i < 200; i++) {
    try {
      const res = await fetch(`${base}/readyz`);
      if (res.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('bulwark did not become ready');
}

// config, when given, is a config file's YAML to serve with instead of
// the built-in defaults.
export async function startBulwark(name, config) {
  const bin = process.env.BULWARK_BIN;
  assert.ok(bin, 'set BULWARK_BIN to the bulwark binary');
  const dataDir = mkdtempSync(join(tmpdir(), `bulwark-node-${name}-`));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir];
  if (config) {
    const path = join(dataDir, 'bulwark.yaml');
    writeFileSync(path, config);
    args.push('--config', path);
  }
  const proc = spawn(bin, args, {
    env: { ...process.env, BULWARK_ADMIN_KEY: adminKey },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitReady(base);
  return {
    base,
    adminKey,
    stop() {
      proc.kill('SIGTERM');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
