// A branch shows at once (copies under local ids), then as the server made it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fakeServer, makeClient, until, watcher } from './helpers.js';

test('branchChat: the new chat and copies up to the message show at once, then the server\'s copies replace them', async (t) => {
  const server = fakeServer();
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  const chat = await client.createChat({ title: 'parent' });
  const msgs = [];
  for (const content of ['a', 'b', 'c']) msgs.push(await client.addMessage({ chatId: chat.id, content }));

  let open;
  const gate = new Promise((resolve) => (open = resolve));
  server.script.push(async (req) => {
    if (!req.path.endsWith('/branch')) return undefined;
    await gate;
    return undefined;
  });
  const p = client.branchChat({ chatId: chat.id, fromMessageId: msgs[1].id });
  const w = watcher();
  client.watchChat(p.id, w.cb);
  await until(() => w.value && w.value.messages.length === 2, 'optimistic branch');
  assert.equal(w.value.title, 'parent');
  assert.equal(w.value.parentChatId, chat.id);
  assert.deepEqual(w.value.messages.map((m) => [m.id, m.content, m.pending]), [[`${p.id}~${msgs[0].id}`, 'a', true], [`${p.id}~${msgs[1].id}`, 'b', true]]);
  assert.deepEqual((await client.getChat(chat.id)).branches, [p.id]);

  open();
  const branch = await p;
  assert.equal(branch.id, p.id);
  assert.equal(branch.messages.length, 2);
  await until(() => w.value.messages.every((m) => !m.pending && m.id.startsWith('m_copy')), 'server copies');
  assert.deepEqual(w.value.messages.map((m) => m.content), ['a', 'b']);
});

test('an edit of a branch copy made before the branch was answered is sent to the server\'s copy', async (t) => {
  const server = fakeServer();
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  const errors = [];
  client.on('error', (e) => errors.push(e));
  const chat = await client.createChat({ title: 'parent' });
  const msgs = [];
  for (const content of ['a', 'b']) msgs.push(await client.addMessage({ chatId: chat.id, content }));
  let open;
  const gate = new Promise((resolve) => (open = resolve));
  server.script.push(async (req) => {
    if (!req.path.endsWith('/branch')) return undefined;
    await gate;
    return undefined;
  });
  const p = client.branchChat({ chatId: chat.id, fromMessageId: msgs[1].id });
  const edit = client.updateMessage({ messageId: `${p.id}~${msgs[1].id}`, content: 'b, edited in the branch' });
  const gone = client.deleteMessage({ messageId: `${p.id}~${msgs[0].id}` });
  await until(() => client.status.pending === 3, 'queued');
  open();
  await p;
  const stored = await edit;
  assert.ok(stored.id.startsWith('m_copy'), stored.id);
  assert.equal(stored.content, 'b, edited in the branch');
  assert.equal((await gone).isDeleted, true);
  const u = server.user('u1');
  assert.deepEqual([...u.messages.values()].filter((m) => m.chatId === p.id && !m.isDeleted).map((m) => m.content), ['b, edited in the branch']);
  assert.deepEqual([...u.messages.values()].filter((m) => m.chatId === chat.id).map((m) => m.content), ['a', 'b'], 'the parent is untouched');
  assert.deepEqual(errors, []);
});
