// Shared test harness: starts the real securechat server on loopback with a temporary data
// folder, launches Debian's Chromium through playwright-core (never a downloaded browser),
// and collects console errors, page errors and CSP violations of every page.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const BIN = resolve(ROOT, process.env.SECURECHAT_BIN || 'target/debug/securechat');
export const SCREENSHOTS = join(ROOT, 'target', 'screenshots');

/** Why the browser suite cannot run here, or false. With CI set, a missing browser fails. */
export function skipReason() {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI) throw new Error(`Chromium is required in CI but ${CHROMIUM} is missing (apt-get install chromium)`);
    console.log('browser tests skipped: Chromium not installed');
    return 'Chromium not installed';
  }
  if (!existsSync(BIN)) throw new Error(`the server binary ${BIN} is missing: cargo build -p securechat first`);
  return false;
}

export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A postgres:// URL as libpq's environment (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE). */
function libpqEnv(url) {
  const u = new URL(url);
  const env = { PGHOST: u.hostname || '127.0.0.1', PGPORT: u.port || '5432', PGDATABASE: u.pathname.slice(1) || 'postgres' };
  if (u.username) env.PGUSER = decodeURIComponent(u.username);
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  return env;
}

/**
 * With SECURECHAT_TEST_BACKEND=postgres, a fresh PostgreSQL database for one server (made and
 * dropped with psql through SECURECHAT_TEST_POSTGRES_URL): { env, drop() }; else nothing.
 */
function testDatabase() {
  if (process.env.SECURECHAT_TEST_BACKEND !== 'postgres') return { env: {}, drop() {} };
  const admin = process.env.SECURECHAT_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `sc_web_${Math.random().toString(16).slice(2, 14)}`;
  // The URL (it may hold a password) reaches psql and the server through their environment,
  // never their command lines, and a failure is reported without it.
  const psql = (sql) => {
    try {
      execFileSync('psql', ['-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
        stdio: 'pipe',
        env: { ...process.env, ...libpqEnv(admin) },
      });
    } catch (e) {
      throw new Error(`psql failed (${sql}): ${e.stderr ? e.stderr.toString() : e.code}`);
    }
  };
  psql(`CREATE DATABASE ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    env: { SECURECHAT_DATABASE_URL: url.toString() },
    drop: () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/**
 * A running server: { url, port, dataDir, env, stop(), restart(), logs() }. Registration is
 * open unless `registration` names another mode (the server's own default is `invite`).
 * Loopback is exempt from the IP rule unless `ipAllow` says otherwise (false: no network is
 * exempt). `env` is what the server's environment adds (the database), for the admin commands
 * run beside it.
 */
export async function startServer({ args = [], ipAllow = '127.0.0.0/8', registration = 'open' } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'securechat-web-'));
  const database = testDatabase();
  const port = await freePort();
  let proc = null;
  let output = '';
  const url = `http://127.0.0.1:${port}`;
  const launch = async () => {
    const allow = ipAllow ? ['--ip-allow', ipAllow] : [];
    proc = spawn(BIN, ['--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, ...allow, '--registration', registration, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...database.env, RUST_LOG: process.env.RUST_LOG || 'warn' },
    });
    proc.stdout.on('data', (d) => (output += d));
    proc.stderr.on('data', (d) => (output += d));
    const exited = new Promise((r) => proc.once('exit', r));
    for (let i = 0; i < 200; i++) {
      try {
        const res = await fetch(`${url}/healthz`);
        if (res.ok) return;
      } catch {
        // not up yet
      }
      if (proc.exitCode !== null) break;
      await sleep(50);
    }
    await Promise.race([exited, sleep(10)]);
    throw new Error(`the server did not start:\n${output}`);
  };
  const stop = async () => {
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (proc.exitCode === null) proc.kill('SIGKILL');
  };
  await launch();
  return {
    url,
    port,
    dataDir,
    env: database.env,
    logs: () => output,
    stop,
    restart: launch,
    async close() {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
      database.drop();
    },
  };
}

/** Launches Chromium headless with the flags that work as root in this sandbox. */
export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * A new browser context and page that record problems: console errors, uncaught page
 * errors and Content-Security-Policy violations. `page.problems` lists them. `hasTouch`
 * emulates a touch screen (no hover).
 */
export async function openPage(browser, baseURL, { viewport = { width: 1280, height: 800 }, colorScheme = 'light', allow = [], hasTouch = false, ignoreHTTPSErrors = false } = {}) {
  const context = await browser.newContext({ baseURL, viewport, colorScheme, hasTouch, acceptDownloads: true, ignoreHTTPSErrors });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
    });
  });
  const page = await context.newPage();
  page.problems = [];
  // Errors a test expects (a refused login logs the 400 response, a stopped server the
  // refused connections): tests push patterns here for the steps that cause them.
  page.allowErrors = [...allow];
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (!text.startsWith('CSP violation') && page.allowErrors.some((re) => re.test(text))) return;
    page.problems.push(`console error: ${text}`);
  });
  page.on('pageerror', (err) => page.problems.push(`page error: ${err.message}`));
  return page;
}

/** Saves a screenshot as target/screenshots/NAME.png. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}
