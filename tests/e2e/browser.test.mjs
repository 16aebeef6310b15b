// The chat page served at / by `rz serve`, driven in Debian's Chromium through
// playwright-core: streaming, Stop, persistence across a reload, the security
// headers, the markdown renderer's escaping and the API key prompt.
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { prepareModel, startServer } from './harness.mjs';

const executablePath = process.env.RZ_CHROMIUM || '/usr/bin/chromium';
const artifacts = process.env.RZ_BUILD_DIR || tmpdir();

let prepared;
let browser;

before(async () => {
  prepared = prepareModel();
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  prepared?.cleanup();
});

// A page that records console errors and uncaught exceptions.
async function openPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  return { context, page, errors };
}

const answerText = (page) => page.evaluate(() => document.querySelector('.msg.assistant:last-child')?.textContent ?? '');

test('chat page streams, stops mid-answer and restores the conversation', async () => {
  const server = await startServer(prepared.model);
  const { context, page, errors } = await openPage();
  try {
    const res = await page.goto(`${server.url}/`);
    assert.equal(res.status(), 200);
    const h = res.headers();
    assert.match(h['content-type'], /^text\/html/);
    assert.match(h['content-security-policy'], /default-src 'none'/);
    assert.match(h['content-security-policy'], /script-src 'self'/);
    assert.match(h['content-security-policy'], /frame-ancestors 'none'/);
    assert.equal(h['x-content-type-options'], 'nosniff');
    assert.ok(h['cache-control']);
    await page.waitForFunction(() => document.querySelector('#model').options.length > 0);

    // The tiny model outruns any reader: a slow network keeps the stream open
    // long enough to stop it mid-way.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: 2000,
      uploadThroughput: -1,
    });

    await page.click('#toggle-settings');
    await page.fill('#max_tokens', '4000');
    await page.fill('#temperature', '0');
    await page.fill('#input', 'Once upon a time');
    await page.click('#send');
    await page.waitForFunction(
      () => (document.querySelector('.msg.assistant:last-child')?.textContent.length ?? 0) > 20,
      null,
      { timeout: 30000 },
    );
    assert.equal(await page.isEnabled('#stop'), true, 'the stream ended before Stop could be clicked');
    await page.click('#stop');
    await page.waitForFunction(
      () => !document.querySelector('#send').disabled && document.querySelector('#stop').disabled,
    );
    assert.equal(await page.textContent('#status'), 'Stopped.');
    const partial = await answerText(page);
    assert.ok(partial.length > 20, `partial answer kept: ${JSON.stringify(partial)}`);
    await page.waitForTimeout(1000);
    assert.equal(await answerText(page), partial, 'the answer kept growing after Stop');
    await page.screenshot({ path: join(artifacts, 'rz-webui.png'), fullPage: true });

    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: -1,
    });
    await page.reload();
    await page.waitForSelector('.msg.assistant');
    assert.equal(await page.textContent('.msg.user'), 'Once upon a time');
    assert.equal(await answerText(page), partial);
    assert.equal(await page.inputValue('#max_tokens'), '4000', 'settings are restored');

    // The UI is usable again: a short answer to a second message completes.
    await page.click('#toggle-settings');
    await page.fill('#max_tokens', '8');
    await page.fill('#input', 'And then?');
    await page.press('#input', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('.msg.assistant').length === 2);
    await page.waitForFunction(() => !document.querySelector('#send').disabled);

    await page.click('#new-chat');
    assert.equal(await page.locator('.msg').count(), 0);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test('markdown is rendered from escaped text only', async () => {
  const server = await startServer(prepared.model);
  const { context, page, errors } = await openPage();
  try {
    await page.goto(`${server.url}/`);
    const html = await page.evaluate(() =>
      renderMarkdown('<img src=x onerror=alert(1)> **b** *i* `<c>`\n\n```\n<script>x</script>\n```\n- one\n- two\n\n1. first'),
    );
    assert.equal(
      html,
      '<p>&lt;img src=x onerror=alert(1)&gt; <strong>b</strong> <em>i</em> <code>&lt;c&gt;</code></p>' +
        '<pre><code>&lt;script&gt;x&lt;/script&gt;</code></pre><ul><li>one</li><li>two</li></ul><ol><li>first</li></ol>',
    );
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test('with --api-key the page loads without a key and asks for one', async () => {
  const server = await startServer(prepared.model, ['--api-key', 'page-secret']);
  const { context, page } = await openPage();
  try {
    const res = await page.goto(`${server.url}/`);
    assert.equal(res.status(), 200);
    await page.waitForFunction(() => /API key/.test(document.querySelector('#status').textContent));
    assert.equal(await page.isVisible('#settings'), true);
    await page.fill('#api_key', 'page-secret');
    await page.dispatchEvent('#api_key', 'change');
    await page.waitForFunction(() => document.querySelector('#model').options.length > 0);
    assert.equal(await page.evaluate(() => localStorage.getItem('rz.apiKey')), 'page-secret');
    await page.fill('#max_tokens', '4');
    await page.fill('#input', 'Hello');
    await page.click('#send');
    await page.waitForFunction(() => !document.querySelector('#send').disabled);
    assert.doesNotMatch(await page.textContent('#status'), /Error|API key/);
    assert.equal(await page.locator('.msg.assistant').count(), 1);
  } finally {
    await context.close();
    await server.stop();
  }
});
