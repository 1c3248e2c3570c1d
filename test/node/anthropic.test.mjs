// Drives a real `bulwark serve` with the official @anthropic-ai/sdk npm
// package, as an application or agent built on it would after changing
// only its base URL: messages plain and streamed, tool use both ways,
// images, token counting, models and errors. BULWARK_BIN names the binary.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBulwark } from './serve.mjs';
import Anthropic from '@anthropic-ai/sdk';

let server;
let client;
let base;

before(async () => {
  server = await startBulwark('anthropic');
  base = server.base;
  // The SDK appends /v1/messages to the base URL and sends the key as
  // x-api-key with anthropic-version.
  client = new Anthropic({ apiKey: server.adminKey, baseURL: base, maxRetries: 0 });
});

after(() => {
  if (server) server.stop();
});

test('message', async () => {
  const msg = await client.messages.create({
    model: 'sim-chat',
    max_tokens: 16,
    system: 'Be brief.',
    temperature: 0.5,
    stop_sequences: ['\n\nHuman:'],
    metadata: { user_id: 'user-1' },
    messages: [{ role: 'user', content: 'Say hello' }],
  });
  assert.equal(msg.type, 'message');
  assert.equal(msg.role, 'assistant');
  assert.equal(msg.model, 'sim-chat');
  assert.match(msg.id, /^msg_/);
  assert.equal(msg.content[0].type, 'text');
  assert.ok(msg.content[0].text.length > 0);
  assert.ok(['end_turn', 'max_tokens'].includes(msg.stop_reason));
  assert.ok(msg.usage.input_tokens > 0);
  assert.ok(msg.usage.output_tokens > 0);
});

test('streamed message', async () => {
  const stream = client.messages.stream({
    model: 'sim-chat',
    max_tokens: 32,
    messages: [{ role: 'user', content: 'Stream please' }],
  });
  let text = '';
  stream.on('text', (t) => { text += t; });
  const msg = await stream.finalMessage();
  assert.ok(text.length > 0);
  assert.equal(msg.content[0].text, text);
  assert.ok(msg.stop_reason);
  assert.ok(msg.usage.output_tokens > 0);

  // The raw event sequence, as an iterator.
  const raw = await client.messages.create({
    model: 'sim-chat',
    max_tokens: 8,
    stream: true,
    messages: [{ role: 'user', content: 'Hi' }],
  });
  const types = [];
  for await (const ev of raw) types.push(ev.type);
  assert.equal(types[0], 'message_start');
  assert.equal(types.at(-2), 'message_delta');
  assert.equal(types.at(-1), 'message_stop');
  assert.ok(types.includes('content_block_delta'));
});

test('tools and tool results, images', async () => {
  const tools = [{
    name: 'get_weather',
    description: 'The weather in a city',
    input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  }];
  // The simulator answers in text; what matters is that the whole agent
  // turn (tool_use in the history, tool_result back, an image) is taken.
  const msg = await client.messages.create({
    model: 'sim-chat',
    max_tokens: 16,
    tools,
    tool_choice: { type: 'auto' },
    messages: [
      { role: 'user', content: [
        { type: 'text', text: 'What is the weather where this was taken?' },
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
      ] },
      { role: 'assistant', content: [
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris' } },
      ] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: '12°C, cloudy' }] },
    ],
  });
  assert.equal(msg.content[0].type, 'text');
});

test('count tokens', async () => {
  const res = await client.messages.countTokens({
    model: 'sim-chat',
    system: 'You are terse.',
    messages: [{ role: 'user', content: 'Hello, world' }],
  });
  assert.ok(res.input_tokens > 0);
});

test('models', async () => {
  const ids = [];
  for await (const m of client.models.list()) {
    assert.equal(m.type, 'model');
    ids.push(m.id);
  }
  assert.ok(ids.includes('sim-chat'));
  const m = await client.models.retrieve('sim-chat');
  assert.equal(m.id, 'sim-chat');
});

test('errors', async () => {
  await assert.rejects(
    client.messages.create({ model: 'no-such-model', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }),
    (err) => {
      assert.ok(err instanceof Anthropic.NotFoundError);
      assert.equal(err.status, 404);
      assert.equal(err.error.type, 'error');
      assert.equal(err.error.error.type, 'not_found_error');
      return true;
    },
  );
  await assert.rejects(
    client.messages.create({ model: 'sim-chat', max_tokens: 8, top_k: 5, messages: [{ role: 'user', content: 'x' }] }),
    (err) => {
      assert.ok(err instanceof Anthropic.BadRequestError);
      assert.equal(err.error.error.type, 'invalid_request_error');
      assert.match(err.message, /top_k/);
      return true;
    },
  );
  const bad = new Anthropic({ apiKey: 'bk-wrong', baseURL: base, maxRetries: 0 });
  await assert.rejects(
    bad.messages.create({ model: 'sim-chat', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }),
    (err) => {
      assert.ok(err instanceof Anthropic.AuthenticationError);
      assert.equal(err.error.error.type, 'authentication_error');
      return true;
    },
  );
});
