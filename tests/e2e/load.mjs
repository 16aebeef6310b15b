// Bounded load test of rz serve (not a ctest: it reports timings).
//   node tests/e2e/load.mjs [--requests 200] [--concurrency 16] [--parallel 1,16] [--max-tokens 64]
//                           [--threads 1] [--model GGUF (default: stories260K converted)]
// For each --parallel value it starts a server on loopback, sends the
// streaming completions with the given concurrency, and checks: no errors,
// no slot left busy, and /metrics counters equal what the clients saw.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { parseMetrics, prepareModel, startServer } from './harness.mjs';

const opt = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const N = Number(opt('requests', 200));
const CONC = Number(opt('concurrency', 16));
const PARALLEL = opt('parallel', '1,16').split(',').map(Number);
const MAX_TOKENS = Number(opt('max-tokens', 64));
const THREADS = opt('threads', '1');
const prompts = ['Once upon a time', 'The little dog', 'Lily and Ben went to the park', 'One day, a big bird',
                 'Tom had a red ball', 'The sun was hot'];

const pct = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

async function runOnce(model, parallel) {
  const server = await startServer(model, ['-np', String(parallel), '-c', '256', '--queue', String(N), '-t', THREADS]);
  try {
    return await drive(server, parallel);
  } finally {
    if (server.proc.exitCode === null) {
      const { code } = await server.stop();
      assert.equal(code, 0, 'clean shutdown');
    }
  }
}

async function drive(server, parallel) {
  const client = new OpenAI({ apiKey: 'none', baseURL: server.url + '/v1', maxRetries: 0, timeout: 120000 });
  const metrics = async () => parseMetrics(await (await fetch(server.url + '/metrics')).text());
  const before = await metrics();
  let next = 0;
  let errors = 0;
  let tokens = 0;
  let promptTokens = 0;
  const ttft = [];
  const t0 = performance.now();
  async function worker() {
    while (next < N) {
      const i = next++;
      const start = performance.now();
      try {
        const stream = await client.completions.create({
          model: 'x', prompt: prompts[i % prompts.length], max_tokens: MAX_TOKENS, temperature: 0.8, seed: i,
          stream: true, stream_options: { include_usage: true },
        });
        let first = true;
        for await (const chunk of stream) {
          if (first && chunk.choices.length && chunk.choices[0].text) {
            ttft.push(performance.now() - start);
            first = false;
          }
          if (chunk.usage) {
            tokens += chunk.usage.completion_tokens;
            promptTokens += chunk.usage.prompt_tokens;
          }
        }
      } catch (e) {
        errors++;
        console.error(`request ${i}: ${e}`);
      }
    }
  }
  await Promise.all(Array.from({ length: CONC }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const after = await metrics();
  const key = 'rz_requests_total{route="/v1/completions",code="200"}';
  assert.equal(errors, 0, 'no request failed');
  assert.equal(after[key] - (before[key] ?? 0), N, 'requests counted');
  assert.equal(after.rz_completion_tokens_total - before.rz_completion_tokens_total, tokens, 'tokens out counted');
  assert.equal(after.rz_prompt_tokens_total - before.rz_prompt_tokens_total, promptTokens, 'tokens in counted');
  assert.equal(after.rz_slots_active, 0, 'no slot left busy');
  assert.equal(after.rz_queue_depth, 0, 'queue drained');
  return { parallel, requests: N, concurrency: CONC, seconds: +seconds.toFixed(2), tokens,
           tok_per_s: Math.round(tokens / seconds), ttft_p50_ms: +pct(ttft, 0.5).toFixed(1),
           ttft_p99_ms: +pct(ttft, 0.99).toFixed(1) };
}

const modelArg = opt('model', null);
const prepared = modelArg ? { model: modelArg, cleanup: () => {} } : prepareModel();
if (!prepared) {
  console.log('SKIP: shared model not found');
  process.exit(77);
}
try {
  const rows = [];
  for (const p of PARALLEL) rows.push(await runOnce(prepared.model, p));
  console.table(rows);
} finally {
  prepared.cleanup();
}
