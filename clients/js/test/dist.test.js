// dist/chatsync.js is committed (the demo and the bench page serve it without a
// build step): it must be what `npm run build` makes of the sources now, and it
// must export what index.js exports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { bundle, OUT } from '../scripts/build.mjs';
import * as sources from '../index.js';

test('dist/chatsync.js is up to date with the sources (run npm run build)', async () => {
  const committed = readFileSync(OUT, 'utf8');
  assert.ok(committed === (await bundle()), 'dist/chatsync.js differs from a fresh build: run `npm run build` in clients/js and commit it');
});

test('dist/chatsync.js exports what index.js exports, with no bare imports left', async () => {
  const built = await import('../dist/chatsync.js');
  assert.deepEqual(Object.keys(built).sort(), Object.keys(sources).sort());
  assert.doesNotMatch(readFileSync(OUT, 'utf8'), /\bfrom\s*["'](?![./])/, 'a bare import (idb) would need an import map');
});
