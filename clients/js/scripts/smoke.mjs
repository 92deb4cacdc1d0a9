// A manual smoke check of the library against a running stack (not a test:
// `npm test` never needs the network). Two devices of one new user, in Node
// with fake-indexeddb; tokens from `chatsync token USER --ttl 8`, so that the
// SSE stream ends with reauth during the run.
//
//   eval "$(deploy/stack.sh env)"; node clients/js/scripts/smoke.mjs
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { execFileSync } from 'node:child_process';
import { createClient } from '../index.js';

const url = process.env.CHATSYNC_HTTP || 'http://127.0.0.1:8080';
const cmd = (process.env.CHATSYNC_TOKEN_CMD || 'bin/chatsync token').split(' ');
const user = `smoke_${Date.now()}`;
let tokens = 0;
const getToken = async () => {
  tokens++;
  return execFileSync(cmd[0], [...cmd.slice(1), user, '--ttl', '8'], { encoding: 'utf8' }).trim();
};
const device = (name) => createClient({ url, getToken, deviceId: name, indexedDB: new IDBFactory(), BroadcastChannel: null, locks: null });

async function until(fn, what, ms = 10000) {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const check = (ok, what) => {
  if (!ok) throw new Error(`failed: ${what}`);
  console.log(`ok  ${what}`);
};

const a = device('smoke-a');
const b = device('smoke-b');
const errors = [];
a.on('error', (e) => errors.push(e));
let seenByB = null;
b.watchChats(() => {});
try {
  await until(() => a.status.connection === 'online' && b.status.connection === 'online', 'both online');
  check(true, `both devices online (A leader: ${a.status.leader})`);
  const chat = await a.createChat({ title: 'smoke' });
  check(chat.version > 0 && chat.id.startsWith('c_'), `created ${chat.id} at version ${chat.version}`);
  b.watchChat(chat.id, (v) => (seenByB = v));
  const t0 = Date.now();
  const sent = await Promise.all(['one', 'two', 'three'].map((content) => a.addMessage({ chatId: chat.id, content })));
  check(sent.map((m) => m.position).join() === '0,1,2', 'three messages stored in order');
  await until(() => seenByB && seenByB.messages.length === 3, 'B sees the messages');
  check(true, `B saw them live in ${Date.now() - t0} ms (${b.status.connection})`);

  await a.updateChat({ chatId: chat.id, title: 'renamed by A' });
  await until(() => seenByB && seenByB.title === 'renamed by A', 'B sees the rename');
  check(true, 'rename reached B');

  // 412: both rename from the same version; B's edit is made before it sees A's.
  await b.sync();
  const bLate = createClient({ url, getToken, deviceId: 'smoke-b2', indexedDB: new IDBFactory(), BroadcastChannel: null, locks: null, autoStart: false });
  await bLate.sync();
  await a.updateChat({ chatId: chat.id, title: 'A wins' });
  const lost = await bLate.updateChat({ chatId: chat.id, title: 'B loses' }).then(() => null, (e) => e);
  check(lost && lost.code === 'precondition_failed' && lost.doc.title === 'A wins', '412: the other device wins the field it changed');
  await bLate.close();

  const big = await a.addMessage({ chatId: chat.id, content: 'x'.repeat(1024 * 1024 + 1) }).then(() => null, (e) => e);
  check(big && big.status === 400, `over the limit: rejected (${big && big.message})`);
  check(errors.some((e) => e === big), 'the error event fired');
  const view = await a.getChat(chat.id);
  check(view.messages.length === 3, 'rolled back: 3 messages shown');

  const branch = await a.branchChat({ chatId: chat.id, fromMessageId: sent[1].id });
  check(branch.parentChatId === chat.id && branch.messages.map((m) => m.content).join() === 'one,two', 'branch made with copies up to the message');
  await until(async () => (await b.getChat(branch.id))?.messages.length === 2, 'B sees the branch');
  check((await b.getChat(chat.id)).branches.includes(branch.id), "the parent's branches name it on B");

  const before = tokens;
  await new Promise((r) => setTimeout(r, 9000));
  const late = await a.addMessage({ chatId: chat.id, content: 'after reauth' });
  await until(() => seenByB && seenByB.messages.some((m) => m.id === late.id), 'B sees a message after its token expired');
  check(tokens > before, `new tokens after expiry (${tokens - before} more); B still live`);

  const res = await fetch(`${url}/api/sync-status`, { headers: { Authorization: `Bearer ${await getToken()}` } });
  const devices = (await res.json()).devices.map((d) => d.deviceId).sort();
  check(devices.includes('smoke-a') && devices.includes('smoke-b'), `sync status reported: ${devices.join(', ')}`);
  console.log('status A', a.status);
} finally {
  await a.close();
  await b.close();
}
