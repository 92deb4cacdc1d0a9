// The end-to-end harness: Debian's Chromium (never a downloaded one) driven by
// playwright-core, against a running stack in the local profile.
//
// Environment (tests/run.py sets it for its private stack; by hand, after
// `make up`: eval "$(deploy/stack.sh env)"):
//   CHATSYNC_HTTP      the stack's base URL (http://127.0.0.1:8080)
//   CHATSYNC_RUN_DIR   the run folder; screenshots go to E2E_ARTIFACTS_DIR,
//                      default RUN/e2e/
//   CHROMIUM           the browser (/usr/bin/chromium, deploy/install-deps.sh)
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const BASE = (process.env.CHATSYNC_HTTP || 'http://127.0.0.1:8080').replace(/\/$/, '');
export const ARTIFACTS = process.env.E2E_ARTIFACTS_DIR ||
  join(process.env.CHATSYNC_RUN_DIR ||
    join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.run'), 'e2e');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

mkdirSync(ARTIFACTS, { recursive: true });

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // as root (CI), Chromium refuses to start inside its sandbox
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
}

// A page of the demo, signed in as user (null: not signed in), with what the
// browser complained about collected in page.problems (console errors, CSP
// violations, uncaught exceptions). query: more of the URL's query (lib, ttl).
export async function openDemo(context, user, query = {}, hash = '') {
  const page = await context.newPage();
  page.problems = [];
  page.on('console', (m) => { if (m.type() === 'error') page.problems.push(m.text()); });
  page.on('pageerror', (e) => page.problems.push(String(e)));
  const params = new URLSearchParams(query);
  if (user !== null) params.set('as', user);
  await page.goto(`${BASE}/?${params}${hash}`);
  await page.waitForSelector('body[data-library]');
  return page;
}

export async function devToken(user, ttl) {
  const query = new URLSearchParams({ as: user });
  if (ttl) query.set('ttl', String(ttl));
  const res = await fetch(`${BASE}/dev/token?${query}`);
  if (!res.ok) throw new Error(`/dev/token: ${res.status} ${await res.text()}`);
  return (await res.json()).token;
}

// One API request with a development token for user; {status, body}.
export async function api(user, method, path, body) {
  const res = await fetch(BASE + path, {
    method,
    headers: { Authorization: `Bearer ${await devToken(user)}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

// A user id no other run shares (the test stack's database outlives a file).
export function uniqueUser(prefix) {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}`;
}

export async function screenshot(page, name) {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

// The texts of the open chat's messages, in page order.
export function messageTexts(page) {
  return page.$$eval('#messages li .content', (els) => els.map((e) => e.textContent));
}

// Polls fn until it returns something truthy (its value) or ms pass (throws).
export async function waitFor(fn, ms, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
