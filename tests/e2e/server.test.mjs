// End-to-end: `rz serve` driven by the official OpenAI client.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Agent } from 'node:https';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { parseMetrics, prepareModel, rzBinary, sharedPath, startServer } from './harness.mjs';

const KEY = 'sk-test-key';
let prepared;
let server;
let client;

async function post(path, body, headers = {}) {
  const res = await fetch(server.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: await res.json().catch(() => null) };
}

async function metrics(url = server.url) {
  const res = await fetch(url + '/metrics');
  assert.equal(res.status, 200);
  return res.text();
}

function assertErrorShape(body, param) {
  assert.ok(body && body.error, 'error object');
  assert.equal(typeof body.error.message, 'string');
  assert.equal(typeof body.error.type, 'string');
  assert.ok('param' in body.error && 'code' in body.error);
  if (param !== undefined) assert.equal(body.error.param, param);
}

before(async () => {
  prepared = prepareModel();
  server = await startServer(prepared.model, ['-np', '4', '-c', '512', '--api-key', KEY, '--max-body', '8192',
                                              '--alias', 'stories']);
  client = new OpenAI({ apiKey: KEY, baseURL: server.url + '/v1', maxRetries: 0, timeout: 30000 });
});

after(async () => {
  if (server) {
    const { code } = await server.stop();
    assert.equal(code, 0, 'SIGTERM exits 0');
  }
  prepared?.cleanup();
});

describe('endpoints', () => {
  test('models', async () => {
    const list = await client.models.list();
    assert.deepEqual(list.data.map((m) => m.id), ['stories']);
  });

  test('chat, non-streaming', async () => {
    const r = await client.chat.completions.create({
      model: 'stories',
      messages: [{ role: 'system', content: 'Tell a story.' }, { role: 'user', content: 'Once upon a time' }],
      max_tokens: 12,
      temperature: 0,
    });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(typeof r.choices[0].message.content, 'string');
    assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
    assert.ok(r.usage.prompt_tokens > 5);
    assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 12);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  });

  test('chat, streaming with usage equals non-streaming', async () => {
    const req = { model: 'stories', messages: [{ role: 'user', content: 'Lily had a cat.' }], max_tokens: 16,
                  temperature: 0 };
    const whole = await client.chat.completions.create(req);
    const stream = await client.chat.completions.create({ ...req, stream: true,
                                                          stream_options: { include_usage: true } });
    let text = '';
    let role;
    let finish;
    let usage;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        if (c.delta.role) role = c.delta.role;
        if (c.delta.content) text += c.delta.content;
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    assert.ok(chunks >= 3);
    assert.equal(role, 'assistant');
    assert.equal(text, whole.choices[0].message.content);
    assert.equal(finish, whole.choices[0].finish_reason);
    assert.deepEqual(usage, whole.usage);
  });

  test('completions: greedy output equals rz run', async () => {
    const prompt = 'Once upon a time';
    const run = spawnSync(rzBinary(), ['run', '-m', prepared.model, '-p', prompt, '-n', '40', '--temp', '0', '-t', '1'],
                          { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.ok(run.stdout.startsWith(prompt));
    const expected = run.stdout.slice(prompt.length).replace(/\n$/, '');
    const r = await client.completions.create({ model: 'stories', prompt, max_tokens: 40, temperature: 0 });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices[0].text, expected);
    assert.equal(r.usage.completion_tokens, 40);
    assert.equal(r.choices[0].finish_reason, 'length');
    // Same again: the slot reuses the cached prompt prefix and must not drift.
    const again = await client.completions.create({ model: 'stories', prompt, max_tokens: 40, temperature: 0 });
    assert.equal(again.choices[0].text, expected);
  });

  test('completions, streaming', async () => {
    const stream = await client.completions.create({ model: 'stories', prompt: 'The dog', max_tokens: 10,
                                                     temperature: 0, stream: true });
    let text = '';
    let finish;
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        text += c.text;
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    const whole = await client.completions.create({ model: 'stories', prompt: 'The dog', max_tokens: 10,
                                                    temperature: 0 });
    assert.equal(text, whole.choices[0].text);
    assert.equal(finish, 'length');
  });

  test('n > 1', async () => {
    const r = await client.chat.completions.create({
      model: 'stories', messages: [{ role: 'user', content: 'Tom ran' }], n: 3, max_tokens: 8, seed: 7,
      temperature: 1,
    });
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2]);
    const sum = r.choices.length;
    assert.equal(sum, 3);
    assert.ok(r.usage.completion_tokens >= 3 && r.usage.completion_tokens <= 24);
    const stream = await client.completions.create({ model: 'stories', prompt: 'A bird', n: 2, max_tokens: 5,
                                                     stream: true, seed: 1 });
    const finished = new Set();
    for await (const chunk of stream) for (const c of chunk.choices) if (c.finish_reason) finished.add(c.index);
    assert.deepEqual([...finished].sort(), [0, 1]);
  });

  test('stop strings', async () => {
    const prompt = 'Once upon a time';
    const full = (await client.completions.create({ model: 'stories', prompt, max_tokens: 40, temperature: 0 }))
      .choices[0].text;
    const stop = full.slice(15, 19);
    const cut = full.slice(0, full.indexOf(stop));
    const r = await client.completions.create({ model: 'stories', prompt, max_tokens: 40, temperature: 0, stop });
    assert.equal(r.choices[0].text, cut);
    assert.equal(r.choices[0].finish_reason, 'stop');
    const stream = await client.completions.create({ model: 'stories', prompt, max_tokens: 40, temperature: 0,
                                                     stop: ['zzzz', stop], stream: true });
    let text = '';
    for await (const chunk of stream) for (const c of chunk.choices) text += c.text;
    assert.equal(text, cut);
  });

  test('logprobs', async () => {
    const r = await client.chat.completions.create({ model: 'stories', messages: [{ role: 'user', content: 'Hi' }],
                                                     max_tokens: 4, logprobs: true, top_logprobs: 2 });
    const content = r.choices[0].logprobs.content;
    assert.equal(content.length, r.usage.completion_tokens);
    for (const t of content) {
      assert.ok(t.logprob <= 0);
      assert.equal(t.top_logprobs.length, 2);
    }
  });

  test('tokenize and detokenize', async () => {
    const t = await post('/tokenize', { content: 'Once upon a time' });
    assert.equal(t.status, 200);
    assert.ok(t.json.tokens.length > 1);
    const d = await post('/detokenize', { tokens: t.json.tokens });
    assert.equal(d.json.content, 'Once upon a time');
  });

  test('embeddings: unit length, base64 equals float, deterministic', async () => {
    // The client asks for base64 unless told otherwise and decodes it.
    const b64 = await client.embeddings.create({ model: 'stories', input: ['Once upon a time', 'The dog ran'] });
    assert.equal(b64.data.length, 2);
    assert.equal(b64.usage.prompt_tokens > 2, true);
    const floats = await client.embeddings.create({ model: 'stories', input: 'Once upon a time', encoding_format: 'float' });
    const a = b64.data[0].embedding, f = floats.data[0].embedding;
    assert.equal(a.length, 64);
    assert.ok(Math.abs(Math.hypot(...f) - 1) < 1e-5);
    for (let i = 0; i < f.length; i++) assert.ok(Math.abs(a[i] - f[i]) < 1e-6);
    assert.notDeepEqual(b64.data[1].embedding, a);
    await assert.rejects(client.embeddings.create({ model: 'stories', input: [] }), (e) => e.status === 400);
  });
});

describe('errors', () => {
  test('bad JSON', async () => {
    const r = await post('/v1/chat/completions', '{"model": "stories", "messages": [');
    assert.equal(r.status, 400);
    assertErrorShape(r.json, null);
  });

  test('wrong types', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'stories', messages: [{ role: 'user', content: 'x' }], max_tokens: 'many' }),
      (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'max_tokens');
    await assert.rejects(
      client.completions.create({ model: 'stories', prompt: 'x', temperature: 'hot' }),
      (e) => e.status === 400 && e.param === 'temperature');
    await assert.rejects(
      client.chat.completions.create({ model: 'stories', messages: 'hello' }),
      (e) => e.status === 400 && e.param === 'messages');
  });

  test('missing model', async () => {
    const r = await post('/v1/completions', { prompt: 'x' });
    assert.equal(r.status, 400);
    assertErrorShape(r.json, 'model');
  });

  test('oversized body', async () => {
    const r = await post('/v1/completions', { model: 'stories', prompt: 'x'.repeat(20000) });
    assert.equal(r.status, 413);
    assertErrorShape(r.json);
  });

  test('prompt longer than the context', async () => {
    await assert.rejects(
      client.completions.create({ model: 'stories', prompt: 'Once upon a time '.repeat(200) }),
      (e) => e.status === 400 && e.code === 'context_length_exceeded');
  });

  test('no or invalid API key', async () => {
    const none = await fetch(server.url + '/v1/models');
    assert.equal(none.status, 401);
    assertErrorShape(await none.json());
    const bad = new OpenAI({ apiKey: 'sk-wrong', baseURL: server.url + '/v1', maxRetries: 0 });
    await assert.rejects(bad.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
    // Operations endpoints stay open by default.
    assert.equal((await fetch(server.url + '/health')).status, 200);
  });

  test('unknown route and method', async () => {
    assert.equal((await post('/v1/nothing', {})).status, 404);
    const r = await fetch(server.url + '/v1/completions', { headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(r.status, 405);
  });
});

describe('operations', () => {
  test('metrics count requests and tokens; promtool accepts them', async () => {
    const before = parseMetrics(await metrics());
    const r = await client.completions.create({ model: 'stories', prompt: 'A cat', max_tokens: 6, temperature: 0 });
    const m = parseMetrics(await metrics());
    const key = 'rz_requests_total{route="/v1/completions",code="200"}';
    assert.equal(m[key], (before[key] ?? 0) + 1);
    assert.equal(m.rz_completion_tokens_total, before.rz_completion_tokens_total + r.usage.completion_tokens);
    assert.equal(m.rz_slots_active, 0);
    assert.equal(m.rz_slots, 4);
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: await metrics(), encoding: 'utf8' });
    if (promtool.error) {
      console.log('# promtool not installed: metrics lint skipped');
    } else {
      assert.equal(promtool.status, 0, promtool.stdout + promtool.stderr);
    }
  });

  test('client disconnect frees the slot', async () => {
    const ac = new AbortController();
    const stream = await client.completions.create(
      { model: 'stories', prompt: 'Once', max_tokens: 500, temperature: 0, stream: true },
      { signal: ac.signal });
    let id;
    try {
      for await (const chunk of stream) {
        id = chunk.id;
        ac.abort();
      }
    } catch (e) {
      assert.ok(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError', String(e));
    }
    let active = -1;
    for (let i = 0; i < 20 && active !== 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      active = parseMetrics(await metrics()).rz_slots_active;
    }
    assert.equal(active, 0);
    const line = server.log().split('\n').find((l) => l.includes(`"id":"${id}"`));
    assert.ok(line, `access log line for ${id}`);
    assert.match(line, /"incomplete":true/);
  });

  test('full queue gives 503 with Retry-After', async () => {
    const small = await startServer(prepared.model, ['-np', '1', '--queue', '1']);
    try {
      const body = JSON.stringify({ model: 'x', prompt: 'Once upon a time', max_tokens: 200, temperature: 0 });
      const results = await Promise.all(Array.from({ length: 8 }, () =>
        fetch(small.url + '/v1/completions', { method: 'POST', body })
          .then(async (r) => ({ status: r.status, retry: r.headers.get('retry-after'), json: await r.json() }))));
      const busy = results.filter((r) => r.status === 503);
      assert.ok(results.some((r) => r.status === 200));
      assert.ok(busy.length >= 1, JSON.stringify(results.map((r) => r.status)));
      for (const r of busy) {
        assert.equal(r.retry, '1');
        assertErrorShape(r.json);
      }
      assert.equal(results.filter((r) => r.status !== 200 && r.status !== 503).length, 0);
    } finally {
      assert.equal((await small.stop()).code, 0);
    }
  });

  test('SIGTERM lets an in-flight request finish', async () => {
    const s = await startServer(prepared.model, ['--grace', '60']);
    const pending = fetch(s.url + '/v1/completions', {
      method: 'POST', body: JSON.stringify({ model: 'x', prompt: 'Once', max_tokens: 1000, temperature: 0 }),
    }).then((r) => r.json());
    // Stop once the request is being generated.
    for (let i = 0; i < 100; i++) {
      const m = parseMetrics(await metrics(s.url));
      if (m.rz_slots_active === 1) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const stopped = s.stop();
    const r = await pending;
    assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason), JSON.stringify(r));
    assert.ok(r.usage.completion_tokens > 0);
    assert.equal((await stopped).code, 0);
    assert.match(s.log(), /"route":"\/v1\/completions","status":200/);
  });

  test('API keys from a file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rz-keys-'));
    const file = join(dir, 'keys');
    writeFileSync(file, '# comment\nsk-one\n\nsk-two\n');
    const s = await startServer(prepared.model, ['--api-key-file', file, '--metrics-auth']);
    try {
      const get = (path, key) => fetch(s.url + path, key ? { headers: { authorization: `Bearer ${key}` } } : {});
      assert.equal((await get('/v1/models', 'sk-two')).status, 200);
      assert.equal((await get('/v1/models', 'sk-one')).status, 200);
      assert.equal((await get('/v1/models', '# comment')).status, 401);
      assert.equal((await get('/metrics')).status, 401);
      assert.equal((await get('/health', 'sk-one')).status, 200);
    } finally {
      assert.equal((await s.stop()).code, 0);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('speculative decoding (prompt lookup, draft model) keeps greedy output', async () => {
    const request = { model: 'stories', prompt: 'Once upon a time, there was a little girl named Lily. Once upon a time',
                      max_tokens: 48, temperature: 0 };
    const plain = await client.completions.create(request);
    for (const args of [['--lookup', '--draft-max', '4'], ['--draft-model', prepared.model, '--draft-max', '3']]) {
      const s = await startServer(prepared.model, ['-np', '2', '-c', '512', ...args]);
      try {
        const spec = new OpenAI({ apiKey: 'none', baseURL: s.url + '/v1', maxRetries: 0, timeout: 30000 });
        const [a, b] = await Promise.all([spec.completions.create(request), spec.completions.create(request)]);
        assert.equal(a.choices[0].text, plain.choices[0].text, args.join(' '));
        assert.equal(b.choices[0].text, plain.choices[0].text, args.join(' '));
        assert.equal(a.usage.completion_tokens, plain.usage.completion_tokens);
      } finally {
        assert.equal((await s.stop()).code, 0);
      }
    }
  });

  test('--chat-template harmony: the reply outside any channel is the content, streamed or not', async () => {
    // The tiny model does not speak harmony: its text has no channel markers.
    const s = await startServer(prepared.model, ['-c', '512', '--chat-template', 'harmony']);
    try {
      const h = new OpenAI({ apiKey: 'none', baseURL: s.url + '/v1', maxRetries: 0, timeout: 30000 });
      const request = { model: 'stories', messages: [{ role: 'system', content: 'Tell a story.' },
                                                      { role: 'user', content: 'Once upon a time' }],
                        max_tokens: 12, temperature: 0 };
      const whole = await h.chat.completions.create(request);
      assert.ok(whole.choices[0].message.content.length > 0);
      assert.equal(whole.choices[0].message.reasoning_content, undefined);
      let streamed = '';
      for await (const chunk of await h.chat.completions.create({ ...request, stream: true }))
        streamed += chunk.choices[0]?.delta?.content ?? '';
      assert.equal(streamed, whole.choices[0].message.content);
      // The gpt-oss template refuses a tool result without a tool call; so does the server.
      await assert.rejects(h.chat.completions.create({ ...request, messages: [{ role: 'tool', content: '42' }] }),
                           (e) => e.status === 400 && e.error.param === 'messages[0].role');
    } finally {
      assert.equal((await s.stop()).code, 0);
    }
  });

  test('TLS with a self-signed certificate', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'rz-tls-'));
    const cert = join(dir, 'cert.pem'), key = join(dir, 'key.pem');
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
                                      '-days', '1', '-subj', '/CN=127.0.0.1'], { encoding: 'utf8' });
    if (made.error || made.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      t.skip('openssl is not available');
      return;
    }
    const s = await startServer(prepared.model, ['--tls-cert', cert, '--tls-key', key, '--api-key', KEY]);
    try {
      assert.ok(s.url.startsWith('https://'));
      const tls = new OpenAI({ apiKey: KEY, baseURL: s.url + '/v1', maxRetries: 0, timeout: 30000,
                               httpAgent: new Agent({ rejectUnauthorized: false }) });
      const r = await tls.completions.create({ model: 'stories', prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
      assert.equal(r.usage.completion_tokens, 8);
      // The same port does not speak plain HTTP.
      await assert.rejects(fetch(s.url.replace('https://', 'http://') + '/health'));
    } finally {
      assert.equal((await s.stop()).code, 0);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// Recurrent models (RWKV 7, Mamba 2): their state cannot be taken back, so a
// slot reuses it only when a prompt extends all it holds, or restores the
// state it saved after its last prompt; either way a reply is what a fresh
// server gives, and slots decode together in one batch.
describe('recurrent models', () => {
  for (const arch of ['rwkv7', 'mamba2']) {
    test(arch, async (t) => {
      const model = sharedPath(`testdata/arch/${arch}.gguf`);
      if (!existsSync(model)) {
        t.skip(`${model} not found`);
        return;
      }
      const serve = () => startServer(model, ['-np', '2', '-c', '256', '--alias', 'rec']);
      const clientOf = (s) => new OpenAI({ apiKey: 'unused', baseURL: s.url + '/v1', maxRetries: 0, timeout: 30000 });
      const complete = async (c, prompt, stream = false, max_tokens = 10) => {
        const req = { model: 'rec', prompt, max_tokens, temperature: 0 };
        if (!stream) return (await c.completions.create(req)).choices[0].text;
        let text = '';
        for await (const chunk of await c.completions.create({ ...req, stream: true }))
          for (const ch of chunk.choices) text += ch.text;
        return text;
      };
      const chat = async (c, content, stream = false) => {
        const req = { model: 'rec', messages: [{ role: 'user', content }], max_tokens: 10, temperature: 0 };
        if (!stream) return (await c.chat.completions.create(req)).choices[0].message.content;
        let text = '';
        for await (const chunk of await c.chat.completions.create({ ...req, stream: true }))
          for (const ch of chunk.choices) text += ch.delta.content ?? '';
        return text;
      };
      const base = 'Once upon a time';
      const prompts = [base, `${base} there was`, base, `${base} there was a`, 'The dog'];
      const expected = [];
      // Each prompt on a fresh server: nothing to reuse. The last one goes on
      // after the first one's reply text.
      for (let i = 0, n = prompts.length; i <= n; i++) {
        if (i === n) prompts.push(`${base}${expected[0]} then`);
        const p = prompts[i];
        const s = await serve();
        try {
          expected.push(await complete(clientOf(s), p));
        } finally {
          assert.equal((await s.stop()).code, 0);
        }
      }
      const s = await serve();
      try {
        const c = clientOf(s);
        // One after another: whole-history reuse, snapshots, starting over.
        for (const i of [0, 5, 1, 2, 3, 4]) {
          assert.equal(await complete(c, prompts[i]), expected[i], `prompt ${i}`);
          assert.equal(await complete(c, prompts[i], true), expected[i], `prompt ${i}, streamed`);
        }
        // One token is sampled but not decoded: the slot holds just the
        // prompt, which the next one extends.
        await complete(c, prompts[1], false, 1);
        assert.equal(await complete(c, prompts[3]), expected[3]);
        // Two at once share the batch.
        const both = await Promise.all([complete(c, prompts[1]), complete(c, prompts[4], true)]);
        assert.deepEqual(both, [expected[1], expected[4]]);
        const whole = await chat(c, 'Hello there');
        assert.equal(await chat(c, 'Hello there', true), whole);
        assert.equal(await chat(c, 'Hello there'), whole);
      } finally {
        assert.equal((await s.stop()).code, 0);
      }
    });
  }
});
