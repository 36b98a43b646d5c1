// Browser ops of the test driver: headless Chromium (Debian's, never a
// downloaded browser) through playwright-core; pages load the bundled harness (build/)
// from a static server on 127.0.0.1 (a secure context, so getUserMedia works).
import { chromium } from 'playwright-core';
import { createReadStream, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const BUILD = join(dirname(fileURLToPath(import.meta.url)), 'build');
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
  // TURN over TLS to the tests' self-signed certificate (test_browser_turn_tls.py)
  '--ignore-certificate-errors'];
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.map': 'application/json' };
const MAX_LOG = 3000;

const browsers = new Map();
const pages = new Map();
let nextPage = 1;
let baseUrl = null;

async function serve() {
  if (baseUrl) return baseUrl;
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^\/+/, '');
    if (path === 'favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    const file = join(BUILD, path || 'index.html');
    if (!file.startsWith(BUILD) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  server.unref();
  baseUrl = `http://127.0.0.1:${server.address().port}/`;
  return baseUrl;
}

function getPage(id) {
  const p = pages.get(id);
  if (!p) throw new Error(`no page ${id}`);
  return p;
}

function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, fail) => {
    timer = setTimeout(() => fail(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

export const ops = {
  // {name, executable, video: path.y4m, audio: path.wav, args: [...]}
  async launch({ name, executable, video, audio, args = [] }) {
    const flags = [...FLAGS, ...args];
    if (video) flags.push(`--use-file-for-fake-video-capture=${video}`);
    if (audio) flags.push(`--use-file-for-fake-audio-capture=${audio}`);
    const browser = await chromium.launch({ executablePath: executable, headless: true, args: flags });
    browsers.set(name, browser);
    return { version: browser.version() };
  },

  // a new context and page in browser `browser`, loaded with the harness; returns its id
  async open({ browser, label }) {
    const b = browsers.get(browser);
    if (!b) throw new Error(`no browser ${browser}`);
    const context = await b.newContext({ viewport: { width: 800, height: 600 } });
    const page = await context.newPage();
    const id = `p${nextPage++}`;
    const log = [];
    const push = (line) => {
      log.push(`${new Date().toISOString().slice(11, 23)} ${line}`);
      if (log.length > MAX_LOG) log.shift();
    };
    page.on('console', (m) => push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => push(`[pageerror] ${e.stack ?? e}`));
    page.on('crash', () => push('[crash] page crashed'));
    pages.set(id, { page, context, log, label: label ?? id });
    await page.goto((await serve()) + 'index.html');
    await page.waitForFunction(() => window.lkReady === true, null, { timeout: 15000 });
    return id;
  },

  // window.lk[fn](...args) in the page
  async call({ page, fn, args = [], ms = 30000 }) {
    const p = getPage(page).page;
    return withTimeout(p.evaluate(([f, a]) => window.lk[f](...a), [fn, args]), ms, `lk.${fn}`);
  },

  // PNG of the element with this id, written to path
  async screenshot({ page, element, path }) {
    await getPage(page).page.locator(`[id="${element}"]`).screenshot({ path, timeout: 10000 });
    return path;
  },

  log({ page }) {
    return getPage(page).log;
  },

  async close({ page }) {
    const p = getPage(page);
    pages.delete(page);
    await withTimeout(p.page.evaluate(() => window.lk.disconnect()), 5000, 'disconnect').catch(() => {});
    await p.context.close();
  },

  async quit({ name }) {
    await browsers.get(name)?.close();
    browsers.delete(name);
  },
};

export async function shutdown() {
  for (const b of browsers.values()) await b.close().catch(() => {});
}
