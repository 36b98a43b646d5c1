// Test driver: one JSON request a line on stdin, one reply a line on stdout
// (prefixed REPLY_PREFIX, so anything a library prints stays apart).
//   {"id": 1, "op": "browser.launch", ...}  ->  @@lk {"id": 1, "ok": true, "result": ...}
// Ops come from browsers.mjs (Chromium through playwright-core) and
// rtc_node.mjs (an @livekit/rtc-node participant), loaded when first used.
import { createInterface } from 'node:readline';

const REPLY_PREFIX = '@@lk ';
const modules = { browser: './browsers.mjs', node: './rtc_node.mjs' };
const loaded = {};

async function handle(req) {
  const [family, name] = req.op.split('.');
  if (!modules[family]) throw new Error(`unknown op ${req.op}`);
  loaded[family] ??= await import(modules[family]);
  const fn = loaded[family].ops[name];
  if (!fn) throw new Error(`unknown op ${req.op}`);
  return fn(req);
}

function reply(msg) {
  process.stdout.write(REPLY_PREFIX + JSON.stringify(msg) + '\n');
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  const req = JSON.parse(line);
  handle(req).then(
    (result) => reply({ id: req.id, ok: true, result: result ?? null }),
    (e) => reply({ id: req.id, ok: false, error: String(e?.stack ?? e) }),
  );
});
rl.on('close', async () => {
  for (const m of Object.values(loaded)) await m.shutdown?.().catch(() => {});
  process.exit(0);
});
