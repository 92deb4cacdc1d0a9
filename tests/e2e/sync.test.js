// The end-to-end scenarios (issue 12, "Tests"), through the demo page
// and the library, in headless Chromium against the real stack.
//
// Two browser contexts are two devices (each its own IndexedDB); two pages of
// one context are two tabs of one browser.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, ARTIFACTS, launch, messageTexts, openDemo, screenshot, uniqueUser, waitFor } from './harness.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const figures = {};
after(() => {
  if (Object.keys(figures).length) {
    writeFileSync(join(ARTIFACTS, 'figures.json'), JSON.stringify(figures, null, 2) + '\n');
  }
});

// A new chat made through the page; its id (the page keeps it in the URL).
async function newChat(page, title) {
  await page.fill('#new-chat input[name=title]', title);
  await page.click('#new-chat button');
  await page.waitForSelector('#chat:not([hidden])');
  return decodeURIComponent(new URL(page.url()).hash.replace(/^#chat=/, ''));
}

async function send(page, text) {
  await page.fill('#send textarea', text);
  await page.click('#send button');
}

// Waits until the open chat shows exactly texts, all acknowledged.
function showsSettled(page, texts, ms = 10000) {
  return page.waitForFunction((want) => {
    const items = [...document.querySelectorAll('#messages li')];
    return items.length === want.length &&
      items.every((li, i) => li.dataset.pending === 'false' &&
        li.querySelector('.content').textContent === want[i]);
  }, texts, { timeout: ms });
}

// Waits until the open chat shows the acknowledged texts settled, then the
// texts pending, in that order.
function showsPending(page, settled, pending, ms) {
  return page.waitForFunction(([done, waiting]) => {
    const items = [...document.querySelectorAll('#messages li')];
    const want = [...done.map((t) => [t, 'false']), ...waiting.map((t) => [t, 'true'])];
    return items.length === want.length &&
      items.every((li, i) => li.dataset.pending === want[i][1] &&
        li.querySelector('.content').textContent === want[i][0]);
  }, [settled, pending], { timeout: ms });
}

// A device's link cut and restored. setOffline alone did not cut it once: in
// a CI run the server stored a message sent after the page showed offline (not
// reproduced in 30 runs here). The route refuses every API and sign-in request
// of the context, on every page and across a reload, as a dead link would;
// setOffline gives the pages their offline and online events.
const API_AND_SIGN_IN = /^[^?#]*\/(api|dev)\//;
async function goOffline(context) {
  await context.route(API_AND_SIGN_IN, (route) => route.abort('internetdisconnected'));
  await context.setOffline(true);
}
async function goOnline(context) {
  await context.unroute(API_AND_SIGN_IN);
  await context.setOffline(false);
}

async function storedTexts(user, chatId) {
  const res = await api(user, 'GET', `/api/chats/${encodeURIComponent(chatId)}/messages?limit=500`);
  assert.equal(res.status, 200);
  return res.body.messages.map((m) => m.content);
}

// The p-th percentile (nearest rank) of numbers.
function percentile(values, p) {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

test('two devices: a message sent on one shows on the other without a reload', async () => {
  const user = uniqueUser('e2e-devices');
  const [a, b] = [await browser.newContext(), await browser.newContext()];
  try {
    const pageA = await openDemo(a, user);
    const chatId = await newChat(pageA, 'two devices');
    const pageB = await openDemo(b, user, {}, `#chat=${encodeURIComponent(chatId)}`);
    await pageB.waitForSelector('#chat:not([hidden])');
    await pageB.waitForSelector('#status[data-state="online"]');
    let navigations = 0;
    pageB.on('framenavigated', () => navigations++);
    // Each sample: from the write call on A (the message's timestamp, which
    // the library takes from the clock at addMessage) to B's page showing it
    // (B's clock: the same machine's). Each within the 1 s (measured
    // p50 41-54 ms: a bound on correctness, a stream that works, not on speed);
    // the figures go to figures.json.
    const samples = [];
    const texts = [];
    for (let i = 0; i < 10; i++) {
      const text = `hello from A ${i}`;
      texts.push(text);
      await send(pageA, text);
      const shownAt = await (await pageB.waitForFunction((t) => [...document.querySelectorAll('#messages li .content')]
        .some((e) => e.textContent === t) && Date.now(), text, { timeout: 1000 })).jsonValue();
      const written = await pageA.waitForFunction((t) => {
        const li = [...document.querySelectorAll('#messages li')].find((e) => e.querySelector('.content').textContent === t);
        return li && Number(li.dataset.timestamp);
      }, text, { timeout: 5000 });
      const sample = shownAt - await written.jsonValue();
      assert.ok(sample <= 1000, `message ${i} showed on B ${sample} ms after it was written on A (more than 1 s)`);
      samples.push(sample);
    }
    await showsSettled(pageB, texts);
    assert.equal(navigations, 0, 'B must not reload');
    figures.otherDeviceRender = {
      what: 'ms from addMessage on device A to device B rendering it, through the stack (SSE)',
      samples: samples.length, p50: percentile(samples, 50), p99: percentile(samples, 99),
      max: Math.max(...samples),
    };
    await screenshot(pageB, 'two-devices-b');
  } finally {
    await a.close();
    await b.close();
  }
});

test('offline: 5 messages shown at once, kept across a reload, sent once each in order',
  async () => {
    const user = uniqueUser('e2e-offline');
    const [a, b] = [await browser.newContext(), await browser.newContext()];
    try {
      let pageA = await openDemo(a, user);
      const chatId = await newChat(pageA, 'offline');
      await send(pageA, 'online first');
      await showsSettled(pageA, ['online first']);
      const hash = `#chat=${encodeURIComponent(chatId)}`;
      const pageB = await openDemo(b, user, {}, hash);
      await showsSettled(pageB, ['online first']);

      // the page's files are in the service worker's cache (for the reload)
      await pageA.waitForSelector('body[data-offline="ready"]', { timeout: 10000 });
      await goOffline(a);
      await pageA.waitForSelector('#status[data-state="offline"]', { timeout: 30000 });
      const offline = ['off 1', 'off 2', 'off 3', 'off 4', 'off 5'];
      // one after the other, none waiting for the one before (their promises
      // stay pending while offline)
      for (const text of offline) await send(pageA, text);
      // shown at once (no network involved), marked pending
      await showsPending(pageA, ['online first'], offline, 5000);
      await pageA.waitForSelector('#outbox[data-pending="5"]', { timeout: 5000 });
      await screenshot(pageA, 'offline-pending');

      // reloaded while still offline: the page from the service worker's cache,
      // the messages from IndexedDB
      await pageA.reload();
      await pageA.waitForSelector('body[data-library="loaded"]');
      await showsPending(pageA, ['online first'], offline, 10000);
      assert.deepEqual(await storedTexts(user, chatId), ['online first']);

      await goOnline(a);
      await showsSettled(pageA, ['online first', ...offline], 30000);
      assert.deepEqual(await storedTexts(user, chatId), ['online first', ...offline]);
      await showsSettled(pageB, ['online first', ...offline], 10000);
      await pageA.waitForSelector('#outbox[data-pending="0"]');
      await pageA.waitForSelector('#status[data-state="online"]', { timeout: 10000 });
    } finally {
      await a.close();
      await b.close();
    }
  });

test('a write the server rejects (content over the limit) disappears and the error shows',
  async () => {
    const user = uniqueUser('e2e-reject');
    const context = await browser.newContext();
    try {
      const page = await openDemo(context, user);
      const chatId = await newChat(page, 'rejection');
      await send(page, 'fine');
      await showsSettled(page, ['fine']);
      // whether the page ever showed the over-limit message, pending (it may be
      // gone again before any poll would see it)
      await page.evaluate(() => {
        new MutationObserver(() => {
          for (const li of document.querySelectorAll('#messages li[data-pending="true"]')) {
            if (li.querySelector('.content').textContent.length > 1024 * 1024) window.sawOverLimit = true;
          }
        }).observe(document.getElementById('messages'), { childList: true });
      });
      await send(page, 'x'.repeat(1024 * 1024 + 1));
      await page.waitForSelector('#errors p.error', { timeout: 10000 });
      assert.equal(await page.evaluate(() => window.sawOverLimit), true, 'shown at once, pending');
      // the API's error as the library reports it: the code and the field
      assert.equal(await page.getAttribute('#errors p.error', 'data-code'), 'bad_request');
      assert.match(await page.textContent('#errors'), /content: /);
      await showsSettled(page, ['fine']);
      await page.waitForSelector('#outbox[data-pending="0"]');
      assert.deepEqual(await storedTexts(user, chatId), ['fine']);
      // shown once (the error event), not once more for the rejected promise
      assert.equal(await page.$$eval('#errors p.error', (l) => l.length), 1);
      await screenshot(page, 'rejected');
    } finally {
      await context.close();
    }
  });

test('a token that expires mid-stream is renewed; no change is missed', async () => {
  const user = uniqueUser('e2e-reauth');
  const context = await browser.newContext();
  try {
    // Tokens of 2 s (the services allow 5 s of leeway): each stream ends with
    // event: reauth within seconds, and the page's getToken is asked again.
    const page = await openDemo(context, user, { ttl: '2' });
    let tokenRequests = 0;
    let streams = 0;
    let catchUps = 0; // plain delta requests (not a stream, not a long-poll)
    const resumedFrom = []; // each stream's Last-Event-ID
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname === '/dev/token') tokenRequests++;
      if (url.pathname !== '/api/sync') return;
      if (/text\/event-stream/.test(r.headers().accept || '')) {
        streams++;
        resumedFrom.push(r.headers()['last-event-id']);
      } else if (!url.searchParams.get('live')) {
        catchUps++;
      }
    });
    const chatId = await newChat(page, 'reauth');
    const path = `/api/chats/${encodeURIComponent(chatId)}/messages`;
    const written = [];
    // Another device writes each time the page has opened a new stream, i.e.
    // just after a reauth, while the new stream starts from the last cursor.
    for (let i = 0; i < 3; i++) {
      const seen = streams;
      await waitFor(() => streams > seen, 20000, `stream ${seen + 1} after a reauth`);
      const text = `from elsewhere ${i}`;
      const before = catchUps;
      assert.equal((await api(user, 'POST', path, { role: 'assistant', content: text })).status, 201);
      written.push(text);
      // through the resumed stream: shown with no catch-up request after the write
      await page.waitForFunction((t) => [...document.querySelectorAll('#messages li .content')]
        .some((e) => e.textContent === t), text, { timeout: 2000 });
      assert.equal(catchUps, before, `change ${i} needed a catch-up: the stream did not carry it`);
    }
    await showsSettled(page, written, 15000);
    // every stream after the chat was made resumes from a cursor (opaque), not
    // from the start, and the cursor moves on with the changes
    const resumes = resumedFrom.slice(-3);
    assert.ok(resumes.every((id) => id && id !== '0'), JSON.stringify(resumedFrom));
    assert.notEqual(resumes[2], resumes[0], JSON.stringify(resumedFrom));
    assert.ok(streams >= 3, `${streams} streams`);
    assert.ok(tokenRequests >= 3, `getToken fetched ${tokenRequests} tokens`);
    await page.waitForSelector('#status[data-state="online"]');
  } finally {
    await context.close();
  }
});

test('two tabs: one sends the outbox and holds the one stream, both are live', async () => {
  const user = uniqueUser('e2e-tabs');
  const context = await browser.newContext();
  try {
    // live requests (SSE or long-poll) per tab, counted from the first page on
    const live = { tab1: 0, tab2: 0 };
    const posts = { tab1: 0, tab2: 0 };
    const count = (name) => (r) => {
      const url = new URL(r.url());
      if (r.method() === 'POST' && /\/api\/chats\/[^/]+\/messages$/.test(url.pathname)) posts[name]++;
      if (url.pathname === '/api/sync' && (/text\/event-stream/.test(r.headers().accept || '') || url.searchParams.get('live'))) live[name]++;
    };
    context.on('page', (p) => p.on('request', count(context.pages().length === 1 ? 'tab1' : 'tab2')));
    const tab1 = await openDemo(context, user);
    const chatId = await newChat(tab1, 'two tabs');
    const tab2 = await openDemo(context, user, {}, `#chat=${encodeURIComponent(chatId)}`);
    await tab2.waitForSelector('#chat:not([hidden])');
    // the follower shows the leader's connection
    await tab2.waitForSelector('#status[data-state="online"]', { timeout: 10000 });
    await send(tab1, 'from tab 1');
    await send(tab2, 'from tab 2');
    const both = ['from tab 1', 'from tab 2'];
    await showsSettled(tab1, both);
    await showsSettled(tab2, both);
    assert.deepEqual(await storedTexts(user, chatId), both);
    // one sender: every POST came from the same tab, one per message
    assert.equal(posts.tab1 + posts.tab2, 2, JSON.stringify(posts));
    assert.ok(posts.tab1 === 0 || posts.tab2 === 0, JSON.stringify(posts));
    // both tabs live on a change from another device, through one stream
    const elsewhere = 'from another device';
    const path = `/api/chats/${encodeURIComponent(chatId)}/messages`;
    assert.equal((await api(user, 'POST', path, { role: 'assistant', content: elsewhere })).status, 201);
    await showsSettled(tab1, [...both, elsewhere]);
    await showsSettled(tab2, [...both, elsewhere]);
    assert.ok(live.tab1 > 0 || live.tab2 > 0, JSON.stringify(live));
    assert.ok(live.tab1 === 0 || live.tab2 === 0, `one tab holds the live stream: ${JSON.stringify(live)}`);
  } finally {
    await context.close();
  }
});
