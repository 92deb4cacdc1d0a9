// A streamed assistant reply (issue 14) through the demo page and the library,
// in headless Chromium against the real stack: the app's server (here the test,
// with a development token) creates a streaming message and sends its chunks;
// two devices of the user show it growing, in order, to the exact final text,
// one of them reloaded mid-stream.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, devToken, BASE, launch, openDemo, screenshot, uniqueUser, waitFor } from './harness.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const CHUNKS = 200;
const PER_SECOND = 50;

// Records every text the page shows for message id (a MutationObserver on the
// list: the demo re-renders it per change), in window.__texts.
function record(page, id) {
  return page.evaluate((messageId) => {
    window.__texts = [];
    const look = () => {
      const li = document.querySelector(`#messages li[data-id="${CSS.escape(messageId)}"]`);
      if (!li) return;
      const text = li.querySelector('.content').textContent;
      if (window.__texts[window.__texts.length - 1] !== text) window.__texts.push(text);
      window.__streamingSeen ||= li.dataset.stream === 'streaming';
    };
    new MutationObserver(look).observe(document.getElementById('messages'), { childList: true, subtree: true, characterData: true });
    look();
  }, id);
}

async function post(token, path, body) {
  const res = await fetch(BASE + path, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = await res.json().catch(() => null);
  assert.equal(res.status, path.endsWith('/messages') ? 201 : 200, `${path}: ${JSON.stringify(json)}`);
  return json;
}

test('a streamed reply grows on two devices in order to its exact text, also on one reloaded mid-stream', async () => {
  const user = uniqueUser('e2e-stream');
  const made = await api(user, 'POST', '/api/chats', { title: 'streamed reply' });
  assert.equal(made.status, 201);
  const chatId = made.body.chat.id;
  const [a, b] = [await browser.newContext(), await browser.newContext()];
  try {
    const hash = `#chat=${encodeURIComponent(chatId)}`;
    const pages = [await openDemo(a, user, {}, hash), await openDemo(b, user, {}, hash)];
    for (const page of pages) await page.waitForSelector('#status[data-state="online"]');

    const token = await devToken(user, 600);
    const { message } = await post(token, `/api/chats/${encodeURIComponent(chatId)}/messages`, { role: 'assistant', content: 'Reply:', streamState: 'streaming' });
    for (const page of pages) await page.waitForSelector(`#messages li[data-id="${message.id}"][data-stream="streaming"]`);
    for (const page of pages) await record(page, message.id);

    // Chunks whose order shows in the text: any reordering, gap or repeat
    // makes a text that is not a prefix of the final one.
    const texts = Array.from({ length: CHUNKS }, (_, i) => ` ${i + 1}${i % 7 === 0 ? '\n' : ''}`);
    const final = 'Reply:' + texts.join('');
    const started = Date.now();
    let reloaded = null;
    for (let seq = 1; seq <= CHUNKS; seq++) {
      await post(token, `/api/messages/${message.id}/chunks`, { seq, text: texts[seq - 1] });
      if (seq === CHUNKS / 2) {
        // device B reloads mid-stream (not awaited: the writer keeps going)
        reloaded = pages[1].reload().then(async () => {
          await pages[1].waitForSelector('body[data-library]');
          await pages[1].waitForSelector(`#messages li[data-id="${message.id}"]`);
          const first = await pages[1].$eval(`#messages li[data-id="${message.id}"] .content`, (e) => e.textContent);
          await record(pages[1], message.id);
          return first;
        });
      }
      const wait = started + (seq * 1000) / PER_SECOND - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    const firstAfterReload = await reloaded;
    await post(token, `/api/messages/${message.id}/end`, { state: 'complete', seq: CHUNKS });

    for (const page of pages) {
      await page.waitForFunction(([id, want]) => {
        const li = document.querySelector(`#messages li[data-id="${id}"]`);
        return li && li.dataset.stream === 'complete' && li.querySelector('.content').textContent === want;
      }, [message.id, final], { timeout: 15000 }).catch(async (err) => {
        await screenshot(page, 'streaming-final');
        throw err;
      });
    }
    const [seenA, seenB] = await Promise.all(pages.map((p) => p.evaluate(() => window.__texts)));
    for (const [name, seen] of [['A', seenA], ['B after its reload', seenB]]) {
      for (const text of seen) assert.ok(final.startsWith(text), `${name} showed a text out of order: ${JSON.stringify(text.slice(-40))}`);
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i].length > seen[i - 1].length, `${name}'s text shrank`);
    }
    // The text grew per chunk, not only per window: the rows written in 4 s of
    // 250 ms windows (STREAM_FLUSH_MS) give at most ~18 texts, chunks 200
    // (fewer when renders coalesce on a loaded machine).
    console.log(`# distinct texts shown: A ${seenA.length}, B after its reload ${seenB.length}`);
    assert.ok(seenA.length >= CHUNKS / 4, `A showed ${seenA.length} distinct texts`);
    assert.ok(seenB.length >= 3, `B showed ${seenB.length} distinct texts after its reload`);
    assert.ok(await pages[0].evaluate(() => window.__streamingSeen), 'the streaming marker was shown');
    // after the reload B started from the text so far (not from nothing, not the end)
    assert.ok(final.startsWith(firstAfterReload) && firstAfterReload.length < final.length, `B after reload: ${JSON.stringify(firstAfterReload.slice(-40))}`);
    for (const page of pages) assert.deepEqual(page.problems, []);
  } finally {
    await a.close();
    await b.close();
  }
});
