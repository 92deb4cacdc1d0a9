// The end-to-end scenarios (issue 12, "Tests"), through the demo page
// and the library, in headless Chromium against the real stack. Each is
// skipped, saying why, while the library (clients/js/) is not served.
//
// Two browser contexts are two devices (each its own IndexedDB); two pages of
// one context are two tabs of one browser.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, ARTIFACTS, launch, messageTexts, NO_LIBRARY, openDemo, screenshot, uniqueUser,
  waitFor } from './harness.js';

let browser;
before(async () => { if (!NO_LIBRARY) browser = await launch(); });
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

async function storedTexts(user, chatId) {
  const res = await api(user, 'GET', `/api/chats/${encodeURIComponent(chatId)}/messages?limit=500`);
  assert.equal(res.status, 200);
  return res.body.messages.map((m) => m.content);
}

test('two devices: a message sent on one shows on the other without a reload', { skip: NO_LIBRARY },
  async () => {
    const user = uniqueUser('e2e-devices');
    const [a, b] = [await browser.newContext(), await browser.newContext()];
    try {
      const pageA = await openDemo(a, user);
      const chatId = await newChat(pageA, 'two devices');
      const pageB = await openDemo(b, user, {}, `#chat=${encodeURIComponent(chatId)}`);
      await pageB.waitForSelector('#chat:not([hidden])');
      let navigations = 0;
      pageB.on('framenavigated', () => navigations++);
      const started = Date.now();
      await send(pageA, 'hello from A');
      await pageB.waitForFunction(() => [...document.querySelectorAll('#messages li .content')]
        .some((e) => e.textContent === 'hello from A'), null, { timeout: 5000 });
      figures.otherDeviceRenderMs = Date.now() - started; // the issue aims at 1 s: a figure, not a test
      assert.equal(navigations, 0, 'B must not reload');
      await screenshot(pageB, 'two-devices-b');
    } finally {
      await a.close();
      await b.close();
    }
  });

test('offline: 5 messages shown at once, kept across a reload, sent once each in order',
  { skip: NO_LIBRARY }, async () => {
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

      await a.setOffline(true);
      await pageA.waitForSelector('#status[data-state="offline"]', { timeout: 30000 });
      const offline = ['off 1', 'off 2', 'off 3', 'off 4', 'off 5'];
      for (const text of offline) await send(pageA, text);
      // shown at once, marked pending
      assert.deepEqual(await messageTexts(pageA), ['online first', ...offline]);
      assert.equal(await pageA.$$eval('#messages li[data-pending="true"]', (l) => l.length), 5);
      assert.equal(await pageA.getAttribute('#outbox', 'data-pending'), '5');
      await screenshot(pageA, 'offline-pending');

      // reloaded while still offline: the page from the service worker's cache,
      // the messages from IndexedDB
      await pageA.reload();
      await pageA.waitForSelector('body[data-library="loaded"]');
      await pageA.waitForFunction((n) => document.querySelectorAll('#messages li').length === n, 6);
      assert.deepEqual(await messageTexts(pageA), ['online first', ...offline]);
      assert.deepEqual(await storedTexts(user, chatId), ['online first']);

      await a.setOffline(false);
      await showsSettled(pageA, ['online first', ...offline], 30000);
      assert.deepEqual(await storedTexts(user, chatId), ['online first', ...offline]);
      await showsSettled(pageB, ['online first', ...offline], 10000);
      await pageA.waitForSelector('#outbox[data-pending="0"]');
    } finally {
      await a.close();
      await b.close();
    }
  });

test('a write the server rejects (content over the limit) disappears and the error shows',
  { skip: NO_LIBRARY }, async () => {
    const user = uniqueUser('e2e-reject');
    const context = await browser.newContext();
    try {
      const page = await openDemo(context, user);
      const chatId = await newChat(page, 'rejection');
      await send(page, 'fine');
      await showsSettled(page, ['fine']);
      await send(page, 'x'.repeat(1024 * 1024 + 1));
      await page.waitForSelector('#errors p.error', { timeout: 10000 });
      assert.match(await page.textContent('#errors'), /content/i);
      await showsSettled(page, ['fine']);
      await page.waitForSelector('#outbox[data-pending="0"]');
      assert.deepEqual(await storedTexts(user, chatId), ['fine']);
      await screenshot(page, 'rejected');
    } finally {
      await context.close();
    }
  });

test('a token that expires mid-stream is renewed; no change is missed', { skip: NO_LIBRARY },
  async () => {
    const user = uniqueUser('e2e-reauth');
    const context = await browser.newContext();
    try {
      // tokens of 2 s (the services allow 5 s of leeway): the stream ends with
      // event: reauth within seconds, and the page's getToken is asked again
      const page = await openDemo(context, user, { ttl: '2' });
      let tokenRequests = 0;
      page.on('request', (r) => { if (new URL(r.url()).pathname === '/dev/token') tokenRequests++; });
      const chatId = await newChat(page, 'reauth');
      const path = `/api/chats/${encodeURIComponent(chatId)}/messages`;
      const written = [];
      // another device writes across 12 s, past at least one expiry
      for (let i = 0; i < 4; i++) {
        const text = `from elsewhere ${i}`;
        assert.equal((await api(user, 'POST', path, { role: 'assistant', content: text })).status, 201);
        written.push(text);
        await new Promise((r) => setTimeout(r, 4000));
      }
      await showsSettled(page, written, 15000);
      assert.ok(tokenRequests >= 2, `getToken was asked ${tokenRequests} times`);
      await page.waitForSelector('#status[data-state="online"]');
    } finally {
      await context.close();
    }
  });

test('two tabs: one sends the outbox, both are live', { skip: NO_LIBRARY }, async () => {
  const user = uniqueUser('e2e-tabs');
  const context = await browser.newContext();
  try {
    const tab1 = await openDemo(context, user);
    const chatId = await newChat(tab1, 'two tabs');
    const tab2 = await openDemo(context, user, {}, `#chat=${encodeURIComponent(chatId)}`);
    await tab2.waitForSelector('#chat:not([hidden])');
    const posts = { tab1: 0, tab2: 0 };
    for (const [name, tab] of [['tab1', tab1], ['tab2', tab2]]) {
      tab.on('request', (r) => {
        if (r.method() === 'POST' && /\/api\/chats\/[^/]+\/messages$/.test(new URL(r.url()).pathname)) {
          posts[name]++;
        }
      });
    }
    await send(tab1, 'from tab 1');
    await send(tab2, 'from tab 2');
    const both = ['from tab 1', 'from tab 2'];
    await showsSettled(tab1, both);
    await showsSettled(tab2, both);
    assert.deepEqual(await storedTexts(user, chatId), both);
    // one sender: every POST came from the same tab, one per message
    assert.equal(posts.tab1 + posts.tab2, 2, JSON.stringify(posts));
    assert.ok(posts.tab1 === 0 || posts.tab2 === 0, JSON.stringify(posts));
  } finally {
    await context.close();
  }
});
