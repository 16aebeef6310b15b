// Shared by the e2e suite and the load test: finds the rz binary and the
// shared model, converts it to GGUF, and runs `rz serve` on a loopback port.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');

export function rzBinary() {
  const candidates = [process.env.RZ_CLI, join(repoRoot, 'build', 'rz')].filter(Boolean);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`rz binary not found (set RZ_CLI); tried ${candidates.join(', ')}`);
  return found;
}

export function sharedPath(rel) {
  const base = process.env.RZ_SHARED_DIR || resolve(repoRoot, '..', 'shared');
  return join(base, rel);
}

// stories260K + tok512 converted to GGUF in a temp dir (removed by cleanup()).
export function prepareModel() {
  const bin = sharedPath('models/stories260K.bin');
  const tok = sharedPath('models/tok512.bin');
  if (!existsSync(bin) || !existsSync(tok)) return null;
  const dir = mkdtempSync(join(tmpdir(), 'rz-e2e-'));
  const model = join(dir, 'stories260K.gguf');
  const r = spawnSync(rzBinary(), ['convert', bin, model, '-z', tok], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`rz convert failed: ${r.stderr}`);
  return { model, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

// Starts `rz serve` on 127.0.0.1 with a free port; resolves once listening.
export function startServer(model, extraArgs = [], { timeoutMs = 20000 } = {}) {
  const args = ['serve', '-m', model, '--host', '127.0.0.1', '--port', '0', '-t', '1', ...extraArgs];
  const proc = spawn(rzBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const exited = new Promise((res) => proc.on('exit', (code, signal) => res({ code, signal })));
  return new Promise((res, rej) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      rej(new Error(`rz serve did not start:\n${stderr}`));
    }, timeoutMs);
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => {
      stderr += d;
      const m = /listening on (https?):\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
      if (m && !proc.listening) {
        proc.listening = true;
        clearTimeout(timer);
        res({
          url: `${m[1]}://127.0.0.1:${m[2]}`,
          proc,
          log: () => stderr,
          // SIGTERM, then the exit status (bounded: SIGKILL after 15 s).
          stop: async () => {
            proc.kill('SIGTERM');
            const killer = setTimeout(() => proc.kill('SIGKILL'), 15000);
            const r = await exited;
            clearTimeout(killer);
            return r;
          },
        });
      }
    });
    exited.then(({ code }) => {
      clearTimeout(timer);
      if (!proc.listening) rej(new Error(`rz serve exited (${code}):\n${stderr}`));
    });
  });
}

// Parses Prometheus text into { 'name{labels}': value }.
export function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}
