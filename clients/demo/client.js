// The demo's one contact with the library (clients/js/, served at /js/): the
// development sign-in, createClient, and each call the page makes, in one
// place, so that app.js only deals with plain values.
//
// Sign-in: ?as=USER_ID (local profile only) asks GET /dev/token?as=USER_ID for
// a short-lived development token (nginx/dev-token.js); &ttl=SECONDS makes it
// shorter (the end-to-end tests let tokens expire mid-stream). A real app
// passes Clerk's session.getToken instead.
// ?lib=stub loads the stand-in of dev-stub/ instead of the library (tests of
// the page's plumbing without a library).

const params = new URLSearchParams(location.search);

export function signedInUser() {
  const as = params.get('as');
  return as && as.length <= 255 ? as : null;
}

export function loadLibrary() {
  return import(params.get('lib') === 'stub' ? '/dev-stub/index.js' : '/js/index.js');
}

// getToken for createClient: the cached token while it has a fair share of its
// life left, else a new one from /dev/token. Errors are thrown as values the
// library can report (a network error while offline, an HTTP error otherwise).
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

// Client-chosen ids (API.md: a replay of the same create is a success): ULIDs,
// time-ordered like the server's own.
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export function ulid(now = Date.now()) {
  let time = '';
  for (let i = 0, t = now; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time;
  const random = crypto.getRandomValues(new Uint8Array(16));
  return time + Array.from(random, (b) => CROCKFORD[b % 32]).join('');
}

// A list callback's value as an array (the library may hand over the array
// or a page object holding it).
function listOf(value, key) {
  if (Array.isArray(value)) return value;
  if (value && Array.isArray(value[key])) return value[key];
  if (value && Array.isArray(value.items)) return value.items;
  return [];
}

export function isPending(doc) {
  return Boolean(doc && (doc.pending || doc._pending || doc.$pending || doc.meta?.pending));
}

// The library's status, whatever its shape, as {state, pending, version}.
function statusOf(s) {
  if (!s) return { state: 'connecting', pending: 0, version: null };
  return {
    state: s.state ?? s.connection ?? s.status ?? 'connecting',
    pending: s.pending ?? s.pendingCount ?? s.outbox ?? 0,
    version: s.version ?? s.lastSyncedVersion ?? s.lastVersion ?? null,
  };
}

// The page's calls. Each write returns the library's promise (settled when
// the server accepted or definitively rejected it; the change shows at once).
export function connect(lib, user) {
  const client = lib.createClient({ url: location.origin, getToken: devTokenGetter(user) });
  return {
    client,
    watchChats: (cb) => client.watchChats((v) => cb(listOf(v, 'chats'))),
    watchChat: (chatId, cb) =>
      client.watchChat(chatId, (v) => cb({ chat: v?.chat ?? null, messages: listOf(v, 'messages') })),
    createChat: (title) => {
      const id = ulid();
      return { id, done: client.createChat({ id, title }) };
    },
    renameChat: (chatId, title) => client.updateChat(chatId, { title }),
    deleteChat: (chatId) => client.deleteChat(chatId),
    sendMessage: (chatId, role, content) => client.addMessage(chatId, { id: ulid(), role, content }),
    branchChat: (chatId, fromMessageId) => {
      const id = ulid();
      return { id, done: client.branchChat(chatId, { id, fromMessageId }) };
    },
    // cb({state, pending, version}) now and on each change; returns an unsubscribe.
    watchStatus(cb) {
      const s = client.status;
      if (s && typeof s.subscribe === 'function') return s.subscribe((v) => cb(statusOf(v ?? s)));
      if (typeof client.onStatus === 'function') return client.onStatus((v) => cb(statusOf(v)));
      const timer = setInterval(() => cb(statusOf(client.status)), 250);
      cb(statusOf(client.status));
      return () => clearInterval(timer);
    },
    // cb(error) for the errors the library emits (rejected writes included).
    watchErrors(cb) {
      if (typeof client.onError === 'function') return client.onError(cb);
      if (typeof client.on === 'function') return client.on('error', cb);
      if (typeof client.addEventListener === 'function') {
        const listener = (e) => cb(e.error ?? e.detail ?? e);
        client.addEventListener('error', listener);
        return () => client.removeEventListener('error', listener);
      }
      return () => {};
    },
  };
}
