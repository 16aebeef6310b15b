// Chat page of `rz serve`: streams /v1/chat/completions over fetch, keeps the
// conversation and settings in localStorage, and renders model text as a small
// markdown subset built from HTML-escaped text only.
'use strict';

const $ = (id) => document.getElementById(id);
const STORE = { chat: 'rz.chat', settings: 'rz.settings', key: 'rz.apiKey' };
const SETTINGS = ['model', 'temperature', 'top_p', 'max_tokens', 'system'];

let messages = loadMessages();
let controller = null; // the AbortController of the stream in progress

function loadJson(key) {
  try {
    return JSON.parse(localStorage.getItem(key));
  } catch {
    return null;
  }
}

// Only well-formed entries: storage may hold anything another page version
// wrote, or the empty answer of a page closed before its first token.
function loadMessages() {
  const v = loadJson(STORE.chat);
  if (!Array.isArray(v)) return [];
  return v.filter(
    (m) => m && (m.role === 'user' || (m.role === 'assistant' && m.content)) && typeof m.content === 'string',
  );
}

function saveMessages() {
  localStorage.setItem(STORE.chat, JSON.stringify(messages));
}

/* ------------------------------------------------------------ markdown */

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

// `s` is already escaped: only fixed tags are added, never attributes.
function inline(s) {
  return s
    .split(/(`[^`\n]+`)/)
    .map((part, i) =>
      i % 2
        ? `<code>${part.slice(1, -1)}</code>`
        : part
            .replace(/\*\*([^*\n]+)\*\*/g, '<strong>$1</strong>')
            .replace(/(^|[^*])\*([^*\s][^*\n]*)\*/g, '$1<em>$2</em>'),
    )
    .join('');
}

function renderMarkdown(text) {
  const out = [];
  let para = [];
  let list = null;
  let code = null;
  const flushPara = () => {
    if (para.length) out.push(`<p>${inline(para.join('\n')).replace(/\n/g, '<br>')}</p>`);
    para = [];
  };
  const flushList = () => {
    if (list) out.push(`<${list.tag}>${list.items.map((i) => `<li>${inline(i)}</li>`).join('')}</${list.tag}>`);
    list = null;
  };
  for (const line of escapeHtml(text).split('\n')) {
    const fence = /^\s*```/.test(line);
    if (code) {
      if (fence) {
        out.push(`<pre><code>${code.join('\n')}</code></pre>`);
        code = null;
      } else {
        code.push(line);
      }
      continue;
    }
    if (fence) {
      flushPara();
      flushList();
      code = [];
      continue;
    }
    const item = /^\s*(?:([-*+])|\d+[.)])\s+(.*)$/.exec(line);
    if (item) {
      flushPara();
      const tag = item[1] ? 'ul' : 'ol';
      if (list && list.tag !== tag) flushList();
      if (!list) list = { tag, items: [] };
      list.items.push(item[2]);
    } else if (!line.trim()) {
      flushPara();
      flushList();
    } else {
      flushList();
      para.push(line);
    }
  }
  // A fence still open (mid-stream) is shown as code so far.
  if (code) out.push(`<pre><code>${code.join('\n')}</code></pre>`);
  flushPara();
  flushList();
  return out.join('');
}

/* ------------------------------------------------------------------ view */

function fillMessage(el, m) {
  if (m.role === 'assistant') el.innerHTML = renderMarkdown(m.content);
  else el.textContent = m.content;
}

function render() {
  const box = $('messages');
  box.replaceChildren(
    ...messages.map((m) => {
      const el = document.createElement('div');
      el.className = `msg ${m.role}`;
      fillMessage(el, m);
      return el;
    }),
  );
  box.scrollTop = box.scrollHeight;
}

function setStatus(text) {
  $('status').textContent = text;
}

function setBusy(busy) {
  $('send').disabled = busy;
  $('stop').disabled = !busy;
  $('new-chat').disabled = busy;
  document.body.dataset.busy = busy ? 'true' : 'false';
}

/* -------------------------------------------------------------- settings */

function loadSettings() {
  const s = loadJson(STORE.settings) || {};
  for (const k of SETTINGS) if (k !== 'model' && typeof s[k] === 'string') $(k).value = s[k];
  $('api_key').value = localStorage.getItem(STORE.key) || '';
  return s;
}

function saveSettings() {
  const s = {};
  for (const k of SETTINGS) s[k] = $(k).value;
  localStorage.setItem(STORE.settings, JSON.stringify(s));
}

function headers() {
  const h = { 'Content-Type': 'application/json' };
  const key = $('api_key').value.trim();
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

// The server's message for a failed request (an OpenAI error object).
async function errorMessage(res) {
  try {
    const body = await res.json();
    if (body?.error?.message) return body.error.message;
  } catch {
    // not JSON: fall back to the status line
  }
  return `HTTP ${res.status}`;
}

function needKey(res) {
  if (res.status !== 401) return false;
  setStatus('This server needs an API key: enter it under Settings.');
  showSettings(true);
  return true;
}

async function loadModels(preferred) {
  const select = $('model');
  try {
    const res = await fetch('/v1/models', { headers: headers() });
    if (needKey(res)) return;
    if (!res.ok) throw new Error(await errorMessage(res));
    const { data } = await res.json();
    select.replaceChildren(
      ...data.map((m) => {
        const o = document.createElement('option');
        o.value = o.textContent = m.id;
        return o;
      }),
    );
    if (data.some((m) => m.id === preferred)) select.value = preferred;
    setStatus('');
  } catch (e) {
    setStatus(`Could not list models: ${e.message}`);
  }
}

function showSettings(show) {
  $('settings').hidden = !show;
  $('toggle-settings').setAttribute('aria-expanded', String(show));
}

/* ------------------------------------------------------------------ chat */

// The `data:` payloads of a server-sent event stream, as they arrive.
async function* sseData(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      if (line.startsWith('data:')) yield line.slice(5).trimStart();
    }
  }
}

function number(id) {
  const v = parseFloat($(id).value);
  return Number.isFinite(v) ? v : undefined;
}

function requestBody() {
  const history = messages.slice(0, -1).map(({ role, content }) => ({ role, content }));
  const system = $('system').value.trim();
  if (system) history.unshift({ role: 'system', content: system });
  const maxTokens = number('max_tokens');
  return {
    model: $('model').value,
    messages: history,
    stream: true,
    temperature: number('temperature'),
    top_p: number('top_p'),
    max_tokens: maxTokens === undefined ? undefined : Math.round(maxTokens),
  };
}

async function send(text) {
  messages.push({ role: 'user', content: text });
  const answer = { role: 'assistant', content: '' };
  messages.push(answer);
  saveMessages();
  render();
  const el = $('messages').lastElementChild;
  el.classList.add('streaming');
  setBusy(true);
  setStatus('Generating…');
  controller = new AbortController();
  try {
    const res = await fetch('/v1/chat/completions', {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify(requestBody()),
      signal: controller.signal,
    });
    if (needKey(res)) return;
    if (!res.ok) throw new Error(await errorMessage(res));
    let finish = null;
    for await (const data of sseData(res.body)) {
      if (data === '[DONE]') break;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message || 'generation failed');
      const choice = chunk.choices?.[0];
      if (choice?.delta?.content) {
        answer.content += choice.delta.content;
        fillMessage(el, answer);
        el.scrollIntoView({ block: 'end' });
      }
      if (choice?.finish_reason) finish = choice.finish_reason;
    }
    setStatus(finish === 'length' ? 'Stopped at the token limit.' : '');
  } catch (e) {
    setStatus(e.name === 'AbortError' ? 'Stopped.' : `Error: ${e.message}`);
  } finally {
    controller = null;
    // A failed request leaves no empty answer behind; a stopped one keeps its text.
    if (!answer.content) messages.pop();
    saveMessages();
    render();
    setBusy(false);
  }
}

/* ------------------------------------------------------------------ init */

function init() {
  const saved = loadSettings();
  render();
  setBusy(false);
  loadModels(saved.model);

  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('input').value.trim();
    if (!text || controller) return;
    $('input').value = '';
    send(text);
  });
  $('input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $('composer').requestSubmit();
    }
  });
  $('stop').addEventListener('click', () => controller?.abort());
  $('new-chat').addEventListener('click', () => {
    messages = [];
    saveMessages();
    render();
    setStatus('');
    $('input').focus();
  });
  $('toggle-settings').addEventListener('click', () => showSettings($('settings').hidden));
  for (const k of SETTINGS) $(k).addEventListener('change', saveSettings);
  $('api_key').addEventListener('change', () => {
    const key = $('api_key').value.trim();
    if (key) localStorage.setItem(STORE.key, key);
    else localStorage.removeItem(STORE.key);
    loadModels($('model').value);
  });
}

init();
