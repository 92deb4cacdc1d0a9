// The React entry point (react.js) rendered with react-test-renderer in Node:
// no DOM, no browser, no network (the fake server of helpers.js behind an
// injected fetch, fake-indexeddb). Every step that may make React render runs
// inside act(), and console.error / console.warn are captured: a React warning
// (an update outside act, a key, a hook misuse, ...) fails the test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createElement as h, StrictMode, useState } from 'react';
import TestRenderer, { act } from 'react-test-renderer';
import { ChatsyncProvider, useChat, useChats, useClient, useMutation, useSyncStatus } from '../react.js';
import { fakeServer, makeClient } from './helpers.js';

globalThis.IS_REACT_ACT_ENVIRONMENT = true;

// react-test-renderer 19 announces its own deprecation on every create(): that
// one line is about the test tool, not about the library, and is not counted.
const DEPRECATED = /react-test-renderer is deprecated/;
function captureConsole(t) {
  const errors = [];
  const saved = { error: console.error, warn: console.warn };
  for (const kind of ['error', 'warn']) {
    console[kind] = (...args) => {
      if (!DEPRECATED.test(String(args[0]))) errors.push(`${kind}: ${args.map(String).join(' ')}`);
    };
  }
  t.after(() => Object.assign(console, saved));
  return errors;
}

// Let IndexedDB, the outbox and React run, inside act, until cond() holds.
async function settle(cond, what, timeoutMs = 5000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    await act(async () => {
      await new Promise((r) => setTimeout(r, 5));
    });
    if (cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
  }
}

async function mount(client, element) {
  let renderer;
  await act(async () => {
    renderer = TestRenderer.create(h(ChatsyncProvider, { client }, element));
  });
  return renderer;
}

// A component that records what each hook gave on each render.
function Probe({ out, use }) {
  out.push(use());
  return null;
}
const last = (a) => a[a.length - 1];

// A gate on the fake server: requests matching `match` wait until open().
function gate(server, match) {
  let open;
  const opened = new Promise((r) => (open = r));
  server.script.push(Object.assign((req) => match(req) && opened.then(() => undefined), { keep: true }));
  return () => open();
}

// Watches of the client that are still subscribed, and callbacks that ran
// after their unsubscribe.
function spySubscriptions(client) {
  const spy = { active: 0, late: 0 };
  for (const name of ['watchChats', 'watchChat', 'onStatus']) {
    const real = client[name];
    client[name] = (...args) => {
      const cb = args.pop();
      let live = true;
      const off = real(...args, (v) => (live ? cb(v) : spy.late++));
      spy.active++;
      return () => {
        if (live) spy.active--;
        live = false;
        off();
      };
    };
  }
  return spy;
}

test('useChats: undefined while the replica loads, then the chats in the API order, live on a server change', async (t) => {
  const errors = captureConsole(t);
  const server = fakeServer();
  const u = server.user('u1');
  // newest timestamp first, ties by id descending (docs/API.md's order)
  for (const [id, timestamp] of [['c_a', 100], ['c_b', 300], ['c_c', 200], ['c_d', 300]]) {
    server.write(u, 'chats', { id, userId: 'u1', title: id, timestamp, parentChatId: null, branchFromMessageId: null, branches: [], isDeleted: false });
  }
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  const renders = [];
  const r = await mount(client, h(Probe, { out: renders, use: useChats }));
  assert.equal(renders[0], undefined, 'first render: loading');
  await settle(() => Array.isArray(last(renders)), 'the local replica');
  assert.deepEqual(last(renders), [], 'nothing local yet');

  await act(() => client.sync());
  await settle(() => last(renders).length === 4, 'the synced chats');
  assert.deepEqual(last(renders).map((c) => c.id), ['c_d', 'c_b', 'c_c', 'c_a']);

  // another device renames c_a and makes it newest: the feed brings it, the list re-renders
  server.write(u, 'chats', { ...u.chats.get('c_a'), title: 'renamed elsewhere', timestamp: 400 });
  await act(() => client.sync());
  await settle(() => last(renders)[0].id === 'c_a', 'the server change');
  assert.equal(last(renders)[0].title, 'renamed elsewhere');
  assert.equal(last(renders)[0].pending, undefined);
  await act(async () => r.unmount());
  assert.deepEqual(errors, []);
});

test('useChats and useSyncStatus: a local write renders at once as pending, then as stored', async (t) => {
  const errors = captureConsole(t);
  const server = fakeServer();
  const client = makeClient(server, 'u1', { autoStart: true, live: 'poll' });
  t.after(() => client.close());
  // hold every long-poll until the test ends, so that no background request renders outside act
  const releasePolls = gate(server, (req) => req.query.get('live'));
  t.after(releasePolls);
  const release = gate(server, (req) => req.method === 'POST');
  const chats = [];
  const statuses = [];
  function App() {
    chats.push(useChats());
    statuses.push(useSyncStatus());
    return null;
  }
  const r = await mount(client, h(App));
  await settle(() => Array.isArray(last(chats)) && last(statuses).connection === 'online', 'loaded and online');

  let p;
  await act(async () => {
    p = client.createChat({ title: 'mine' });
  });
  await settle(() => last(chats).length === 1, 'the optimistic chat');
  assert.deepEqual({ id: last(chats)[0].id, title: 'mine', pending: true, version: 0 },
    { id: p.id, title: last(chats)[0].title, pending: last(chats)[0].pending, version: last(chats)[0].version });
  assert.equal(server.user('u1').chats.size, 0, 'the server has not stored it: the render came from the replica');
  await settle(() => last(statuses).pending === 1, 'status: 1 pending');

  release();
  await act(() => p);
  await settle(() => last(chats)[0].pending === undefined && last(statuses).pending === 0, 'the stored chat');
  assert.equal(last(chats).length, 1);
  assert.equal(last(chats)[0].id, p.id);
  assert.ok(last(chats)[0].version > 0);
  await act(async () => r.unmount());
  assert.deepEqual(errors, []);
});

test('useChat: the chat with its messages in order; null for an unknown chat; undefined for no id', async (t) => {
  const errors = captureConsole(t);
  const server = fakeServer();
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  const chat = await client.createChat({ title: 'talk' });
  const m2 = await client.addMessage({ chatId: chat.id, content: 'second', position: 2 });
  const m1 = await client.addMessage({ chatId: chat.id, content: 'first', position: 1 });
  const gone = await client.addMessage({ chatId: chat.id, content: 'deleted', position: 3 });
  await client.deleteMessage({ messageId: gone.id });

  const seen = { known: [], unknown: [], none: [] };
  const r = await mount(client, h('div', null,
    h(Probe, { out: seen.known, use: () => useChat(chat.id) }),
    h(Probe, { out: seen.unknown, use: () => useChat('c_nosuchchat') }),
    h(Probe, { out: seen.none, use: () => useChat(undefined) })));
  assert.equal(seen.known[0], undefined, 'loading');
  assert.equal(seen.unknown[0], undefined, 'loading');
  await settle(() => last(seen.known) !== undefined && last(seen.unknown) !== undefined, 'both loaded');
  assert.equal(last(seen.known).id, chat.id);
  assert.equal(last(seen.known).title, 'talk');
  assert.deepEqual(last(seen.known).messages.map((m) => m.id), [m1.id, m2.id], 'position order, the deleted one hidden');
  assert.equal(last(seen.unknown), null);
  assert.ok(seen.none.every((v) => v === undefined));

  // deleting the chat: the hook gives null
  await act(() => client.deleteChat({ chatId: chat.id }));
  await settle(() => last(seen.known) === null, 'deleted chat: null');
  await act(async () => r.unmount());
  assert.deepEqual(errors, []);
});

test('useChat: changing chatId never shows the previous chat under the new id', async (t) => {
  const errors = captureConsole(t);
  const server = fakeServer();
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  const a = await client.createChat({ title: 'A' });
  const b = await client.createChat({ title: 'B' });
  const seen = [];
  let select;
  function Pick() {
    const [id, setId] = useState(a.id);
    select = setId;
    const value = useChat(id);
    seen.push({ id, value });
    return null;
  }
  const r = await mount(client, h(Pick));
  await settle(() => last(seen).value, 'A');
  await act(async () => select(b.id));
  await settle(() => last(seen).value && last(seen).value.id === b.id, 'B');
  for (const { id, value } of seen) assert.ok(value == null || value.id === id, `rendered ${value && value.id} for ${id}`);
  await act(async () => r.unmount());
  assert.deepEqual(errors, []);
});

test('useMutation("addMessage"): a stable function that writes; the component re-renders with the message', async (t) => {
  const errors = captureConsole(t);
  const server = fakeServer();
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  const chat = await client.createChat({ title: 'talk' });
  const release = gate(server, (req) => req.method === 'POST');
  const fns = [];
  const chats = [];
  function Chat() {
    const add = useMutation('addMessage');
    fns.push(add);
    chats.push(useChat(chat.id));
    return null;
  }
  const r = await mount(client, h(Chat));
  await settle(() => last(chats), 'the chat');
  assert.equal(typeof last(fns), 'function');

  let p;
  await act(async () => {
    p = last(fns)({ chatId: chat.id, content: 'hello', role: 'user' });
  });
  assert.match(p.id, /^m_/, 'the id is on the promise at once');
  await settle(() => last(chats).messages.length === 1, 'the optimistic message');
  assert.deepEqual(
    (({ id, content, role, pending }) => ({ id, content, role, pending }))(last(chats).messages[0]),
    { id: p.id, content: 'hello', role: 'user', pending: true });
  release();
  const stored = await act(() => p);
  assert.equal(stored.id, p.id);
  assert.equal(stored.content, 'hello');
  await settle(() => last(chats).messages[0].pending === undefined, 'the stored message');
  const posts = server.writes().filter((q) => q.path === `/api/chats/${chat.id}/messages`);
  assert.equal(posts.length, 1);
  assert.equal(posts[0].body.id, p.id);
  assert.ok(fns.length > 2 && fns.every((f) => f === fns[0]), 'the same function on every render');
  await act(async () => r.unmount());
  assert.deepEqual(errors, []);
});

test('unmount unsubscribes every hook: no callback after it, no React warning (also in StrictMode)', async (t) => {
  const errors = captureConsole(t);
  const server = fakeServer();
  const client = makeClient(server, 'u1');
  t.after(() => client.close());
  const spy = spySubscriptions(client);
  const chat = await client.createChat({ title: 'x' });
  let renders = 0;
  function App() {
    renders++;
    useChats();
    useChat(chat.id);
    useSyncStatus();
    return null;
  }
  const r = await mount(client, h(StrictMode, null, h(App)));
  await settle(() => renders > 2, 'loaded');
  assert.equal(spy.active, 3, 'one subscription per hook, StrictMode\'s double effect undone');
  await act(async () => r.unmount());
  assert.equal(spy.active, 0, 'unsubscribed on unmount');
  const before = renders;
  await act(async () => {
    await client.addMessage({ chatId: chat.id, content: 'after unmount' });
    await client.updateChat({ chatId: chat.id, title: 'renamed' });
    server.write(server.user('u1'), 'chats', { ...server.user('u1').chats.get(chat.id), title: 'elsewhere' });
    await client.sync();
  });
  await settle(() => true, 'a last turn');
  assert.equal(spy.late, 0, 'no callback after unsubscribe');
  assert.equal(renders, before, 'no render after unmount');
  assert.deepEqual(errors, []);
});

test('a new client (another user) under the provider: the first user\'s data is never rendered for the second', async (t) => {
  const errors = captureConsole(t);
  const server = fakeServer();
  const alice = makeClient(server, 'alice');
  const bob = makeClient(server, 'bob');
  t.after(() => Promise.all([alice.close(), bob.close()]));
  await alice.createChat({ title: 'alice private' });
  await bob.createChat({ title: 'bob' });
  const seen = [];
  function App() {
    const client = useClient();
    seen.push({ user: client.userId, chats: useChats(), status: useSyncStatus() });
    return null;
  }
  let r;
  await act(async () => {
    r = TestRenderer.create(h(ChatsyncProvider, { client: alice }, h(App)));
  });
  await settle(() => last(seen).chats && last(seen).chats.length === 1, 'alice\'s chats');
  await act(async () => r.update(h(ChatsyncProvider, { client: bob }, h(App))));
  await settle(() => last(seen).chats && last(seen).chats[0].title === 'bob', 'bob\'s chats');
  for (const { user, chats, status } of seen) {
    if (chats) assert.ok(chats.every((c) => c.userId === user), `${user} rendered ${chats.map((c) => c.title)}`);
    assert.equal(status.userId, user, 'the status is the rendered client\'s');
  }
  await act(async () => r.unmount());
  assert.deepEqual(errors, []);
});

// The migration plan's frontend phase (4.2, 4.3), ported as docs/client.md
// says: the service class keeps its shape, only the hook behind each method
// changes; the component keeps its handlers (userId arguments are ignored).
class ChatService {
  static useGetChats(_userId) { return useChats(); }
  static useGetChat(chatId) { return useChat(chatId); }
  static useCreateChat() { return useMutation('createChat'); }
  static useAddMessage() { return useMutation('addMessage'); }
  static useUpdateChat() { return useMutation('updateChat'); }
  static useDeleteChat() { return useMutation('deleteChat'); }
}

function ChatInterface({ userId, handlers }) {
  const chats = ChatService.useGetChats(userId);
  const createChat = ChatService.useCreateChat();
  const addMessage = ChatService.useAddMessage();
  const updateChat = ChatService.useUpdateChat();
  const deleteChat = ChatService.useDeleteChat();
  const [openId, setOpenId] = useState(null);
  const open = ChatService.useGetChat(openId);

  handlers.createChat = async (title) => {
    const { id: chatId } = await createChat({ userId, title });
    setOpenId(chatId);
    return chatId;
  };
  handlers.sendMessage = async (chatId, content) => {
    try {
      await addMessage({ chatId, userId, content, role: 'user' });
    } catch (error) {
      handlers.failed = error;
    }
  };
  handlers.rename = (chatId, title) => updateChat({ chatId, title });
  handlers.remove = (chatId) => deleteChat({ chatId });

  if (chats === undefined) return h('p', null, 'Loading…');
  return h('main', null,
    h('ul', null, chats.map((c) => h('li', { key: c.id, className: c.pending ? 'pending' : '' }, c.title))),
    open && h('section', null, h('h1', null, open.title),
      open.messages.map((m) => h('p', { key: m.id, className: m.pending ? 'pending' : '' }, `${m.role}: ${m.content}`))));
}

test('the migration plan\'s ConvexChatService and ChatInterface port onto the hooks', async (t) => {
  const errors = captureConsole(t);
  const server = fakeServer();
  const client = makeClient(server, 'user_123');
  t.after(() => client.close());
  const handlers = {};
  const r = await mount(client, h(ChatInterface, { userId: 'user_123', handlers }));
  const text = () => JSON.stringify(r.toJSON());
  assert.match(text(), /Loading…/);
  await settle(() => r.root.findAllByType('ul').length === 1, 'the list');

  let chatId;
  await act(async () => {
    chatId = await handlers.createChat('Planning');
  });
  await act(() => handlers.sendMessage(chatId, 'hello'));
  await settle(() => r.root.findAllByType('section').length === 1 && /user: hello/.test(text()), 'the open chat');
  assert.deepEqual(r.root.findByType('ul').findAllByType('li').map((li) => li.children.join('')), ['Planning']);
  assert.equal(r.root.findByType('h1').children.join(''), 'Planning');

  await act(() => handlers.rename(chatId, 'Plans'));
  await settle(() => /"Plans"/.test(text()), 'renamed');
  // a definitive refusal reaches the component's catch, and the message leaves the view (rollback)
  await act(() => handlers.sendMessage(chatId, 'x'.repeat(2000)));
  assert.equal(handlers.failed && handlers.failed.code, 'bad_request');
  await settle(() => r.root.findByType('section').findAllByType('p').length === 1, 'rolled back');
  await act(() => handlers.remove(chatId));
  await settle(() => r.root.findByType('ul').findAllByType('li').length === 0 && r.root.findAllByType('section').length === 0, 'deleted');
  const stored = server.user('user_123');
  assert.equal(stored.chats.get(chatId).title, 'Plans');
  assert.equal(stored.chats.get(chatId).isDeleted, true);
  assert.deepEqual([...stored.messages.values()].map((m) => m.content), ['hello']);
  await act(async () => r.unmount());
  assert.deepEqual(errors, []);
});
