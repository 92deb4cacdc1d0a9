// A stand-in for the library (clients/js/), for tests of the demo page's
// plumbing only (?lib=stub): the calls client.js makes, an in-memory replica,
// and writes that go straight to the API with the page's getToken. No
// IndexedDB, no outbox, no sync: it is not the library and nothing else uses it.
export function createClient({ url, getToken }) {
  const chats = new Map(), messages = new Map(), watchers = new Set();
  const status = { state: 'online', pending: 0, version: null };
  const notify = () => watchers.forEach((w) => w());
  const watch = (fn) => { watchers.add(fn); fn(); return () => watchers.delete(fn); };
  async function send(method, path, body) {
    status.pending++; notify();
    try {
      const res = await fetch(url + path, { method, body: JSON.stringify(body),
        headers: { Authorization: `Bearer ${await getToken()}`, 'Content-Type': 'application/json' } });
      const json = await res.json();
      if (!res.ok) throw Object.assign(new Error(json.error.message), { code: json.error.code });
      status.version = json.chat?.version ?? json.message?.version ?? status.version;
      return json;
    } finally { status.pending--; notify(); }
  }
  const optimistic = (map, doc, write) => {
    map.set(doc.id, { ...doc, pending: true }); notify();
    return write.then((json) => { map.set(doc.id, json.chat ?? json.message); notify(); return json; },
      (err) => { map.delete(doc.id); notify(); throw err; });
  };
  return {
    status,
    watchChats: (cb) => watch(() => cb([...chats.values()].reverse())),
    watchChat: (id, cb) => watch(() => cb({ chat: chats.get(id) ?? null,
      messages: [...messages.values()].filter((m) => m.chatId === id) })),
    createChat: (c) => optimistic(chats, c, send('POST', '/api/chats', c)),
    addMessage: (chatId, m) => optimistic(messages, { ...m, chatId },
      send('POST', `/api/chats/${encodeURIComponent(chatId)}/messages`, m)),
    updateChat: (id, patch) => send('PATCH', `/api/chats/${encodeURIComponent(id)}`, patch),
    deleteChat: (id) => { chats.delete(id); notify(); return send('DELETE', `/api/chats/${encodeURIComponent(id)}`); },
    branchChat: () => Promise.reject(new Error('the stand-in cannot branch')),
  };
}
