// The browser client's figures (issue 12), measured with the real stack and
// Debian's Chromium (playwright-core of tests/e2e/, never a downloaded browser):
//
//   size    the library min+gzip without React (clients/js: npm run size)
//   load    navigation start -> first render of a 1,000-chat replica read from
//           IndexedDB, the browser offline (a reload of a seeded device)
//   live    write on one device -> the other device's DOM shows it, through the
//           stack (two browser contexts, N sequential writes), p50/p99
//
//   node tests/bench/client.mjs [--out FILE.json] [--chats 1000] [--writes 50] [--reloads 5]
//
// Environment: CHATSYNC_HTTP (the stack, local profile: it must serve
// /dev/token; default http://127.0.0.1:8080), CHROMIUM (default /usr/bin/chromium).
// tests/bench/run.sh runs it after its other figures; the JSON goes to
// RESULTS/client.json and report.py turns it into the "Browser client" section.
// Bounded: the whole run is stopped after BENCH_CLIENT_TIMEOUT_S (240) seconds;
// the browser is closed on every exit path.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BASE = (process.env.CHATSYNC_HTTP || 'http://127.0.0.1:8080').replace(/\/$/, '');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const { values: opts } = parseArgs({
  options: {
    out: { type: 'string' },
    chats: { type: 'string', default: '1000' },
    writes: { type: 'string', default: '50' },
    reloads: { type: 'string', default: '5' },
  },
});
const N_CHATS = Number(opts.chats);
const N_WRITES = Number(opts.writes);
const N_RELOADS = Number(opts.reloads);
const WARMUP = 3;

const log = (msg) => process.stderr.write(`bench-client: ${msg}\n`);
const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : null;
};
const median = (xs) => percentile(xs, 50);
const round = (x, d = 1) => (x == null ? null : Number(x.toFixed(d)));

function output(result) {
  const text = JSON.stringify(result, null, 2) + '\n';
  if (opts.out) writeFileSync(opts.out, text);
  else process.stdout.write(text);
}

// ---- what is needed: skip (a JSON saying why) when it is not there ----
function missing() {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
  if (!existsSync(join(REPO, 'tests/e2e/node_modules/playwright-core'))) return 'tests/e2e/node_modules has no playwright-core (npm ci in tests/e2e)';
  if (!existsSync(join(REPO, 'clients/js/node_modules/idb/build/index.js'))) return 'clients/js/node_modules has no idb (npm ci in clients/js)';
  return null;
}
const why = missing();
if (why) {
  log(`skipped: ${why}`);
  output({ skipped: why });
  process.exit(0);
}

const require = createRequire(join(REPO, 'tests/e2e/package.json'));
const { chromium } = require('playwright-core');

// ---- the page's origin: a loopback server of this process ----
// /bench-client/ is the bench page, the library (lib/) and idb (idb/), from
// disk; every other path is passed through to the stack as it is (SSE
// streams included), so the page, its IndexedDB and the API share one origin.
// apiDown: /api/ and /dev/ requests get their connection closed, which the
// browser sees as a network failure (offline) while the page's files still load.
// No Playwright interception: it would add a DevTools round trip per request.
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.map': 'application/json' };
function benchFile(pathname) {
  const rest = pathname.replace(/^\/bench-client\/?/, '');
  let root, file;
  if (rest.startsWith('lib/')) [root, file] = [join(REPO, 'clients/js'), rest.slice(4)];
  else if (rest.startsWith('idb/')) [root, file] = [join(REPO, 'clients/js/node_modules/idb/build'), rest.slice(4)];
  else [root, file] = [join(REPO, 'tests/bench/client'), rest || 'index.html'];
  const path = normalize(join(root, file));
  if (!path.startsWith(root + '/') || !existsSync(path)) return null;
  return { body: readFileSync(path), type: TYPES[path.slice(path.lastIndexOf('.'))] || 'application/octet-stream' };
}
let apiDown = false;
const upstream = new URL(BASE);
const agent = new http.Agent({ keepAlive: true });
const origin = http.createServer((req, res) => {
  const { pathname } = new URL(req.url, 'http://x');
  if (pathname.startsWith('/bench-client/')) {
    const f = benchFile(pathname);
    res.writeHead(f ? 200 : 404, { 'Content-Type': f ? f.type : 'text/plain', 'Cache-Control': 'no-cache' });
    res.end(f ? f.body : 'not found');
    return;
  }
  if (apiDown) {
    req.socket.destroy();
    return;
  }
  const up = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, agent,
    headers: { ...req.headers, host: upstream.host } }, (ur) => {
    res.writeHead(ur.statusCode, ur.headers);
    ur.pipe(res);
  });
  up.on('error', () => res.destroy());
  res.on('close', () => up.destroy());
  req.pipe(up);
});
await new Promise((resolve) => origin.listen(0, '127.0.0.1', resolve));
const PAGE = `http://127.0.0.1:${origin.address().port}`;
origin.unref();

// ---- the API, from Node, for seeding ----
async function devToken(user) {
  const res = await fetch(`${BASE}/dev/token?as=${encodeURIComponent(user)}`);
  if (!res.ok) throw new Error(`/dev/token: ${res.status} (the stack must run the local profile)`);
  return (await res.json()).token;
}
async function post(token, path, body) {
  const res = await fetch(BASE + path, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 201 && res.status !== 200) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}
async function seedChats(user, n) {
  const token = await devToken(user);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      await post(token, '/api/chats', { title: `bench chat ${String(i).padStart(4, '0')}`, timestamp: 1700000000000 + i });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

async function openBench(context, query) {
  const page = await context.newPage();
  page.on('pageerror', (e) => log(`page error: ${e}`));
  await page.goto(`${PAGE}/bench-client/index.html?${new URLSearchParams(query)}`);
  return page;
}

// ---- size ----
function measureSize() {
  const out = execFileSync('npm', ['run', '--silent', 'size'], { cwd: join(REPO, 'clients/js'), encoding: 'utf8', timeout: 60000 });
  const line = (label) => {
    const m = new RegExp(`^${label}: (\\d+) bytes minified, (\\d+) bytes min\\+gzip`, 'm').exec(out);
    return m ? { minified: Number(m[1]), gzip: Number(m[2]) } : null;
  };
  return { withIdb: line('with idb'), withoutIdb: line('without idb') };
}

// ---- load: a 1,000-chat replica read back, offline ----
async function measureLoad(browser) {
  const user = `bench-client-load-${process.pid}-${Date.now().toString(36)}`;
  const t0 = Date.now();
  await seedChats(user, N_CHATS);
  log(`seeded ${N_CHATS} chats for ${user} in ${Date.now() - t0} ms`);
  const context = await browser.newContext();
  try {
    // online once: the replica catches up from the server
    const page = await openBench(context, { user });
    await page.waitForFunction((n) => window.bench && bench.chats === n && bench.status &&
      bench.status.connection === 'online' && bench.status.pending === 0, N_CHATS, { timeout: 60000 });
    await page.close();
    // offline: each reload reads the replica from IndexedDB only
    apiDown = true;
    const runs = [];
    for (let i = 0; i < N_RELOADS; i++) {
      const p = await openBench(context, { user });
      await p.waitForFunction(() => window.bench && bench.marks.firstFrame !== undefined, null, { timeout: 30000 });
      const b = await p.evaluate(() => ({ marks: bench.marks, firstCount: bench.firstCount, chats: bench.chats,
        connection: bench.status && bench.status.connection,
        htmlLoaded: performance.getEntriesByType('navigation')[0].responseEnd }));
      if (b.firstCount !== N_CHATS) throw new Error(`the first callback had ${b.firstCount} chats, not ${N_CHATS}`);
      runs.push(b);
      await p.close();
    }
    const pick = (k) => runs.map((r) => r.marks[k]);
    return {
      chats: N_CHATS, reloads: N_RELOADS, apiUnreachable: true,
      firstRenderMs: pick('firstRender').map((x) => round(x)),
      firstRenderMedianMs: round(median(pick('firstRender'))),
      firstCallbackMedianMs: round(median(pick('firstCallback'))),
      firstFrameMedianMs: round(median(pick('firstFrame'))),
      moduleStartMedianMs: round(median(pick('moduleStart'))),
      replicaOpenMedianMs: round(median(pick('replicaOpen'))),
      htmlLoadedMedianMs: round(median(runs.map((r) => r.htmlLoaded))),
      connectionAfter: runs.map((r) => r.connection),
    };
  } finally {
    apiDown = false;
    await context.close();
  }
}

// ---- live: one device writes, the other renders ----
async function measureLive(browser) {
  const user = `bench-client-live-${process.pid}-${Date.now().toString(36)}`;
  const token = await devToken(user);
  const { chat } = await post(token, '/api/chats', { title: 'latency' });
  const contexts = [await browser.newContext(), await browser.newContext()];
  try {
    const [a, b] = await Promise.all(contexts.map(async (c) => {
      const p = await openBench(c, { user, chat: chat.id });
      await p.waitForFunction(() => window.bench && bench.status && bench.status.connection === 'online' &&
        bench.chats === 1, null, { timeout: 30000 });
      return p;
    }));
    const lat = [];
    const ack = [];
    for (let i = 0; i < WARMUP + N_WRITES; i++) {
      const content = `lat-${i}`;
      const called = await a.evaluate((c) => window.benchWrite(c), content);
      await b.waitForFunction((c) => c in bench.seen, content, { timeout: 10000, polling: 5 });
      const shown = await b.evaluate((c) => bench.seen[c], content);
      await a.waitForFunction((c) => bench.writes[c].acked || bench.writes[c].error, content, { timeout: 10000, polling: 5 });
      const w = await a.evaluate((c) => bench.writes[c], content);
      if (w.error) throw new Error(`write ${content} failed: ${w.error}`);
      if (i >= WARMUP) {
        lat.push(shown - called);
        ack.push(w.acked - called);
      }
    }
    const stored = await fetch(`${BASE}/api/chats/${encodeURIComponent(chat.id)}/messages?limit=500`,
      { headers: { Authorization: `Bearer ${token}` } }).then((r) => r.json());
    if (stored.messages.length !== WARMUP + N_WRITES) throw new Error(`${stored.messages.length} messages stored`);
    return {
      writes: N_WRITES, warmup: WARMUP,
      otherDeviceMs: { p50: round(percentile(lat, 50)), p99: round(percentile(lat, 99)), max: round(Math.max(...lat)), min: round(Math.min(...lat)) },
      ackMs: { p50: round(percentile(ack, 50)), p99: round(percentile(ack, 99)) },
    };
  } finally {
    for (const c of contexts) await c.close();
  }
}

// ---- main, bounded ----
let browser;
const limitS = Number(process.env.BENCH_CLIENT_TIMEOUT_S || 240);
const deadline = setTimeout(async () => {
  log(`stopped after ${limitS} s`);
  await browser?.close().catch(() => {});
  process.exit(1);
}, limitS * 1000);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    await browser?.close().catch(() => {});
    process.exit(130);
  });
}

try {
  const result = { base: BASE, chromium: null, size: measureSize() };
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
  result.chromium = browser.version();
  log('load: seeding, syncing, then reloading offline');
  result.load = await measureLoad(browser);
  log(`load: first render median ${result.load.firstRenderMedianMs} ms`);
  log(`live: ${N_WRITES} writes device A -> device B`);
  result.live = await measureLive(browser);
  log(`live: p50 ${result.live.otherDeviceMs.p50} ms, p99 ${result.live.otherDeviceMs.p99} ms`);
  output(result);
} catch (err) {
  log(`failed: ${err.stack || err}`);
  output({ failed: String(err.message || err) });
  process.exitCode = 1;
} finally {
  clearTimeout(deadline);
  await browser?.close().catch(() => {});
  origin.close();
  agent.destroy();
}
