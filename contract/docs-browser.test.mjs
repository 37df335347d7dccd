// Browser test of the API reference page (issue 7): headless Chromium loads
// /docs from a running groupsd and waits until every operation of
// openapi.yaml renders (found by its summary). Then (issue 19) it uses the
// page as a newcomer would: /docs/ lands on /docs, Authorize takes an API
// key, and "Try it out" runs List groups with every prefilled value as it
// is, Create a group, and Get a group with the new uuid, each answering
// success.
// Uses the Debian chromium package; playwright-core never downloads a browser.
//
// Without /usr/bin/chromium the test fails when CI=true and is skipped, with
// a message, otherwise. DOCS_URL (with DOCS_KEY, an API key for it) points it
// at an already running server instead of starting GROUPSD_BIN.
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
  let key = process.env.DOCS_KEY;
  if (!base) {
    const server = await startGroupsd({ orgs: ['docs'] });
    t.after(server.stop);
    base = server.url;
    key = server.keys.docs;
  }
  assert.ok(key, 'DOCS_URL needs DOCS_KEY, an API key of that server');

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

  // Typed with a trailing slash, the address still lands on the page.
  const res = await page.goto(`${base}/docs/`, { waitUntil: 'load', timeout: 30_000 });
  assert.equal(res.status(), 200, `GET ${base}/docs/ answered ${res.status()}`);
  assert.equal(new URL(page.url()).pathname, '/docs', `${base}/docs/ did not redirect to /docs`);
  for (const summary of summaries) {
    const literal = summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await page.locator('.opblock-summary-description', { hasText: new RegExp(`^${literal}$`) })
      .waitFor({ state: 'visible', timeout: 30_000 });
  }

  await tryItOut(page, key);

  const dir = mkdtempSync(join(tmpdir(), 'groupsd-docs-'));
  const shot = join(dir, 'docs.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.diagnostic(`screenshot: ${shot}`);
  console.log(`# screenshot: ${shot}`);

  assert.deepEqual(foreign, [], 'the page requested something outside the server');
  assert.deepEqual(problems, [], 'the page logged errors or failed requests');
});

/** The operation block whose summary is exactly summary. */
function operation(page, summary) {
  return page.locator('.opblock').filter({
    has: page.locator('.opblock-summary-description', { hasText: new RegExp(`^${summary}$`) }),
  });
}

/**
 * Expands the operation, presses "Try it out", lets fill change the form,
 * presses Execute and returns the live response's status and body.
 */
async function execute(page, summary, fill = async () => {}) {
  const op = operation(page, summary);
  await op.locator('.opblock-summary').first().click();
  await op.locator('button.try-out__btn').click();
  await fill(op);
  await op.locator('button.execute').click();
  const row = op.locator('.live-responses-table tbody tr.response').first();
  await row.waitFor({ state: 'visible', timeout: 15_000 });
  const status = Number((await row.locator('.response-col_status').innerText()).trim());
  const body = (await row.locator('.response-col_description pre').first().innerText()).trim();
  return { status, body };
}

/** Authorize with the key, then list, create and get through "Try it out". */
async function tryItOut(page, key) {
  await page.locator('.auth-wrapper button.authorize').click();
  const modal = page.locator('.dialog-ux .modal-ux');
  await modal.locator('input[type=text], input[type=password]').first().fill(key);
  await modal.locator('button.modal-btn.auth.authorize').click();
  await modal.locator('button.modal-btn.auth.btn-done').click();

  // List: every prefilled value is sent as it is. A server-issued value
  // (cursor) must not be prefilled: an invalid example made this a 400.
  const list = await execute(page, 'List groups', async (op) => {
    assert.equal(await op.locator('tr[data-param-name="cursor"] input').inputValue(), '',
      'cursor is prefilled; "Try it out" would send a cursor the server never issued');
  });
  assert.equal(list.status, 200, `List groups answered ${list.status}: ${list.body}`);

  const name = `Docs page ${Date.now()}`;
  const created = await execute(page, 'Create a group', async (op) => {
    assert.equal(await op.locator('tr[data-param-name="Idempotency-Key"] input').inputValue(), '',
      'Idempotency-Key is prefilled; a second create with another body would be 422');
    await op.locator('textarea.body-param__text').fill(JSON.stringify({ name, description: 'made in the docs page' }));
  });
  assert.equal(created.status, 201, `Create a group answered ${created.status}: ${created.body}`);
  const { uuid } = JSON.parse(created.body);
  assert.match(uuid, /^[0-9a-f-]{36}$/, `no uuid in ${created.body}`);

  const got = await execute(page, 'Get a group', async (op) => {
    assert.equal(await op.locator('tr[data-param-name="If-None-Match"] input').inputValue(), '',
      'If-None-Match is prefilled with an ETag the group may have');
    await op.locator('tr[data-param-name="uuid"] input').fill(uuid);
  });
  assert.equal(got.status, 200, `Get a group answered ${got.status}: ${got.body}`);
  assert.equal(JSON.parse(got.body).name, name);
}
