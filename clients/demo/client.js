// The demo's one contact with the library (clients/js/, served at /js/, its
// README is the API): the development sign-in, createClient, and each call the
// page makes, in one place, so that app.js only deals with plain values.
//
// Sign-in: ?as=USER_ID (local profile only) asks GET /dev/token?as=USER_ID for
// a short-lived development token (nginx/dev-token.js); &ttl=SECONDS makes it
// shorter (the end-to-end tests let tokens expire mid-stream). A real app
// passes Clerk's session.getToken instead, and Clerk's user.id as userId.

const params = new URLSearchParams(location.search);

export function signedInUser() {
  const as = params.get('as');
  return as && as.length <= 255 ? as : null;
}

export function loadLibrary() {
  // The single-file build (clients/js/dist/chatsync.js, npm run build): one
  // request instead of the 12 modules and idb.
  return import('/js/dist/chatsync.js');
}

// getToken for createClient: the cached token while it has a fair share of its
// life left, else a new one from /dev/token. A failure throws (offline: a
// network error), which the library counts as "no answer" and retries.
export function devTokenGetter(user, ttl = params.get('ttl')) {
  let cached = null;
  return async function getToken() {
    const now = Date.now() / 1000;
    if (cached && cached.expiresAt - now > Math.min(30, cached.life / 2)) return cached.token;
    const query = new URLSearchParams({ as: user });
    if (ttl) query.set('ttl', ttl);
    const res = await fetch('/dev/token?' + query, { cache: 'no-store' });
    const body = await res.json().catch(() => null);
    if (!res.ok || !body || typeof body.token !== 'string') {
      const message = body?.error?.message || `HTTP ${res.status}`;
      throw Object.assign(new Error(`development sign-in failed: ${message}`), { status: res.status });
    }
    cached = { token: body.token, expiresAt: body.expiresAt, life: body.expiresAt - now };
    return body.token;
  };
}

export const isPending = (doc) => Boolean(doc && doc.pending);

// A write's promise, for the page: errors of writes the server refused are
// also emitted as the client's 'error' event (in every tab), which the page
// shows; so only the others (a bad argument, a closed client) are handed on.
function settled(promise) {
  return promise.catch((err) => {
    if (err && err.mutation) return undefined;
    throw err;
  });
}

// The page's calls. Each write shows at once (the library's optimistic view)
// and returns a promise that settles when the server answered; the page never
// waits for one before the next (offline, it stays pending until the network
// is back).
export function connect(lib, user) {
  // userId: the replica opens without a token, so a reload while offline
  // shows the local data and the outbox at once.
  const client = lib.createClient({ url: location.origin, userId: user, getToken: devTokenGetter(user) });
  const write = (promise) => ({ id: promise.id, done: settled(promise) });
  return {
    client,
    watchChats: (cb) => client.watchChats(cb),
    // cb({chat, messages}); chat null when unknown or deleted
    watchChat: (chatId, cb) => client.watchChat(chatId, (v) => cb({ chat: v, messages: v ? v.messages : [] })),
    createChat: (title) => write(client.createChat({ title })),
    renameChat: (chatId, title) => settled(client.updateChat({ chatId, title })),
    deleteChat: (chatId) => settled(client.deleteChat({ chatId })),
    sendMessage: (chatId, role, content) => settled(client.addMessage({ chatId, role, content })),
    branchChat: (chatId, fromMessageId) => write(client.branchChat({ chatId, fromMessageId })),
    // cb({state, pending, version}) now and on each change; returns an unsubscribe.
    watchStatus: (cb) => client.onStatus((s) =>
      cb({ state: s.connection, pending: s.pending, version: s.lastVersion || null })),
    // cb(error) for the errors the library emits (rejected writes included).
    watchErrors: (cb) => client.on('error', cb),
  };
}
