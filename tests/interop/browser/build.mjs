// Bundles the test page (page/harness.js with the pinned livekit-client) into
// build/: index.html, harness.js and livekit-client's E2EE worker.
// Usage: node build.mjs   (scripts/setup runs it; the test fixture too when build/ is stale)
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'build');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, 'page', 'harness.js')],
  bundle: true,
  format: 'esm',
  target: 'chrome120',
  minifyWhitespace: true,
  minifySyntax: true,
  outfile: join(out, 'harness.js'),
  logLevel: 'warning',
});
copyFileSync(join(here, 'node_modules', 'livekit-client', 'dist', 'livekit-client.e2ee.worker.mjs'),
  join(out, 'e2ee-worker.js'));
copyFileSync(join(here, 'page', 'index.html'), join(out, 'index.html'));
