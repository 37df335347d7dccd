// Browser test of the API reference page (issue 7): headless Chromium loads
// /docs from a running groupsd and waits until every operation of
// openapi.yaml renders (found by its summary).
// Uses the Debian chromium package; playwright-core never downloads a browser.
//
// Without /usr/bin/chromium the test fails when CI=true and is skipped, with
// a message, otherwise. DOCS_URL points it at an already running server
// instead of starting GROUPSD_BIN.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startGroupsd } from './lib/procs.mjs';
import { operationSummaries } from './lib/spec.mjs';

const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const summaries = operationSummaries();

const missing = !existsSync(executablePath);
if (missing && process.env.CI !== 'true') {
  console.error(`\n*** SKIPPING the /docs browser test: no Chromium at ${executablePath} (apt-get install chromium). CI=true makes this a failure. ***\n`);
}

test('docs page renders every operation', { skip: missing && process.env.CI !== 'true' ? `no Chromium at ${executablePath}` : false, timeout: 90_000 }, async (t) => {
  assert.ok(!missing, `CI=true and no Chromium at ${executablePath}: install the Debian chromium package`);

  let base = process.env.DOCS_URL;
  if (!base) {
    const server = await startGroupsd();
    t.after(server.stop);
    base = server.url;
  }

  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });

  // The page must work offline: anything not from the server under test is
  // refused and fails the test.
  const origin = new URL(base).origin;
  const foreign = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(origin + '/') || url.startsWith('data:')) return route.continue();
    foreign.push(url);
    return route.abort();
  });
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`); });
  page.on('response', (res) => { if (res.status() >= 400) problems.push(`${res.status()} ${res.url()}`); });

  const res = await page.goto(`${base}/docs`, { waitUntil: 'load', timeout: 30_000 });
  assert.equal(res.status(), 200, `GET ${base}/docs answered ${res.status()}`);
  for (const summary of summaries) {
    const literal = summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await page.locator('.opblock-summary-description', { hasText: new RegExp(`^${literal}$`) })
      .waitFor({ state: 'visible', timeout: 30_000 });
  }

  const dir = mkdtempSync(join(tmpdir(), 'groupsd-docs-'));
  const shot = join(dir, 'docs.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.diagnostic(`screenshot: ${shot}`);
  console.log(`# screenshot: ${shot}`);

  assert.deepEqual(foreign, [], 'the page requested something outside the server');
  assert.deepEqual(problems, [], 'the page logged errors or failed requests');
});
