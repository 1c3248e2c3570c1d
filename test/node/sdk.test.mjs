// Drives a real `bulwark serve` with the official openai npm package:
// chat, streaming, embeddings, models and an error, exactly as an
// application would. BULWARK_BIN names the binary to run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBulwark } from './serve.mjs';
import OpenAI from 'openai';

let server;
let client;

before(async () => {
  server = await startBulwark('sdk');
  const base = server.base;
  client = new OpenAI({ apiKey: server.adminKey, baseURL: `${base}/v1`, maxRetries: 0 });
});

after(() => {
  if (server) server.stop();
});

test('chat completion', async () => {
  const res = await client.chat.completions.create({
    model: 'sim-chat',
    messages: [{ role: 'user', content: 'Say hello' }],
    max_tokens: 8,
  });
  assert.equal(res.object, 'chat.completion');
  assert.equal(res.model, 'sim-chat');
  assert.ok(res.choices[0].message.content.length > 0);
  assert.ok(res.usage.total_tokens > 0);
});

test('streamed chat completion with usage', async () => {
  const stream = await client.chat.completions.create({
    model: 'sim-chat',
    messages: [{ role: 'user', content: 'Stream please' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage;
  let finish;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta?.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.ok(text.length > 0);
  assert.ok(finish);
  assert.ok(usage && usage.completion_tokens > 0);
});

test('embeddings (the SDK asks for base64)', async () => {
  const res = await client.embeddings.create({ model: 'sim-embed', input: ['alpha', 'beta'] });
  assert.equal(res.data.length, 2);
  assert.equal(res.data[0].embedding.length, res.data[1].embedding.length);
  assert.ok(res.data[0].embedding.length > 0);
});

test('models list', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes('sim-chat'));
  assert.ok(ids.includes('sim-embed'));
});

test('unknown model is a 404 in OpenAI format', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
    (err) => err.status === 404 && err.code === 'model_not_found',
  );
});

test('bad key is a 401', async () => {
  const bad = new OpenAI({ apiKey: 'bk-wrong', baseURL: client.baseURL, maxRetries: 0 });
  await assert.rejects(bad.models.list(), (err) => err.status === 401);
});
