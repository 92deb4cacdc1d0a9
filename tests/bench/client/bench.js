// The browser side of tests/bench/client.mjs: the library alone, rendering a
// chat list and one chat as plain DOM. Times are performance.now() (ms since
// this page's navigation started) unless named "epoch" (timeOrigin + now, to
// compare two pages).
//
// ?user=ID            sign in as ID (the stack's /dev/token; userId given, so
//                     the replica opens without the network)
// &chat=ID            also watch that chat's messages (the latency figure)
import { createClient } from '/bench-client/lib/dist/chatsync.js';

const moduleStart = performance.now();
const params = new URLSearchParams(location.search);
const user = params.get('user');
const chatId = params.get('chat');
const $ = (id) => document.getElementById(id);
const epoch = () => performance.timeOrigin + performance.now();

const bench = (window.bench = {
  marks: { moduleStart },
  firstCount: null,
  chats: 0,
  status: null,
  errors: [],
  seen: {}, // message content -> epoch ms when the DOM first showed it
});

// A development token, kept until a minute before it expires (as Clerk's
// session.getToken keeps its own).
let cached = null;
async function getToken() {
  if (cached && cached.expiresAt * 1000 - Date.now() > 60000) return cached.token;
  const res = await fetch('/dev/token?as=' + encodeURIComponent(user), { cache: 'no-store' });
  if (!res.ok) throw new Error('/dev/token: ' + res.status);
  cached = await res.json();
  return cached.token;
}

const client = createClient({ url: location.origin, getToken, userId: user });
window.client = client;
client.ready.then(() => { bench.marks.replicaOpen = performance.now(); }, () => {});
client.on('error', (err) => bench.errors.push(`${err.code}: ${err.message}`));
client.onStatus((s) => {
  bench.status = s;
  $('status').textContent = `${s.connection}, outbox ${s.pending}, v${s.lastVersion}`;
});

client.watchChats((chats) => {
  const t = performance.now();
  if (bench.firstCount === null) {
    bench.firstCount = chats.length;
    bench.marks.firstCallback = t;
  }
  $('chats').replaceChildren(...chats.map((c) => {
    const li = document.createElement('li');
    li.textContent = c.title;
    li.dataset.pending = String(Boolean(c.pending));
    return li;
  }));
  bench.chats = chats.length;
  bench.pendingChats = chats.filter((c) => c.pending).length;
  if (bench.marks.firstRender === undefined && chats.length > 0) {
    bench.marks.firstRender = performance.now(); // the list is in the DOM
    requestAnimationFrame(() => { bench.marks.firstFrame = performance.now(); });
  }
});

if (chatId) {
  client.watchChat(chatId, (chat) => {
    const messages = chat ? chat.messages : [];
    $('messages').replaceChildren(...messages.map((m) => {
      const li = document.createElement('li');
      li.textContent = m.content;
      return li;
    }));
    const now = epoch();
    for (const m of messages) if (!(m.content in bench.seen)) bench.seen[m.content] = now;
  });
}

// One write, timed from the call (epoch ms); the promise's settling is kept too.
window.benchWrite = (content) => {
  const called = epoch();
  const entry = { called, acked: null, error: null };
  bench.writes = bench.writes || {};
  bench.writes[content] = entry;
  client.addMessage({ chatId, content, role: 'user' }).then(
    () => { entry.acked = epoch(); },
    (err) => { entry.error = String(err && err.message); });
  return called;
};
