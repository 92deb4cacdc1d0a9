// The demo page in headless Chromium: it loads from the stack under its CSP,
// ?as= signs in, the dev-token route answers, a screenshot is saved on every
// run, and the page's forms (create, send, rename, branch, delete) work
// through the library against the real API. sync.test.js has the issue's
// sync scenarios.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { api, BASE, devToken, launch, messageTexts, openDemo, screenshot, uniqueUser,
  waitFor } from './harness.js';

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
    assert.equal(await page.getAttribute('body', 'data-library'), 'loaded', await page.textContent('#errors'));
    await page.waitForSelector('#status[data-state="online"]');
    assert.deepEqual(page.problems, []); // console errors, CSP violations, exceptions
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

test('the page through the library: create, send, rename, branch, delete', async () => {
  const user = uniqueUser('e2e-page');
  const context = await browser.newContext();
  try {
    const page = await openDemo(context, user);
    assert.equal(await page.getAttribute('body', 'data-library'), 'loaded');
    await page.fill('#new-chat input[name=title]', 'plumbing');
    await page.click('#new-chat button');
    await page.waitForSelector('#chat:not([hidden])');
    const chatId = decodeURIComponent(new URL(page.url()).hash.replace(/^#chat=/, ''));
    assert.ok(chatId);
    for (const text of ['first', 'second']) {
      await page.fill('#send textarea', text);
      await page.press('#send textarea', 'Enter');
    }
    await page.waitForFunction(() => {
      const items = [...document.querySelectorAll('#messages li')];
      return items.length === 2 && items.every((li) => li.dataset.pending === 'false');
    }, null, { timeout: 10000 });
    assert.deepEqual(await messageTexts(page), ['first', 'second']);
    await page.waitForSelector('#status[data-state="online"]');
    await page.waitForSelector('#outbox[data-pending="0"]');

    // stored on the server, for this user
    const path = `/api/chats/${encodeURIComponent(chatId)}`;
    const stored = await api(user, 'GET', `${path}/messages`);
    assert.equal(stored.status, 200);
    assert.deepEqual(stored.body.messages.map((m) => m.content), ['first', 'second']);

    await page.fill('#rename input[name=title]', 'renamed');
    await page.click('#rename button');
    await waitFor(async () => (await api(user, 'GET', path)).body?.chat?.title === 'renamed', 10000,
      'the new title on the server');
    await page.waitForSelector('#chats li[data-id][data-pending="false"]:text-is("renamed")');

    // branch from the first message: a new chat, opened, with a copy of it
    await page.click('#messages li:first-child button.branch');
    await page.waitForFunction((parent) => {
      const id = decodeURIComponent(location.hash.replace(/^#chat=/, ''));
      return id && id !== parent && document.querySelectorAll('#chats li').length === 2;
    }, chatId, { timeout: 10000 });
    const branchId = decodeURIComponent(new URL(page.url()).hash.replace(/^#chat=/, ''));
    await page.waitForSelector('#branch-of:not([hidden])');
    await page.waitForFunction(() => {
      const items = [...document.querySelectorAll('#messages li')];
      return items.length === 1 && items[0].dataset.pending === 'false';
    }, null, { timeout: 10000 });
    assert.deepEqual(await messageTexts(page), ['first']);
    const branch = await api(user, 'GET', `/api/chats/${encodeURIComponent(branchId)}`);
    assert.equal(branch.status, 200);
    assert.equal(branch.body.chat.parentChatId, chatId);
    await screenshot(page, 'demo-branch');

    // delete the branch: gone from the list and, soft-deleted, from the API's
    await page.click('#delete-chat');
    await page.waitForFunction(() => document.querySelectorAll('#chats li').length === 1);
    await waitFor(async () => {
      const chats = (await api(user, 'GET', '/api/chats')).body?.chats;
      return chats && chats.length === 1 && chats[0].id === chatId;
    }, 10000, 'the branch deleted on the server');
    await page.waitForSelector('#outbox[data-pending="0"]');
    assert.deepEqual(page.problems, []);
  } finally {
    await context.close();
  }
});
