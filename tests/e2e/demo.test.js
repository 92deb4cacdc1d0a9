// The demo page in headless Chromium, without needing the library: it loads
// from the stack under its CSP, ?as= signs in, the dev-token route answers, a
// screenshot is saved on every run, and (with the stand-in of
// clients/demo/dev-stub/, ?lib=stub) the page's forms, lists and error area
// work against the real API.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { api, BASE, devToken, LIBRARY, launch, messageTexts, openDemo, screenshot,
  uniqueUser, waitFor } from './harness.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('the dev-token route answers a token the API accepts', async () => {
  const user = uniqueUser('e2e-token');
  const token = await devToken(user, 120);
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url'));
  assert.equal(claims.sub, user);
  assert.equal(claims.exp - claims.iat, 120);
  const res = await fetch(`${BASE}/api/chats`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  assert.deepEqual((await res.json()).chats, []);
});

test('?as=alice signs the page in as alice, under its CSP; a screenshot is saved', async () => {
  const context = await browser.newContext();
  try {
    const page = await openDemo(context, 'alice');
    assert.equal(await page.textContent('#user'), 'alice');
    assert.match(await page.title(), /^alice · chatsync demo$/);
    assert.equal(await page.isVisible('#signin'), false);
    const library = await page.getAttribute('body', 'data-library');
    if (LIBRARY) {
      assert.equal(library, 'loaded', await page.textContent('#errors'));
      assert.deepEqual(page.problems, []);
    } else {
      // without the library the page says so, in its error area
      assert.equal(library, 'failed');
      assert.match(await page.textContent('#errors'), /library could not be loaded/);
    }
    assert.ok(!page.problems.some((p) => /Content Security Policy/i.test(p)), page.problems.join('\n'));
    const path = await screenshot(page, 'demo-alice');
    assert.ok(existsSync(path) && statSync(path).size > 1000, path);
  } finally {
    await context.close();
  }
});

test('without ?as= the page offers the development sign-in', async () => {
  const context = await browser.newContext();
  try {
    const page = await openDemo(context, null);
    assert.equal(await page.isVisible('#signin'), true);
    assert.equal(await page.isVisible('#app'), false);
    await page.fill('#signin input[name=as]', 'bob');
    await Promise.all([page.waitForURL(/[?&]as=bob/), page.click('#signin button')]);
    await page.waitForSelector('body[data-library]');
    assert.equal(await page.textContent('#user'), 'bob');
  } finally {
    await context.close();
  }
});

test('the page plumbing with the stand-in: create, send, rename, rejection, delete', async () => {
  const user = uniqueUser('e2e-stub');
  const context = await browser.newContext();
  try {
    const page = await openDemo(context, user, { lib: 'stub' });
    assert.equal(await page.getAttribute('body', 'data-library'), 'loaded');
    await page.fill('#new-chat input[name=title]', 'plumbing');
    await page.click('#new-chat button');
    await page.waitForSelector('#chat:not([hidden])');
    const chatId = decodeURIComponent(new URL(page.url()).hash.replace(/^#chat=/, ''));
    assert.ok(chatId);
    await page.fill('#send textarea', 'first');
    await page.press('#send textarea', 'Enter');
    await page.waitForSelector('#messages li[data-pending="false"]');
    assert.deepEqual(await messageTexts(page), ['first']);
    await page.waitForSelector('#status[data-state="online"]');
    await page.waitForSelector('#outbox[data-pending="0"]');

    // stored on the server, for this user
    const stored = await api(user, 'GET', `/api/chats/${encodeURIComponent(chatId)}/messages`);
    assert.equal(stored.status, 200);
    assert.deepEqual(stored.body.messages.map((m) => m.content), ['first']);

    await page.fill('#rename input[name=title]', 'renamed');
    await page.click('#rename button');
    const renamed = await waitFor(async () => {
      const r = await api(user, 'GET', `/api/chats/${encodeURIComponent(chatId)}`);
      return r.body?.chat?.title === 'renamed' && r;
    }, 10000);
    assert.equal(renamed.body.chat.title, 'renamed');

    // a message over the 1 MiB limit: shown, refused, gone, and the error shows
    await page.fill('#send textarea', 'x'.repeat(1024 * 1024 + 1));
    await page.click('#send button');
    await page.waitForSelector('#errors p.error');
    assert.match(await page.textContent('#errors'), /content/);
    await page.waitForFunction(() => document.querySelectorAll('#messages li').length === 1);
    assert.deepEqual(await messageTexts(page), ['first']);

    await page.click('#delete-chat');
    await page.waitForFunction(() => document.querySelectorAll('#chats li').length === 0);
    const gone = await api(user, 'GET', '/api/chats');
    assert.deepEqual(gone.body.chats, []);
    await screenshot(page, 'demo-stub');
  } finally {
    await context.close();
  }
});
