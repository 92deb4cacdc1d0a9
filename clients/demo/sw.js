// The demo's service worker: the page's own files (/, the modules, the CSS,
// /js/...) network first, from the cache when the network fails, so that a
// reload while offline still opens the page, whose data then comes from the
// library's IndexedDB replica. The API and the sign-in are never touched. The
// page itself fills the cache with every file it loaded (app.js,
// keepForOffline), since its first load happens before this worker runs.
const CACHE = 'chatsync-demo-v1';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== 'GET' || url.origin !== location.origin ||
      url.pathname.startsWith('/api/') || url.pathname.startsWith('/dev/')) return;
  const key = url.pathname === '/' || url.pathname === '/index.html' ? '/' : url.pathname;
  e.respondWith(fetch(e.request).then((res) => {
    if (res.ok) {
      const copy = res.clone();
      e.waitUntil(caches.open(CACHE).then((c) => c.put(key, copy)));
    }
    return res;
  }, async (err) => (await caches.match(key)) ?? Promise.reject(err)));
});
