// The demo page: a chat list, a chat with its messages, send, rename, delete,
// branch from a message, the connection / outbox indicator and an error area.
// Built only on the library, through client.js. No framework, no build step.
//
// For tests and people alike: <body data-library="loaded|failed"> says how the
// library load went, data-offline="ready" that a reload while offline will
// open the page, #user holds the signed-in user id, the open chat is in
// the URL (#chat=ID) so that a reload comes back to it, and each message <li>
// carries data-id, data-role, data-pending, data-timestamp and data-stream
// (a streamed reply's state: streaming, complete or error).
import { connect, isPending, loadLibrary, signedInUser } from './client.js';

const OFFLINE_CACHE = 'chatsync-demo-v1'; // sw.js's CACHE

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

// ---- errors: values the page shows ----
function showError(err) {
  const code = err?.code ?? err?.error?.code;
  const message = err?.message ?? err?.error?.message ?? String(err);
  const line = el('p', { className: 'error' }, code ? `${code}: ${message}` : message);
  line.dataset.code = code ?? '';
  line.append(el('button', { type: 'button', textContent: 'dismiss', onclick: () => line.remove() }));
  $('errors').append(line);
  while ($('errors').children.length > 5) $('errors').firstElementChild.remove();
}
window.addEventListener('unhandledrejection', (e) => showError(e.reason));

const report = (promise) => Promise.resolve(promise).catch(showError);

// ---- the open chat, kept in the URL ----
function openChatId() {
  const m = /^#chat=(.+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}
function openChat(id) {
  history.replaceState(null, '', id ? `#chat=${encodeURIComponent(id)}` : location.pathname + location.search);
  window.dispatchEvent(new HashChangeEvent('hashchange'));
}

// ---- rendering ----
function renderStatus({ state, pending, version }) {
  $('status').dataset.state = state;
  $('status').textContent = state;
  $('outbox').dataset.pending = String(pending);
  $('outbox').textContent = `outbox ${pending}`;
  $('synced').textContent = version == null ? '' : `synced v${version}`;
}

function renderChats(chats) {
  const current = openChatId();
  $('chats').replaceChildren(...chats.filter((c) => !c.isDeleted).map((chat) => {
    const li = el('li', { title: chat.title, textContent: chat.title || '(untitled)' });
    li.dataset.id = chat.id;
    li.dataset.pending = String(isPending(chat));
    if (chat.id === current) li.setAttribute('aria-current', 'true');
    li.addEventListener('click', () => openChat(chat.id));
    return li;
  }));
}

function renderChat(api, { chat, messages }) {
  $('chat').hidden = !chat || chat.isDeleted;
  if (!chat || chat.isDeleted) return;
  const title = $('rename').elements.title;
  if (document.activeElement !== title) title.value = chat.title ?? '';
  $('branch-of').hidden = !chat.parentChatId;
  $('branch-of').textContent = chat.parentChatId ? `branched from chat ${chat.parentChatId}` : '';
  $('messages').replaceChildren(...messages.filter((m) => !m.isDeleted).map((m) => {
    const pending = isPending(m);
    const branch = el('button', { type: 'button', className: 'branch', textContent: 'branch from here' });
    branch.addEventListener('click', () => {
      const { id, done } = api.branchChat(chat.id, m.id);
      openChat(id);
      report(done);
    });
    // A streamed reply grows as its chunks come (the app's server writes them);
    // while it streams, a marker says so, and an error ending says that.
    const stream = m.streamState ?? 'complete';
    const marker = stream === 'complete' ? [] : [el('span', { className: 'stream', textContent: stream === 'streaming' ? 'streaming…' : 'stream ended with an error' })];
    const li = el('li', {},
      el('div', { className: 'meta' }, el('span', { textContent: m.role }),
        el('span', { textContent: pending ? 'pending' : `#${m.position ?? '-'}` }), ...marker, branch),
      el('div', { className: 'content', textContent: m.content }));
    Object.assign(li.dataset, { id: m.id, role: m.role, pending: String(pending), timestamp: String(m.timestamp), stream });
    return li;
  }));
}

// ---- wiring ----
function wire(api) {
  api.watchStatus(renderStatus);
  api.watchErrors(showError);
  api.watchChats(renderChats);

  let unwatchChat = () => {};
  const follow = () => {
    unwatchChat();
    const id = openChatId();
    $('chat').hidden = true;
    for (const li of $('chats').children) li.toggleAttribute('aria-current', li.dataset.id === id);
    unwatchChat = id ? api.watchChat(id, (value) => renderChat(api, value)) : () => {};
  };
  window.addEventListener('hashchange', follow);
  follow();

  $('new-chat').addEventListener('submit', (e) => {
    e.preventDefault();
    const { id, done } = api.createChat(e.target.elements.title.value.trim());
    e.target.reset();
    openChat(id);
    report(done);
  });
  $('rename').addEventListener('submit', (e) => {
    e.preventDefault();
    report(api.renameChat(openChatId(), e.target.elements.title.value.trim()));
    document.activeElement.blur();
  });
  $('delete-chat').addEventListener('click', () => {
    const id = openChatId();
    openChat(null);
    report(api.deleteChat(id));
  });
  $('send').addEventListener('submit', (e) => {
    e.preventDefault();
    const { content, role } = e.target.elements;
    report(api.sendMessage(openChatId(), role.value, content.value));
    content.value = '';
  });
  $('send').elements.content.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      $('send').requestSubmit();
    }
  });
}

// The page's files for a reload while offline: the service worker (sw.js)
// answers from its cache when the network fails, and this puts in it every file
// this page loaded (the document, its modules, the library's, idb), once the
// library is in. The data comes from the library's IndexedDB replica.
// <body data-offline="ready"> says it is done.
async function keepForOffline() {
  if (!navigator.serviceWorker || !window.caches) return;
  await navigator.serviceWorker.ready;
  const files = new Set(['/']);
  for (const entry of performance.getEntriesByType('resource')) {
    const url = new URL(entry.name);
    if (url.origin === location.origin && !/^\/(api|dev)\//.test(url.pathname)) files.add(url.pathname);
  }
  await (await caches.open(OFFLINE_CACHE)).addAll([...files]);
  document.body.dataset.offline = 'ready';
}

async function main() {
  navigator.serviceWorker?.register('/sw.js').catch((err) => showError(err));
  const user = signedInUser();
  if (!user) {
    $('signin').hidden = false;
    $('signin').addEventListener('submit', (e) => {
      e.preventDefault();
      const query = new URLSearchParams(location.search);
      query.set('as', e.target.elements.as.value.trim());
      location.search = query;
    });
    document.body.dataset.library = 'unused';
    return;
  }
  $('user').textContent = user;
  document.title = `${user} · chatsync demo`;
  let lib;
  try {
    lib = await loadLibrary();
  } catch (err) {
    document.body.dataset.library = 'failed';
    showError(new Error(`the library could not be loaded (/js/dist/chatsync.js): ${err.message}`));
    return;
  }
  $('app').hidden = false;
  try {
    wire(connect(lib, user));
    document.body.dataset.library = 'loaded';
    keepForOffline().catch(showError);
  } catch (err) {
    document.body.dataset.library = 'failed';
    showError(err);
  }
}

main();
