// Drives background responses and webhooks of a real `bulwark serve`
// with the official openai npm package: responses.create with
// background: true, responses.retrieve until it ends, responses.cancel,
// and client.webhooks.unwrap verifying the Standard Webhooks signature of
// the response.completed event Bulwark sends. BULWARK_BIN names the
// binary to run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startBulwark } from './serve.mjs';
import OpenAI from 'openai';

const secret = 'whsec_' + Buffer.from('node background webhook secret').toString('base64');
let server;
let client;
let hooks;
const received = [];

before(async () => {
  hooks = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.end();
    });
  });
  await new Promise((r) => hooks.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${hooks.address().port}/hooks`;
  server = await startBulwark('background', `webhooks:\n  - url: ${url}\n    secret: ${secret}\n`);
  client = new OpenAI({ apiKey: server.adminKey, baseURL: `${server.base}/v1`, maxRetries: 0, webhookSecret: secret });
});

after(() => {
  if (server) server.stop();
  if (hooks) hooks.close();
});

async function until(fn) {
  for (let i = 0; i < 400; i++) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('timed out');
}

test('background response: queued, retrieved until completed, its webhook verified', async () => {
  const queued = await client.responses.create({ model: 'sim-chat', input: 'Write a haiku', background: true });
  assert.match(queued.id, /^resp_/);
  assert.equal(queued.status, 'queued');
  assert.equal(queued.background, true);
  const done = await until(async () => {
    const r = await client.responses.retrieve(queued.id);
    return ['queued', 'in_progress'].includes(r.status) ? null : r;
  });
  assert.equal(done.status, 'completed');
  assert.ok(done.output_text.length > 0);

  const same = await client.responses.cancel(done.id);
  assert.equal(same.status, 'completed', 'cancelling a finished response returns it unchanged');

  const hook = await until(() => received.find((h) => JSON.parse(h.body).data.id === done.id));
  const event = await client.webhooks.unwrap(hook.body, hook.headers);
  assert.equal(event.type, 'response.completed');
  assert.equal(event.data.id, done.id);
  await assert.rejects(client.webhooks.unwrap(hook.body, hook.headers, 'whsec_' + Buffer.from('wrong').toString('base64')));
});

test('background response cancelled; store false refused', async () => {
  const queued = await client.responses.create({ model: 'sim-chat', input: 'Take your time', background: true });
  const cancelled = await client.responses.cancel(queued.id);
  assert.ok(['cancelled', 'completed'].includes(cancelled.status), cancelled.status);
  const again = await client.responses.retrieve(queued.id);
  assert.equal(again.status, cancelled.status);
  await assert.rejects(
    client.responses.create({ model: 'sim-chat', input: 'x', background: true, store: false }),
    (err) => err.status === 400,
  );
});
