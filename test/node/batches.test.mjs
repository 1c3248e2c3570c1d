// Drives the Batch API of a real `bulwark serve` with the official openai
// npm package, as an application would: upload a JSONL file with purpose
// batch, create the batch, poll it, read the output and error files,
// list and cancel. BULWARK_BIN names the binary to run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBulwark } from './serve.mjs';
import OpenAI, { toFile } from 'openai';

let server;
let client;

before(async () => {
  server = await startBulwark('batches');
  client = new OpenAI({ apiKey: server.adminKey, baseURL: `${server.base}/v1`, maxRetries: 0 });
});

after(() => {
  if (server) server.stop();
});

const line = (id, url, body) => JSON.stringify({ custom_id: id, method: 'POST', url, body });

async function upload(lines) {
  return client.files.create({ file: await toFile(Buffer.from(lines.join('\n')), 'in.jsonl'), purpose: 'batch' });
}

async function settle(id) {
  for (let i = 0; i < 600; i++) {
    const b = await client.batches.retrieve(id);
    if (['completed', 'failed', 'expired', 'cancelled'].includes(b.status)) return b;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`batch ${id} did not finish`);
}

test('a chat batch runs to completion with its output and error files', async () => {
  const lines = [];
  for (let i = 0; i < 5; i++) {
    lines.push(line(`q${i}`, '/v1/chat/completions', { model: 'sim-chat', messages: [{ role: 'user', content: `question ${i}` }] }));
  }
  // A line to a model that does not exist fails alone, in the error file.
  lines.push(line('bad', '/v1/chat/completions', { model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }));
  const input = await upload(lines);
  assert.equal(input.purpose, 'batch');

  const created = await client.batches.create({
    input_file_id: input.id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
    metadata: { job: 'nightly' },
  });
  assert.match(created.id, /^batch_/);
  assert.equal(created.object, 'batch');
  assert.equal(created.metadata.job, 'nightly');

  const done = await settle(created.id);
  assert.equal(done.status, 'completed');
  assert.deepEqual(done.request_counts, { total: 6, completed: 5, failed: 1 });

  const out = (await (await client.files.content(done.output_file_id)).text()).trim().split('\n').map(JSON.parse);
  assert.deepEqual(out.map((r) => r.custom_id).sort(), ['q0', 'q1', 'q2', 'q3', 'q4']);
  for (const r of out) {
    assert.equal(r.response.status_code, 200);
    assert.equal(r.response.body.object, 'chat.completion');
    assert.ok(r.response.body.choices[0].message.content.length > 0);
  }
  const errs = (await (await client.files.content(done.error_file_id)).text()).trim().split('\n').map(JSON.parse);
  assert.equal(errs.length, 1);
  assert.equal(errs[0].custom_id, 'bad');
  assert.ok(errs[0].response.status_code >= 400 && errs[0].response.status_code < 500);

  const page = await client.batches.list({ limit: 10 });
  assert.ok(page.data.some((b) => b.id === created.id));
});

test('an embeddings batch', async () => {
  const input = await upload([
    line('e1', '/v1/embeddings', { model: 'sim-embed', input: 'first' }),
    line('e2', '/v1/embeddings', { model: 'sim-embed', input: ['second', 'third'] }),
  ]);
  const b = await settle((await client.batches.create({ input_file_id: input.id, endpoint: '/v1/embeddings', completion_window: '24h' })).id);
  assert.equal(b.status, 'completed');
  const out = (await (await client.files.content(b.output_file_id)).text()).trim().split('\n').map(JSON.parse);
  const byId = Object.fromEntries(out.map((r) => [r.custom_id, r.response.body]));
  assert.equal(byId.e1.data.length, 1);
  assert.equal(byId.e2.data.length, 2);
});

test('bad input is refused as the SDK expects', async () => {
  // A file of another purpose cannot start a batch.
  const other = await client.files.create({ file: await toFile(Buffer.from('hello'), 'a.txt'), purpose: 'assistants' });
  await assert.rejects(
    client.batches.create({ input_file_id: other.id, endpoint: '/v1/chat/completions', completion_window: '24h' }),
    (e) => e instanceof OpenAI.BadRequestError,
  );
  await assert.rejects(
    client.batches.create({ input_file_id: 'file-nope', endpoint: '/v1/chat/completions', completion_window: '24h' }),
    (e) => e.status >= 400 && e.status < 500,
  );
  await assert.rejects(client.batches.retrieve('batch_nope'), (e) => e instanceof OpenAI.NotFoundError);
});

test('cancelling a batch', async () => {
  const lines = [];
  for (let i = 0; i < 200; i++) {
    lines.push(line(`c${i}`, '/v1/chat/completions', { model: 'sim-chat', messages: [{ role: 'user', content: `q ${i}` }] }));
  }
  const input = await upload(lines);
  const b = await client.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  const cancelled = await client.batches.cancel(b.id);
  assert.ok(['cancelling', 'cancelled', 'completed'].includes(cancelled.status), cancelled.status);
  const end = await settle(b.id);
  assert.ok(['cancelled', 'completed'].includes(end.status), end.status);
  if (end.status === 'cancelled') {
    assert.ok(end.request_counts.completed + end.request_counts.failed <= 200);
    assert.ok(end.cancelled_at > 0);
  }
});
