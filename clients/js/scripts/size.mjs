// The library's size as an app ships it: index.js bundled with idb, minified,
// gzipped (React's entry is not counted). Prints the raw and the gzip bytes.
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../index.js', import.meta.url));
for (const [label, external] of [['with idb', []], ['without idb', ['idb']]]) {
  const out = await build({ entryPoints: [entry], bundle: true, minify: true, format: 'esm', write: false, external });
  const code = out.outputFiles[0].contents;
  console.log(`${label}: ${code.length} bytes minified, ${gzipSync(code, { level: 9 }).length} bytes min+gzip`);
}
