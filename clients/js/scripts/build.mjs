// The single-file build: dist/chatsync.js, index.js bundled with idb, minified,
// one ES module (no import map needed; a page loads one file instead of the 12
// modules and idb). The sources stay the package's entry for bundlers; the built
// file is committed, so that the demo, nginx and the bench page serve it without
// a build step, and `npm test` (test/dist.test.js) fails when it is stale.
//
//   npm run build            writes dist/chatsync.js
//   node scripts/build.mjs --stdout   prints it (what the test compares)
import { build } from 'esbuild';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const OUT = fileURLToPath(new URL('../dist/chatsync.js', import.meta.url));
const ENTRY = fileURLToPath(new URL('../index.js', import.meta.url));
const BANNER = '// @chatsync/client, single-file build of clients/js/index.js with idb (npm run build: do not edit)';

export async function bundle() {
  const out = await build({
    entryPoints: [ENTRY],
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2020',
    legalComments: 'none',
    banner: { js: BANNER },
    write: false,
  });
  return out.outputFiles[0].text;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const code = await bundle();
  if (process.argv.includes('--stdout')) process.stdout.write(code);
  else {
    writeFileSync(OUT, code);
    console.log(`${OUT}: ${code.length} bytes`);
  }
}
