// Drives the Responses API of a real `bulwark serve` with the official
// openai npm package's `responses` client, exactly as an application
// would: plain and streamed answers, conversation state through
// previous_response_id, retrieve and delete, a function-call round trip,
// the file_search tool over a vector store, and errors. BULWARK_BIN names
// the binary to run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBulwark } from './serve.mjs';
import OpenAI, { toFile } from 'openai';

let server;
let client;

before(async () => {
  server = await startBulwark('responses');
  const base = server.base;
  client = new OpenAI({ apiKey: server.adminKey, baseURL: `${base}/v1`, maxRetries: 0 });
});

after(() => {
  if (server) server.stop();
});

test('response, continued with previous_response_id, retrieved and deleted', async () => {
  const first = await client.responses.create({
    model: 'sim-chat',
    instructions: 'Be brief.',
    input: 'My name is Ada.',
  });
  assert.match(first.id, /^resp_/);
  assert.equal(first.object, 'response');
  assert.equal(first.status, 'completed');
  assert.equal(first.output[0].type, 'message');
  assert.equal(first.output[0].content[0].type, 'output_text');
  assert.ok(first.output_text.length > 0, 'output_text is the SDK convenience over the output');
  assert.ok(first.usage.input_tokens > 0 && first.usage.output_tokens > 0);
  assert.equal(first.usage.total_tokens, first.usage.input_tokens + first.usage.output_tokens);

  const second = await client.responses.create({
    model: 'sim-chat',
    previous_response_id: first.id,
    input: [{ role: 'user', content: [{ type: 'input_text', text: 'What is my name?' }] }],
  });
  assert.equal(second.previous_response_id, first.id);
  // The first turn's question and answer went upstream with the second.
  assert.ok(second.usage.input_tokens > first.usage.output_tokens + 3);

  const got = await client.responses.retrieve(first.id);
  assert.equal(got.id, first.id);
  assert.equal(got.output_text, first.output_text);

  const items = await client.responses.inputItems.list(second.id, { order: 'asc' });
  assert.deepEqual(items.data.map((i) => i.role), ['user', 'assistant', 'user']);

  const cut = await client.responses.create({ model: 'sim-chat', input: 'Go on and on', max_output_tokens: 2 });
  assert.equal(cut.status, 'incomplete');
  assert.equal(cut.incomplete_details.reason, 'max_output_tokens');

  await client.responses.delete(first.id);
  await assert.rejects(client.responses.retrieve(first.id), (err) => err.status === 404);
});

test('streamed response: typed events in order', async () => {
  const stream = await client.responses.create({ model: 'sim-chat', input: 'Stream please', stream: true });
  const types = [];
  let text = '';
  let completed;
  let seq = 0;
  for await (const ev of stream) {
    assert.equal(ev.sequence_number, seq++);
    if (types.at(-1) !== ev.type) types.push(ev.type);
    if (ev.type === 'response.output_text.delta') text += ev.delta;
    if (ev.type === 'response.completed') completed = ev.response;
  }
  assert.deepEqual(types, [
    'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
    'response.output_text.delta', 'response.output_text.done', 'response.content_part.done',
    'response.output_item.done', 'response.completed',
  ]);
  assert.ok(text.length > 0);
  assert.equal(completed.output[0].content[0].text, text);

  // The SDK's stream helper assembles the same response.
  const helper = client.responses.stream({ model: 'sim-chat', input: 'Stream please' });
  const final = await helper.finalResponse();
  assert.equal(final.status, 'completed');
  // (The helper's final response has no output_text convenience.)
  assert.equal(final.output[0].content[0].text, text, 'the same prompt gets the same answer from the simulator');
});

test('function tools: a call and its output continue the conversation', async () => {
  const tools = [{ type: 'function', name: 'weather', description: 'Weather now', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: false }];
  const res = await client.responses.create({
    model: 'sim-chat',
    tools,
    input: [
      { role: 'user', content: 'Weather in Oslo?' },
      { type: 'function_call', call_id: 'call_1', name: 'weather', arguments: '{"city":"Oslo"}' },
      { type: 'function_call_output', call_id: 'call_1', output: '{"temp":3}' },
    ],
  });
  assert.equal(res.status, 'completed');
  assert.ok(res.output_text.length > 0);
  assert.equal(res.tools[0].name, 'weather');
});

test('file_search over a vector store cites the file', async () => {
  const store = await client.vectorStores.create({ name: 'handbook' });
  const doc = '# Handbook\n\n## On call\n\nThe on-call engineer answers pages within five minutes.\n\n## Travel\n\nTrain travel is preferred for short trips.\n';
  const file = await client.vectorStores.files.uploadAndPoll(store.id, await toFile(Buffer.from(doc), 'handbook.md'), { pollIntervalMs: 100 });
  assert.equal(file.status, 'completed');
  const res = await client.responses.create({
    model: 'sim-chat',
    input: 'Who answers pages?',
    tools: [{ type: 'file_search', vector_store_ids: [store.id], max_num_results: 2 }],
    include: ['file_search_call.results'],
  });
  const [call, msg] = res.output;
  assert.equal(call.type, 'file_search_call');
  assert.deepEqual(call.queries, ['Who answers pages?']);
  assert.ok(call.results.length > 0 && call.results[0].file_id === file.id);
  assert.equal(msg.type, 'message');
  const ann = msg.content[0].annotations;
  assert.ok(ann.length > 0);
  assert.equal(ann[0].type, 'file_citation');
  assert.equal(ann[0].file_id, file.id);
  assert.equal(ann[0].filename, 'handbook.md');
});

test('client mistakes are 4xx in OpenAI format naming the parameter', async () => {
  await assert.rejects(
    client.responses.create({ model: 'sim-chat', input: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }),
    (err) => err.status === 400 && err.param === 'input[0].content[0].type',
  );
  await assert.rejects(
    client.responses.create({ model: 'sim-chat', input: 'x', tools: [{ type: 'web_search' }] }),
    (err) => err.status === 400 && err.param === 'tools[0].type',
  );
  await assert.rejects(
    client.responses.create({ model: 'sim-chat', input: 'x', previous_response_id: 'resp_unknown' }),
    (err) => err.status === 404 && err.code === 'previous_response_not_found',
  );
  await assert.rejects(
    client.responses.create({ model: 'nope', input: 'x' }),
    (err) => err.status === 404 && err.code === 'model_not_found',
  );
});
