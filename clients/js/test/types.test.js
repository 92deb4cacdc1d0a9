// The shipped types (index.d.ts, react.d.ts) and test/types-usage.tsx, an app's
// use of every export, type-check under tsc --strict (npm run types). Here so
// that `npm test` and tests/run.py's js suite (node --test test/*.test.js) run it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const dir = fileURLToPath(new URL('..', import.meta.url));
const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));

test('tsc --strict: index.d.ts, react.d.ts and test/types-usage.tsx have no type error', { timeout: 120000 }, () => {
  assert.ok(existsSync(tsc), 'typescript is a devDependency: npm ci in clients/js');
  const run = spawnSync(process.execPath, [tsc, '-p', 'test/tsconfig.json'], { cwd: dir, encoding: 'utf8', timeout: 110000 });
  assert.equal(run.status, 0, `tsc -p test/tsconfig.json failed:\n${run.stdout}${run.stderr}`);
});
