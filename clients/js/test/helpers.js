// Test helpers: a fake chatsync server behind an injected fetch (no network),
// tokens, a recording sleep, and waiting for a condition.

// idb checks values against the IndexedDB classes as globals: install them.
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { createClient } from '../index.js';

export function token(sub, extra = {}) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'RS256' })}.${part({ sub, ...extra })}.sig`;
}

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}
export const errorResponse = (status, code, message, headers) => json(status, { error: { code, message } }, headers);

// The server keeps documents per user and a change log in version order, as
// sync-svc does. server.script holds handlers tried before the routes: a handler
// returning a Response answers that request (and is removed unless it says keep).
export function fakeServer() {
  const users = new Map();
  const requests = [];
  const script = [];
  function user(sub) {
    if (!users.has(sub)) users.set(sub, { version: 0, chats: new Map(), messages: new Map(), log: [], statuses: new Map(), chunks: [] });
    return users.get(sub);
  }
  function write(u, table, doc, op = 'upsert') {
    const now = Date.now();
    const stored = { ...doc, version: ++u.version, updatedAt: now, createdAt: doc.createdAt ?? now };
    u[table].set(stored.id, stored);
    u.log.push({ table, op, id: stored.id, version: stored.version, doc: stored });
    return stored;
  }
  function page(u, cursor, limit) {
    const after = parseInt(cursor || '0', 10); // a cursor's version; the chunks sent in it do not matter here
    const changes = u.log.filter((c) => c.version > after).slice(0, limit);
    const last = changes.length ? changes[changes.length - 1].version : after;
    return { changes, cursor: String(last), hasMore: u.log.some((c) => c.version > last) };
  }
  function subOf(headers) {
    const auth = headers.Authorization || headers.authorization || '';
    try {
      return JSON.parse(Buffer.from(auth.split(' ')[1].split('.')[1], 'base64url')).sub;
    } catch {
      return null;
    }
  }
  function ifMatch(headers, doc) {
    const h = headers['If-Match'];
    return h === undefined || h === '*' || Number(String(h).replace(/W\/|"/g, '')) === doc.version;
  }

  function route(req, u) {
    const { method, path, query, body, headers } = req;
    let m;
    if (path === '/api/sync' && method === 'GET') return json(200, page(u, headers['Last-Event-ID'] ?? query.get('cursor'), Number(query.get('limit') || 500)));
    if ((m = path.match(/^\/api\/sync-status\/(.+)$/)) && method === 'PUT') {
      u.statuses.set(decodeURIComponent(m[1]), body);
      return json(200, { syncStatus: { deviceId: decodeURIComponent(m[1]), ...body } });
    }
    if (path === '/api/chats' && method === 'POST') {
      if (!body.title) return errorResponse(400, 'bad_request', 'title: must be 1 to 500 characters');
      const have = u.chats.get(body.id);
      if (have) return json(200, { chat: have }, { 'Idempotent-Replay': 'true' });
      const chat = write(u, 'chats', { id: body.id, userId: req.sub, title: body.title, timestamp: body.timestamp ?? Date.now(), parentChatId: body.parentChatId ?? null, branchFromMessageId: body.branchFromMessageId ?? null, branches: [], isDeleted: false });
      return json(201, { chat });
    }
    if ((m = path.match(/^\/api\/chats\/([^/]+)$/))) {
      const chat = u.chats.get(decodeURIComponent(m[1]));
      if (!chat) return errorResponse(404, 'not_found', 'chat not found');
      if (method === 'PATCH') {
        // as chats-svc: a deleted chat is not visible to an update (404, also before If-Match)
        if (chat.isDeleted) return errorResponse(404, 'not_found', 'chat not found');
        if (!ifMatch(headers, chat)) return errorResponse(412, 'precondition_failed', `chat ${chat.id} is at version ${chat.version}`);
        return json(200, { chat: write(u, 'chats', { ...chat, ...body }) });
      }
      if (method === 'DELETE') return json(200, { chat: chat.isDeleted ? chat : write(u, 'chats', { ...chat, isDeleted: true }, 'delete') });
    }
    if ((m = path.match(/^\/api\/chats\/([^/]+)\/branch$/)) && method === 'POST') {
      const parent = u.chats.get(decodeURIComponent(m[1]));
      const from = u.messages.get(body.fromMessageId);
      if (!parent || !from || from.chatId !== parent.id) return errorResponse(404, 'not_found', 'chat not found');
      if (u.chats.has(body.id)) {
        const chat = u.chats.get(body.id);
        return json(200, { chat, messages: [...u.messages.values()].filter((x) => x.chatId === chat.id) }, { 'Idempotent-Replay': 'true' });
      }
      const chat = write(u, 'chats', { id: body.id, userId: req.sub, title: body.title ?? parent.title, timestamp: Date.now(), parentChatId: parent.id, branchFromMessageId: from.id, branches: [], isDeleted: false });
      write(u, 'chats', { ...parent, branches: [...parent.branches, chat.id] });
      const copies = [...u.messages.values()].filter((x) => x.chatId === parent.id && !x.isDeleted && x.position <= from.position)
        .map((x, i) => write(u, 'messages', { ...x, id: `m_copy${u.version}_${i}`, chatId: chat.id }));
      return json(201, { chat, messages: copies });
    }
    if ((m = path.match(/^\/api\/chats\/([^/]+)\/messages$/)) && method === 'POST') {
      const chatId = decodeURIComponent(m[1]);
      if (!u.chats.get(chatId) || u.chats.get(chatId).isDeleted) return errorResponse(404, 'not_found', 'chat not found');
      if (typeof body.content !== 'string' || body.content.length > 1000) return errorResponse(400, 'bad_request', 'content: too long');
      const have = u.messages.get(body.id);
      if (have) return json(200, { message: have }, { 'Idempotent-Replay': 'true' });
      const positions = [...u.messages.values()].filter((x) => x.chatId === chatId).map((x) => x.position);
      const message = write(u, 'messages', { id: body.id, chatId, userId: req.sub, content: body.content, role: body.role, timestamp: body.timestamp ?? Date.now(), position: body.position ?? (positions.length ? Math.max(...positions) + 1 : 0), attachments: body.attachments ?? null, isDeleted: false, streamState: body.streamState === 'streaming' ? 'streaming' : 'complete', streamSeq: 0 });
      return json(201, { message });
    }
    // Streamed replies (docs/API.md): chunks go to u.chunks (the test sends them
    // as SSE chunk events or long-poll chunks); window(u, id) writes the text so
    // far as messages-svc's flush does; /end writes the final document.
    if ((m = path.match(/^\/api\/messages\/([^/]+)\/(chunks|end)$/)) && method === 'POST') {
      const message = u.messages.get(decodeURIComponent(m[1]));
      if (!message) return errorResponse(404, 'not_found', 'message not found');
      if (message.streamState !== 'streaming') return errorResponse(409, 'conflict', 'message is not streaming');
      const sent = u.chunks.filter((c) => c.messageId === message.id);
      if (m[2] === 'end') {
        if (body.seq !== sent.length) return errorResponse(409, 'conflict', `seq: the stream has ${sent.length} chunks`);
        return json(200, { message: write(u, 'messages', { ...message, content: message.content + sent.filter((c) => c.seq > message.streamSeq).map((c) => c.text).join(''), streamSeq: sent.length, streamState: body.state }) });
      }
      if (body.seq <= sent.length) return json(200, { id: message.id, seq: body.seq }, { 'Idempotent-Replay': 'true' });
      if (body.seq !== sent.length + 1) return errorResponse(409, 'conflict', `seq: expected ${sent.length + 1}`);
      u.chunks.push({ messageId: message.id, chatId: message.chatId, seq: body.seq, text: body.text });
      return json(200, { id: message.id, seq: body.seq });
    }
    if ((m = path.match(/^\/api\/messages\/([^/]+)$/))) {
      const message = u.messages.get(decodeURIComponent(m[1]));
      if (!message) return errorResponse(404, 'not_found', 'message not found');
      if (method === 'PATCH') {
        if (message.isDeleted) return errorResponse(404, 'not_found', 'message not found');
        if (!ifMatch(headers, message)) return errorResponse(412, 'precondition_failed', `message ${message.id} is at version ${message.version}`);
        return json(200, { message: write(u, 'messages', { ...message, ...body }) });
      }
      // as messages-svc: deleting again answers the tombstone and writes nothing
      if (method === 'DELETE') return json(200, { message: message.isDeleted ? message : write(u, 'messages', { ...message, isDeleted: true }, 'delete') });
    }
    return errorResponse(404, 'not_found', `no route ${method} ${path}`);
  }

  async function fetch(url, init = {}) {
    const u = new URL(url);
    const headers = { ...(init.headers || {}) };
    const req = { method: init.method || 'GET', path: u.pathname, query: u.searchParams, headers, body: init.body ? JSON.parse(init.body) : undefined, sub: subOf(headers), signal: init.signal };
    requests.push(req);
    for (let i = 0; i < script.length; i++) {
      const res = await script[i](req, server);
      if (res) {
        if (!script[i].keep) script.splice(i, 1);
        if (res instanceof Error) throw res;
        return res;
      }
    }
    if (!req.sub) return errorResponse(401, 'unauthorized', 'no token');
    return route(req, user(req.sub));
  }

  // A window of a streaming message: its chunks so far written to the row.
  function window(u, id) {
    const message = u.messages.get(id);
    const sent = u.chunks.filter((c) => c.messageId === id && c.seq > message.streamSeq);
    return write(u, 'messages', { ...message, content: message.content + sent.map((c) => c.text).join(''), streamSeq: message.streamSeq + sent.length });
  }
  // A chunk as sync-svc sends it on a stream: its cursor carries the version
  // and the last chunk sent of the message.
  const chunkEvent = (u, c) => `id: ${u.version}\t${c.seq}\t${c.messageId}\nevent: chunk\ndata: ${JSON.stringify(c)}\n\n`;
  const changesEvent = (u, p) => `id: ${p.cursor}\nevent: changes\ndata: ${JSON.stringify(p)}\n\n`;

  const server = {
    fetch, requests, script, user, write, window, chunkEvent, changesEvent, page,
    writes: () => requests.filter((r) => r.method !== 'GET' && !r.path.startsWith('/api/sync-status')),
  };
  return server;
}

// A sleep that records every backoff wait and returns at once; long idle waits
// (60 s and more) stay real but end when their signal aborts.
export function recordingSleep() {
  const delays = [];
  const sleep = (ms, signal) => {
    if (ms < 60000) delays.push(ms);
    return new Promise((resolve) => {
      if (signal && signal.aborted) return resolve();
      const t = setTimeout(resolve, ms < 60000 ? 1 : ms);
      if (signal) signal.addEventListener('abort', () => { clearTimeout(t); resolve(); });
    });
  };
  sleep.delays = delays;
  return sleep;
}

// A text/event-stream answer whose events the test sends when it likes.
export function controlledSse(req) {
  let ctrl;
  const body = new ReadableStream({
    start(c) {
      ctrl = c;
      const abort = () => c.error(new DOMException('aborted', 'AbortError'));
      if (req.signal.aborted) return abort();
      req.signal.addEventListener('abort', abort);
    },
  });
  const send = (text) => ctrl.enqueue(new TextEncoder().encode(text));
  return { res: new Response(body, { headers: { 'content-type': 'text/event-stream' } }), send };
}

export function makeClient(server, sub, opts = {}) {
  return createClient({
    url: 'http://chatsync.test',
    getToken: async () => token(sub),
    fetch: server.fetch,
    indexedDB: opts.indexedDB || new IDBFactory(),
    BroadcastChannel: null,
    locks: null,
    autoStart: false,
    sleep: recordingSleep(),
    ...opts,
  });
}

export async function until(fn, what = 'condition', timeoutMs = 5000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// The latest value a watch gave, and how many times it fired.
export function watcher() {
  const w = { calls: 0, value: undefined };
  w.cb = (v) => {
    w.calls++;
    w.value = v;
  };
  return w;
}
