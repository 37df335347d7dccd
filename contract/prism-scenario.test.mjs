import http from 'node:http';
// Live response validation: the real groupsd behind Prism, driven through
// every operation and every documented status code (except 500 and 503,
// which a healthy server cannot be made to answer from outside). Any response
// outside openapi.yaml fails the run with Prism's violations printed.
//
// GROUPSD_BIN names the binary. A second groupsd with --require-if-match (and
// its own Prism) provides the 428s.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Checker } from './lib/checker.mjs';
import { startGroupsd, startPrism } from './lib/procs.mjs';
import { operations } from './lib/spec.mjs';

const unknownId = '0193a1f4-6c2e-7d8a-9b1c-2f3e4d5a6b7c';
// A body over the 1 MiB limit, but otherwise a valid group.
const huge = JSON.stringify({ name: 'Huge', description: 'x'.repeat(1_100_000) });
// Documented, but a healthy server cannot be made to answer them from outside.
const unreachable = new Set(['500', '503']);
// Statuses Prism cannot carry: a GET with a body (stoplightio/prism#2259).
// The scenario checks them against the server directly.
const notProxyable = new Set(['listGroups 413', 'getGroup 413', 'listMembers 413', 'getMember 413', 'listUserGroups 413',
  'listReferences 413', 'getReference 413', 'listDeletedGroups 413', 'getDeletedGroup 413', 'listApiKeys 413', 'getApiKey 413']);
// Reached only by a race: tried hard, reported when missed, not required.
// (changeMembers 409 used to be here; GROUP_ARCHIVED now reaches it.)
const bestEffort = new Set([]);
// The default limit of groups per user (openapi.yaml info.description).
const maxGroupsPerUser = 1000;

let main; let strict; let check; let strictCheck; let A; let B; let C;

before(async () => {
  const servers = await Promise.all([
    // The org keys do the bulk of the scenario (the groups-per-user setup
    // alone sends 2,000 requests), so each has its own generous limit
    // (keys create --rate-limit --rate-burst); the other keys keep the
    // server's default (100/s, bursts of 200).
    startGroupsd({
      orgs: ['org-a', 'org-b', 'org-c'],
      keyArgs: ['--rate-limit', '100000', '--rate-burst', '100000'],
      extraKeys: {
        admin: { org: 'org-a', scopes: ['groups:read', 'groups:write', 'webhooks:manage', 'keys:manage'] },
        adminB: { org: 'org-b', scopes: ['keys:manage'] },
        keyReader: { org: 'org-a', scopes: ['groups:read', 'keys:manage'] },
        hooksOnly: { org: 'org-a', scopes: ['webhooks:manage'] },
      },
    }),
    startGroupsd({ orgs: ['org-a'], args: ['--require-if-match'] }),
  ]);
  [main, strict] = servers;
  const proxies = await Promise.all([startPrism(`${main.url}/api`), startPrism(`${strict.url}/api`)]);
  main.prism = proxies[0];
  strict.prism = proxies[1];
  check = new Checker(main.prism.url);
  strictCheck = new Checker(strict.prism.url);
  ({ 'org-a': A, 'org-b': B, 'org-c': C } = main.keys);
});

after(async () => {
  await Promise.all([main?.prism?.stop(), strict?.prism?.stop()]);
  await Promise.all([main?.stop(), strict?.stop()]);
});

// State shared by the steps, which run in order.
const g = {};

/**
 * Calls through Prism and asserts the status, printing the body otherwise.
 * A failure quotes the server's log lines for the request's id.
 */
async function expect(c, status, op, method, path, opts) {
  let res;
  try {
    res = await c.call(op, method, path, opts);
  } catch (err) {
    const id = /"requestId":"([^"]+)"/.exec(err.message)?.[1];
    const server = c === strictCheck ? strict : main;
    const log = id ? server.output().split('\n').filter((l) => l.includes(id)) : [];
    if (log.length) err.message += `\n  server log:\n    ${log.join('\n    ')}`;
    throw err;
  }
  assert.equal(res.status, status, `${op}: ${method} ${path}: got ${res.status}, want ${status}: ${res.text.slice(0, 500)}`);
  return res;
}

test('every operation answers 401 without a valid key', async () => {
  await expect(check, 401, 'listGroups', 'GET', '/v2/groups');
  await expect(check, 401, 'createGroup', 'POST', '/v2/groups', { key: 'gk_nope_nope', body: { name: 'x' } });
  await expect(check, 401, 'replaceGroup', 'PUT', '/v2/groups', { body: { uuid: unknownId, name: 'x' } });
  await expect(check, 401, 'getGroup', 'GET', `/v2/groups/${unknownId}`, { key: 'not-a-key' });
  await expect(check, 401, 'updateGroup', 'PATCH', `/v2/groups/${unknownId}`, { body: {}, contentType: 'application/merge-patch+json' });
  await expect(check, 401, 'deleteGroup', 'DELETE', `/v2/groups/${unknownId}`);
});

test('create answers 201 with Location and ETag', async () => {
  const res = await expect(check, 201, 'createGroup', 'POST', '/v2/groups', { key: A, body: { name: 'Finance', description: 'Approves every expense over 1,000 EUR.' } });
  g.finance = res.json;
  g.financeETag = res.headers.get('etag');
  assert.equal(res.headers.get('location'), `/api/v2/groups/${g.finance.uuid}`);
  assert.ok(g.financeETag, 'ETag');
  for (const name of ['Engineering', 'Marketing', 'Sales']) {
    const r = await expect(check, 201, 'createGroup', 'POST', '/v2/groups', { key: A, body: { name } });
    g[name] = r.json;
  }
});

test('create rejects a bad body (400), a taken name (409), a huge body (413), a non-JSON type (415)', async () => {
  await expect(check, 400, 'createGroup', 'POST', '/v2/groups', { key: A, body: { name: '   ' } });
  // Prism answers malformed JSON itself (its own 400, never forwarded), so
  // this one case goes straight to the server and its problem+json is checked here.
  const malformed = await fetch(`${main.url}/api/v2/groups`, { method: 'POST', headers: { Authorization: `Bearer ${A}`, 'Content-Type': 'application/json' }, body: '{"name": ' });
  assert.equal(malformed.status, 400);
  assert.equal(malformed.headers.get('content-type'), 'application/problem+json');
  assert.equal((await malformed.json()).code, 'VALIDATION_ERROR');
  await expect(check, 400, 'createGroup', 'POST', '/v2/groups', { key: A, body: { name: 'x', uuid: unknownId } });
  const conflict = await expect(check, 409, 'createGroup', 'POST', '/v2/groups', { key: A, body: { name: 'FINANCE' } });
  assert.equal(conflict.json.code, 'NAME_CONFLICT');
  await expect(check, 413, 'createGroup', 'POST', '/v2/groups', { key: A, raw: huge });
  await expect(check, 415, 'createGroup', 'POST', '/v2/groups', { key: A, raw: 'name=x', contentType: 'text/plain' });
});

test('Idempotency-Key replays the outcome (201) and refuses another body (422)', async () => {
  const key = `scenario-${Date.now()}`;
  const first = await expect(check, 201, 'createGroup', 'POST', '/v2/groups', { key: A, body: { name: 'Ops' }, headers: { 'Idempotency-Key': key } });
  const again = await expect(check, 201, 'createGroup', 'POST', '/v2/groups', { key: A, body: { name: 'Ops' }, headers: { 'Idempotency-Key': key } });
  assert.equal(again.headers.get('idempotent-replayed'), 'true');
  assert.equal(again.text, first.text);
  const reused = await expect(check, 422, 'createGroup', 'POST', '/v2/groups', { key: A, body: { name: 'Ops 2' }, headers: { 'Idempotency-Key': key } });
  assert.equal(reused.json.code, 'IDEMPOTENCY_KEY_REUSED');
});

test('Idempotency-Key in flight is 409 (best effort: needs a race)', async (t) => {
  // Concurrent first uses of one key: one creates, the others see it either
  // in flight (409) or done (201 replayed). Every answer is validated either way.
  // Through Prism the window is narrow (a few 409s per hundred requests), so
  // rounds of 16 go on until one is seen, for at most 40 rounds or 8 s.
  let inFlight = 0;
  const deadline = Date.now() + 8000;
  for (let round = 0; round < 40 && inFlight === 0 && Date.now() < deadline; round++) {
    const key = `race-${round}-${Date.now()}`;
    const results = await Promise.all(Array.from({ length: 16 }, () =>
      check.call('createGroup', 'POST', '/v2/groups', { key: A, body: { name: `Rush ${round}` }, headers: { 'Idempotency-Key': key } })));
    for (const r of results) {
      assert.ok([201, 409].includes(r.status), `got ${r.status}: ${r.text}`);
      if (r.status === 409) {
        assert.equal(r.json.code, 'IDEMPOTENCY_IN_FLIGHT');
        inFlight++;
      }
    }
    assert.equal(results.filter((r) => r.status === 201 && r.headers.get('idempotent-replayed') !== 'true').length, 1, 'exactly one request creates');
  }
  t.diagnostic(inFlight ? `reached IDEMPOTENCY_IN_FLIGHT ${inFlight} times` : 'IDEMPOTENCY_IN_FLIGHT not reached: every race was won cleanly');
});

test('list pages by offset and by cursor, sorted (200); bad parameters are 400', async () => {
  const first = await expect(check, 200, 'listGroups', 'GET', '/v2/groups?size=2&sort=name,desc&q=e', { key: A });
  // Names containing "e": Finance, Engineering, Marketing, Sales.
  assert.deepEqual(first.json.content.map((x) => x.name), ['Sales', 'Marketing']);
  assert.equal(first.json.page.totalElements, 4);
  assert.equal(first.json.page.totalPages, 2);
  assert.ok(first.json.page.next, 'a cursor to the next page');
  const byCursor = await expect(check, 200, 'listGroups', 'GET', `/v2/groups?size=2&sort=name,desc&q=e&cursor=${encodeURIComponent(first.json.page.next)}`, { key: A });
  assert.deepEqual(byCursor.json.content.map((x) => x.name), ['Finance', 'Engineering']);
  assert.equal(byCursor.json.page.next, null);
  const byOffset = await expect(check, 200, 'listGroups', 'GET', '/v2/groups?size=2&page=1&sort=name,desc&q=e', { key: A });
  assert.deepEqual(byOffset.json.content, byCursor.json.content);
  // Far past the end whatever the earlier steps created (the in-flight race adds up to 40 groups).
  const past = await expect(check, 200, 'listGroups', 'GET', '/v2/groups?size=2&page=100000', { key: A });
  assert.deepEqual(past.json.content, []);
  const otherOrg = await expect(check, 200, 'listGroups', 'GET', '/v2/groups', { key: B });
  assert.deepEqual(otherOrg.json.content, []);
  await expect(check, 400, 'listGroups', 'GET', '/v2/groups?size=0', { key: A });
  await expect(check, 400, 'listGroups', 'GET', '/v2/groups?sort=colour', { key: A });
  await expect(check, 400, 'listGroups', 'GET', '/v2/groups?cursor=not-a-cursor', { key: A });
});

test('get answers 200 with the ETag, 304 for If-None-Match, 404 across orgs, 400 for a bad uuid', async () => {
  const res = await expect(check, 200, 'getGroup', 'GET', `/v2/groups/${g.finance.uuid}`, { key: A });
  assert.deepEqual(res.json, g.finance);
  assert.equal(res.headers.get('etag'), g.financeETag);
  const cached = await expect(check, 304, 'getGroup', 'GET', `/v2/groups/${g.finance.uuid}`, { key: A, headers: { 'If-None-Match': g.financeETag } });
  assert.equal(cached.headers.get('etag'), g.financeETag);
  // The same path without /api answers too (straight to the server, not via Prism).
  const direct = await fetch(`${main.url}/v2/groups/${g.finance.uuid}`, { headers: { Authorization: `Bearer ${A}` } });
  assert.equal(direct.status, 200);
  const missing = await expect(check, 404, 'getGroup', 'GET', `/v2/groups/${g.finance.uuid}`, { key: B });
  assert.equal(missing.json.code, 'NOT_FOUND');
  await expect(check, 404, 'getGroup', 'GET', `/v2/groups/${unknownId}`, { key: A });
  await expect(check, 400, 'getGroup', 'GET', '/v2/groups/not-a-uuid', { key: A });
});

test('patch applies with If-Match (200) and answers 400, 404, 409, 412, 413, 415', async (t) => {
  const path = `/v2/groups/${g.finance.uuid}`;
  const mp = 'application/merge-patch+json';
  await t.test('200 with If-Match, new ETag', async () => {
    const res = await expect(check, 200, 'updateGroup', 'PATCH', path, { key: A, body: { description: null }, contentType: mp, headers: { 'If-Match': g.financeETag } });
    assert.equal(res.json.description, null);
    assert.notEqual(res.headers.get('etag'), g.financeETag);
    g.staleETag = g.financeETag;
    g.financeETag = res.headers.get('etag');
  });
  await t.test('200 for application/json too', async () => {
    await expect(check, 200, 'updateGroup', 'PATCH', path, { key: A, body: {}, headers: { 'If-Match': g.financeETag } });
  });
  await t.test('412 for a stale If-Match', async () => {
    const res = await expect(check, 412, 'updateGroup', 'PATCH', path, { key: A, body: { description: 'x' }, contentType: mp, headers: { 'If-Match': g.staleETag } });
    assert.equal(res.json.code, 'PRECONDITION_FAILED');
  });
  await t.test('409 for a taken name', async () => {
    const res = await expect(check, 409, 'updateGroup', 'PATCH', path, { key: A, body: { name: 'engineering' }, contentType: mp });
    assert.equal(res.json.code, 'NAME_CONFLICT');
  });
  await t.test('400 for a null name and a bad uuid', async () => {
    await expect(check, 400, 'updateGroup', 'PATCH', path, { key: A, body: { name: null }, contentType: mp });
    await expect(check, 400, 'updateGroup', 'PATCH', '/v2/groups/not-a-uuid', { key: A, body: {}, contentType: mp });
  });
  await t.test('404 for an unknown uuid', async () => {
    await expect(check, 404, 'updateGroup', 'PATCH', `/v2/groups/${unknownId}`, { key: A, body: {}, contentType: mp });
  });
  await t.test('413 for a body over 1 MiB', async () => {
    await expect(check, 413, 'updateGroup', 'PATCH', path, { key: A, raw: huge, contentType: mp });
  });
  await t.test('415 for text/plain', async () => {
    await expect(check, 415, 'updateGroup', 'PATCH', path, { key: A, raw: 'description=x', contentType: 'text/plain' });
  });
});

test('put replaces with If-Match (200) and answers 400, 404, 409, 412, 413, 415', async (t) => {
  const current = (await expect(check, 200, 'getGroup', 'GET', `/v2/groups/${g.finance.uuid}`, { key: A })).json;
  g.financeETag = (await expect(check, 200, 'getGroup', 'GET', `/v2/groups/${g.finance.uuid}`, { key: A })).headers.get('etag');
  await t.test('200 with If-Match: the GET body edited and sent back', async () => {
    const res = await expect(check, 200, 'replaceGroup', 'PUT', '/v2/groups', { key: A, body: { ...current, name: 'Finance & Control', description: 'Owns the budget.' }, headers: { 'If-Match': g.financeETag } });
    assert.equal(res.json.name, 'Finance & Control');
    g.staleETag = g.financeETag;
    g.financeETag = res.headers.get('etag');
  });
  await t.test('412 for a stale If-Match', async () => {
    await expect(check, 412, 'replaceGroup', 'PUT', '/v2/groups', { key: A, body: { uuid: current.uuid, name: 'Finance' }, headers: { 'If-Match': g.staleETag } });
  });
  await t.test('409 for a taken name', async () => {
    const res = await expect(check, 409, 'replaceGroup', 'PUT', '/v2/groups', { key: A, body: { uuid: current.uuid, name: 'SALES' } });
    assert.equal(res.json.code, 'NAME_CONFLICT');
  });
  await t.test('404 for an unknown uuid and across orgs', async () => {
    await expect(check, 404, 'replaceGroup', 'PUT', '/v2/groups', { key: A, body: { uuid: unknownId, name: 'Nobody' } });
    await expect(check, 404, 'replaceGroup', 'PUT', '/v2/groups', { key: B, body: { uuid: current.uuid, name: 'Theirs' } });
  });
  await t.test('400 without a name', async () => {
    await expect(check, 400, 'replaceGroup', 'PUT', '/v2/groups', { key: A, body: { uuid: current.uuid } });
  });
  await t.test('413 for a body over 1 MiB', async () => {
    await expect(check, 413, 'replaceGroup', 'PUT', '/v2/groups', { key: A, raw: huge });
  });
  await t.test('415 for application/xml', async () => {
    await expect(check, 415, 'replaceGroup', 'PUT', '/v2/groups', { key: A, raw: '<group/>', contentType: 'application/xml' });
  });
});

test('delete answers 412 for a stale If-Match, 400, then 204, then 404', async () => {
  const path = `/v2/groups/${g.finance.uuid}`;
  await expect(check, 412, 'deleteGroup', 'DELETE', path, { key: A, headers: { 'If-Match': '"stale"' } });
  await expect(check, 400, 'deleteGroup', 'DELETE', '/v2/groups/not-a-uuid', { key: A });
  await expect(check, 404, 'deleteGroup', 'DELETE', path, { key: B });
  await expect(check, 204, 'deleteGroup', 'DELETE', path, { key: A, headers: { 'If-Match': g.financeETag } });
  await expect(check, 404, 'deleteGroup', 'DELETE', path, { key: A });
  await expect(check, 404, 'getGroup', 'GET', path, { key: A });
});

test('with --require-if-match, writes without If-Match are 428', async () => {
  const key = strict.keys['org-a'];
  const created = await expect(strictCheck, 201, 'createGroup', 'POST', '/v2/groups', { key, body: { name: 'Strict' } });
  const path = `/v2/groups/${created.json.uuid}`;
  for (const [op, method, p, opts] of [
    ['updateGroup', 'PATCH', path, { body: { description: 'x' }, contentType: 'application/merge-patch+json' }],
    ['replaceGroup', 'PUT', '/v2/groups', { body: { uuid: created.json.uuid, name: 'Strict' } }],
    ['deleteGroup', 'DELETE', path, {}],
  ]) {
    const res = await expect(strictCheck, 428, op, method, p, { key, ...opts });
    assert.equal(res.json.code, 'PRECONDITION_REQUIRED');
  }
  await expect(strictCheck, 204, 'deleteGroup', 'DELETE', path, { key, headers: { 'If-Match': created.headers.get('etag') } });
});

test('a body over 1 MiB is 413 on every operation, even one that takes no body', async () => {
  await expect(check, 413, 'deleteGroup', 'DELETE', `/v2/groups/${unknownId}`, { key: A, raw: huge });
  // Prism cannot proxy a GET with a body (stoplightio/prism#2259: it answers
  // 501 itself), so these two go straight to the server and the problem+json
  // is checked here, like the malformed-JSON case above.
  for (const path of ['/api/v2/groups', `/api/v2/groups/${unknownId}`]) {
    assert.equal(await getWithHugeBody(path), 413, `GET ${path} with a 1 MiB + 1 body`);
  }
});

/**
 * Sends a GET with a body over 1 MiB straight to the server (Prism cannot
 * proxy it), checks the problem+json and returns the status.
 */
function getWithHugeBody(path, key = A) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${main.url}${path}`, { method: 'GET', headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(huge) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        try {
          assert.equal(res.headers['content-type'], 'application/problem+json');
          assert.equal(JSON.parse(Buffer.concat(chunks).toString()).code, 'PAYLOAD_TOO_LARGE');
          resolve(res.statusCode);
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject);
    req.end(huge);
  });
}

// Membership: every member operation and every documented status of it.
// The steps share m (the group, its path) and run in order.
const m = {};

test('member operations answer 401 without a valid key', async () => {
  const path = `/v2/groups/${unknownId}/members`;
  await expect(check, 401, 'listMembers', 'GET', path);
  await expect(check, 401, 'changeMembers', 'PATCH', path, { key: 'gk_nope_nope', body: { add: ['u1'] } });
  await expect(check, 401, 'getMember', 'GET', `${path}/u1`, { key: 'not-a-key' });
  await expect(check, 401, 'addMember', 'PUT', `${path}/u1`);
  await expect(check, 401, 'removeMember', 'DELETE', `${path}/u1`);
  await expect(check, 401, 'listUserGroups', 'GET', '/v2/users/u1/groups');
});

test('addMember answers 201 with Location, then 200 with the original addedAt; 400, 404, 413', async () => {
  const created = await expect(check, 201, 'createGroup', 'POST', '/v2/groups', { key: A, body: { name: 'Members' } });
  m.group = created.json;
  m.path = `/v2/groups/${m.group.uuid}/members`;
  assert.equal(m.group.memberCount, 0);
  const first = await expect(check, 201, 'addMember', 'PUT', `${m.path}/user-42`, { key: A });
  assert.equal(first.headers.get('location'), `/api${m.path}/user-42`);
  assert.equal(first.json.userId, 'user-42');
  const again = await expect(check, 200, 'addMember', 'PUT', `${m.path}/user-42`, { key: A });
  assert.deepEqual(again.json, first.json);
  assert.equal(again.headers.get('location'), null);
  const bad = await expect(check, 400, 'addMember', 'PUT', `${m.path}/-starts-with-a-dash`, { key: A });
  assert.equal(bad.json.code, 'VALIDATION_ERROR');
  await expect(check, 400, 'addMember', 'PUT', '/v2/groups/not-a-uuid/members/user-42', { key: A });
  const missing = await expect(check, 404, 'addMember', 'PUT', `/v2/groups/${unknownId}/members/user-42`, { key: A });
  assert.equal(missing.json.code, 'NOT_FOUND');
  // Another organization's group is a group that does not exist.
  await expect(check, 404, 'addMember', 'PUT', `${m.path}/user-42`, { key: B });
  await expect(check, 413, 'addMember', 'PUT', `${m.path}/user-43`, { key: A, raw: huge });
});

test('getMember answers 200, 404 MEMBER_NOT_FOUND and NOT_FOUND, 400', async () => {
  const res = await expect(check, 200, 'getMember', 'GET', `${m.path}/user-42`, { key: A });
  assert.equal(res.json.userId, 'user-42');
  const notIn = await expect(check, 404, 'getMember', 'GET', `${m.path}/user-43`, { key: A });
  assert.equal(notIn.json.code, 'MEMBER_NOT_FOUND');
  const noGroup = await expect(check, 404, 'getMember', 'GET', `/v2/groups/${unknownId}/members/user-42`, { key: A });
  assert.equal(noGroup.json.code, 'NOT_FOUND');
  await expect(check, 400, 'getMember', 'GET', `${m.path}/${'x'.repeat(256)}`, { key: A });
  assert.equal(await getWithHugeBody(`/api${m.path}/user-42`), 413);
});

test('changeMembers sorts every id (200), replays by Idempotency-Key, and answers 400, 404, 413, 415, 422', async (t) => {
  await t.test('200: the four lists, in the order sent', async () => {
    const res = await expect(check, 200, 'changeMembers', 'PATCH', m.path, { key: A, body: { add: ['user-7', 'user-42', 'B', 'a', 'Z'], remove: ['nobody'] } });
    assert.deepEqual(res.json, { added: ['user-7', 'B', 'a', 'Z'], alreadyMembers: ['user-42'], removed: [], notMembers: ['nobody'] });
    const removed = await expect(check, 200, 'changeMembers', 'PATCH', m.path, { key: A, body: { remove: ['Z'] } });
    assert.deepEqual(removed.json, { added: [], alreadyMembers: [], removed: ['Z'], notMembers: [] });
    const nothing = await expect(check, 200, 'changeMembers', 'PATCH', m.path, { key: A, body: {} });
    assert.deepEqual(nothing.json, { added: [], alreadyMembers: [], removed: [], notMembers: [] });
  });
  await t.test('400: one errors entry per duplicate id, pointing at it', async () => {
    const res = await expect(check, 400, 'changeMembers', 'PATCH', m.path, { key: A, body: { add: ['u1', 'u2', 'u1'], remove: ['u2', 'u3'] } });
    assert.equal(res.json.code, 'VALIDATION_ERROR');
    assert.deepEqual(res.json.errors.map((e) => e.pointer), ['/add/2', '/remove/0']);
    const badId = await expect(check, 400, 'changeMembers', 'PATCH', m.path, { key: A, body: { add: ['ok', ' spaced'] } });
    assert.ok(badId.json.errors.some((e) => e.pointer === '/add/1'), JSON.stringify(badId.json.errors));
    await expect(check, 400, 'changeMembers', 'PATCH', m.path, { key: A, body: { add: 'u1' } });
  });
  await t.test('404 for an unknown group', async () => {
    const res = await expect(check, 404, 'changeMembers', 'PATCH', `/v2/groups/${unknownId}/members`, { key: A, body: { add: ['u1'] } });
    assert.equal(res.json.code, 'NOT_FOUND');
  });
  await t.test('413 for a body over 1 MiB, 415 for text/plain', async () => {
    await expect(check, 413, 'changeMembers', 'PATCH', m.path, { key: A, raw: huge });
    await expect(check, 415, 'changeMembers', 'PATCH', m.path, { key: A, raw: 'add=u1', contentType: 'text/plain' });
  });
  await t.test('Idempotency-Key: the same body replays (200), another body is 422', async () => {
    const key = `members-${Date.now()}`;
    const body = { add: ['k1', 'k2'], remove: ['user-7'] };
    const first = await expect(check, 200, 'changeMembers', 'PATCH', m.path, { key: A, body, headers: { 'Idempotency-Key': key } });
    assert.deepEqual(first.json, { added: ['k1', 'k2'], alreadyMembers: [], removed: ['user-7'], notMembers: [] });
    const again = await expect(check, 200, 'changeMembers', 'PATCH', m.path, { key: A, body, headers: { 'Idempotency-Key': key } });
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.equal(again.text, first.text);
    const reused = await expect(check, 422, 'changeMembers', 'PATCH', m.path, { key: A, body: { add: ['k3'] }, headers: { 'Idempotency-Key': key } });
    assert.equal(reused.json.code, 'IDEMPOTENCY_KEY_REUSED');
    // Members now: B, a, k1, k2, user-42.
  });
  await t.test('409 while the same key is in flight (best effort: needs a race)', async (tt) => {
    let inFlight = 0;
    const deadline = Date.now() + 8000;
    for (let round = 0; round < 40 && inFlight === 0 && Date.now() < deadline; round++) {
      const key = `members-race-${round}-${Date.now()}`;
      const body = { add: [`race-${round}`] };
      const results = await Promise.all(Array.from({ length: 16 }, () =>
        check.call('changeMembers', 'PATCH', m.path, { key: A, body, headers: { 'Idempotency-Key': key } })));
      for (const r of results) {
        assert.ok([200, 409].includes(r.status), `got ${r.status}: ${r.text}`);
        if (r.status === 409) {
          assert.equal(r.json.code, 'IDEMPOTENCY_IN_FLIGHT');
          inFlight++;
        }
      }
      assert.equal(results.filter((r) => r.status === 200 && r.headers.get('idempotent-replayed') !== 'true').length, 1, 'exactly one request applies');
      await expect(check, 200, 'changeMembers', 'PATCH', m.path, { key: A, body: { remove: [`race-${round}`] } });
    }
    tt.diagnostic(inFlight ? `reached IDEMPOTENCY_IN_FLIGHT ${inFlight} times` : 'IDEMPOTENCY_IN_FLIGHT not reached: every race was won cleanly');
  });
});

test('listMembers pages by cursor and offset in byte order (200); memberCount agrees; 400, 404', async () => {
  const want = ['B', 'a', 'k1', 'k2', 'user-42'];
  const seen = [];
  let url = `${m.path}?size=2`;
  for (let pages = 0; url; pages++) {
    assert.ok(pages < want.length, 'the cursors end');
    const res = await expect(check, 200, 'listMembers', 'GET', url, { key: A });
    assert.equal(res.json.page.totalElements, want.length);
    assert.equal(res.json.page.totalPages, 3);
    seen.push(...res.json.content.map((x) => x.userId));
    url = res.json.page.next ? `${m.path}?size=2&cursor=${encodeURIComponent(res.json.page.next)}` : null;
  }
  assert.deepEqual(seen, want);
  const byOffset = await expect(check, 200, 'listMembers', 'GET', `${m.path}?size=2&page=1`, { key: A });
  assert.deepEqual(byOffset.json.content.map((x) => x.userId), ['k1', 'k2']);
  const past = await expect(check, 200, 'listMembers', 'GET', `${m.path}?page=9`, { key: A });
  assert.deepEqual(past.json.content, []);
  const group = await expect(check, 200, 'getGroup', 'GET', `/v2/groups/${m.group.uuid}`, { key: A });
  assert.equal(group.json.memberCount, want.length);
  await expect(check, 400, 'listMembers', 'GET', `${m.path}?size=0`, { key: A });
  await expect(check, 400, 'listMembers', 'GET', `${m.path}?cursor=not-a-cursor`, { key: A });
  await expect(check, 400, 'listMembers', 'GET', `${m.path}?page=1&cursor=x`, { key: A });
  await expect(check, 400, 'listMembers', 'GET', '/v2/groups/not-a-uuid/members', { key: A });
  const missing = await expect(check, 404, 'listMembers', 'GET', `/v2/groups/${unknownId}/members`, { key: A });
  assert.equal(missing.json.code, 'NOT_FOUND');
  await expect(check, 404, 'listMembers', 'GET', m.path, { key: B });
  assert.equal(await getWithHugeBody(`/api${m.path}`), 413);
});

test('listUserGroups pages the user\'s groups (200), empty for a stranger; 400', async () => {
  const names = ['Members', 'Engineering', 'Sales'];
  for (const name of names.slice(1)) {
    await expect(check, 200, 'changeMembers', 'PATCH', `/v2/groups/${g[name].uuid}/members`, { key: A, body: { add: ['user-42'] } });
  }
  const first = await expect(check, 200, 'listUserGroups', 'GET', '/v2/users/user-42/groups?size=2&sort=name', { key: A });
  assert.deepEqual(first.json.content.map((x) => x.name), ['Engineering', 'Members']);
  assert.equal(first.json.page.totalElements, 3);
  const next = await expect(check, 200, 'listUserGroups', 'GET', `/v2/users/user-42/groups?size=2&sort=name&cursor=${encodeURIComponent(first.json.page.next)}`, { key: A });
  assert.deepEqual(next.json.content.map((x) => x.name), ['Sales']);
  assert.equal(next.json.page.next, null);
  const filtered = await expect(check, 200, 'listUserGroups', 'GET', '/v2/users/user-42/groups?q=ale', { key: A });
  assert.deepEqual(filtered.json.content.map((x) => x.name), ['Sales']);
  const stranger = await expect(check, 200, 'listUserGroups', 'GET', '/v2/users/stranger/groups', { key: A });
  assert.deepEqual(stranger.json.content, []);
  const otherOrg = await expect(check, 200, 'listUserGroups', 'GET', '/v2/users/user-42/groups', { key: B });
  assert.deepEqual(otherOrg.json.content, []);
  await expect(check, 400, 'listUserGroups', 'GET', '/v2/users/user-42/groups?sort=colour', { key: A });
  await expect(check, 400, 'listUserGroups', 'GET', '/v2/users/user%2042/groups', { key: A });
  assert.equal(await getWithHugeBody('/api/v2/users/user-42/groups'), 413);
});

test('removeMember answers 204, 204 again when not a member, 400, 404, 413', async () => {
  await expect(check, 204, 'removeMember', 'DELETE', `${m.path}/user-42`, { key: A });
  await expect(check, 204, 'removeMember', 'DELETE', `${m.path}/user-42`, { key: A });
  const gone = await expect(check, 404, 'getMember', 'GET', `${m.path}/user-42`, { key: A });
  assert.equal(gone.json.code, 'MEMBER_NOT_FOUND');
  await expect(check, 400, 'removeMember', 'DELETE', `${m.path}/-x`, { key: A });
  const missing = await expect(check, 404, 'removeMember', 'DELETE', `/v2/groups/${unknownId}/members/a`, { key: A });
  assert.equal(missing.json.code, 'NOT_FOUND');
  await expect(check, 413, 'removeMember', 'DELETE', `${m.path}/a`, { key: A, raw: huge });
  const group = await expect(check, 200, 'getGroup', 'GET', `/v2/groups/${m.group.uuid}`, { key: A });
  assert.equal(group.json.memberCount, 4);
});

test('a write past the groups-per-user limit is 422 GROUP_LIMIT_EXCEEDED and changes nothing', async () => {
  // Org C's user "busy" joins the limit's number of groups, set up straight
  // against the server (only the 422s are the point here), 16 requests at a time.
  const direct = (method, path, body) => fetch(`${main.url}/api${path}`, {
    method, headers: { Authorization: `Bearer ${C}`, ...(body ? { 'Content-Type': 'application/json' } : {}) }, body: body && JSON.stringify(body),
  }).then(async (r) => {
    const text = await r.text();
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  });
  const indexes = Array.from({ length: maxGroupsPerUser + 1 }, (_, i) => i);
  const uuids = [];
  for (let i = 0; i < indexes.length; i += 16) {
    const batch = await Promise.all(indexes.slice(i, i + 16).map(async (n) => {
      const grp = await direct('POST', '/v2/groups', { name: `Limit ${n}` });
      if (n < maxGroupsPerUser) await direct('PUT', `/v2/groups/${grp.uuid}/members/busy`);
      return grp.uuid;
    }));
    uuids.push(...batch);
  }
  const last = uuids[maxGroupsPerUser];
  const add = await expect(check, 422, 'addMember', 'PUT', `/v2/groups/${last}/members/busy`, { key: C });
  assert.equal(add.json.code, 'GROUP_LIMIT_EXCEEDED');
  const change = await expect(check, 422, 'changeMembers', 'PATCH', `/v2/groups/${last}/members`, { key: C, body: { add: ['free', 'busy'] } });
  assert.equal(change.json.code, 'GROUP_LIMIT_EXCEEDED');
  const members = await expect(check, 200, 'listMembers', 'GET', `/v2/groups/${last}/members`, { key: C });
  assert.deepEqual(members.json.content, [], 'a refused change adds nobody');
  const groups = await expect(check, 200, 'listUserGroups', 'GET', '/v2/users/busy/groups?size=1', { key: C });
  assert.equal(groups.json.page.totalElements, maxGroupsPerUser);
});

// Lifecycle: status and archive, the status filter, the trash (list, get,
// restore, purge) and references guarding delete; every operation and every
// documented status of it. The steps share l and run in order, all in org A.
const l = {};
const mp = 'application/merge-patch+json';

/** The ETag of the group now (read through Prism). */
async function etagOf(uuid) {
  return (await expect(check, 200, 'getGroup', 'GET', `/v2/groups/${uuid}`, { key: A })).headers.get('etag');
}

test('lifecycle operations answer 401 without a valid key', async () => {
  const gp = `/v2/groups/${unknownId}`;
  const dp = `/v2/deleted-groups/${unknownId}`;
  await expect(check, 401, 'listReferences', 'GET', `${gp}/references`);
  await expect(check, 401, 'getReference', 'GET', `${gp}/references/chain-7`, { key: 'not-a-key' });
  await expect(check, 401, 'putReference', 'PUT', `${gp}/references/chain-7`, { body: { kind: 'budget', displayName: 'B' } });
  await expect(check, 401, 'deleteReference', 'DELETE', `${gp}/references/chain-7`, { key: 'gk_nope_nope' });
  await expect(check, 401, 'listDeletedGroups', 'GET', '/v2/deleted-groups');
  await expect(check, 401, 'getDeletedGroup', 'GET', dp);
  await expect(check, 401, 'purgeDeletedGroup', 'DELETE', dp);
  await expect(check, 401, 'restoreDeletedGroup', 'POST', `${dp}/restore`);
});

test('archive and reactivate by PATCH and PUT with If-Match (200, no-op 200, 412)', async () => {
  const created = await expect(check, 201, 'createGroup', 'POST', '/v2/groups', { key: A, body: { name: 'Travel', status: 'ACTIVE' } });
  l.travel = created.json;
  assert.equal(l.travel.status, 'ACTIVE');
  assert.equal(l.travel.archivedAt, null);
  assert.equal(l.travel.referenceCount, 0);
  await expect(check, 400, 'createGroup', 'POST', '/v2/groups', { key: A, body: { name: 'Born archived', status: 'ARCHIVED' } });
  l.path = `/v2/groups/${l.travel.uuid}`;
  await expect(check, 201, 'addMember', 'PUT', `${l.path}/members/ann`, { key: A });
  const tag = await etagOf(l.travel.uuid);
  const archived = await expect(check, 200, 'updateGroup', 'PATCH', l.path, { key: A, body: { status: 'ARCHIVED' }, contentType: mp, headers: { 'If-Match': tag } });
  assert.equal(archived.json.status, 'ARCHIVED');
  assert.ok(archived.json.archivedAt, 'archivedAt is set');
  assert.equal(archived.json.memberCount, 1, 'an archived group keeps its members');
  const archivedTag = archived.headers.get('etag');
  const again = await expect(check, 200, 'updateGroup', 'PATCH', l.path, { key: A, body: { status: 'ARCHIVED' }, contentType: mp, headers: { 'If-Match': archivedTag } });
  assert.equal(again.headers.get('etag'), archivedTag, 'archiving twice is a no-op');
  assert.equal(again.text, archived.text);
  const stale = await expect(check, 412, 'updateGroup', 'PATCH', l.path, { key: A, body: { status: 'ACTIVE' }, contentType: mp, headers: { 'If-Match': tag } });
  assert.equal(stale.json.code, 'PRECONDITION_FAILED');
  // PUT the archived group back as read: a no-op; then reactivate by PUT.
  const asRead = (await expect(check, 200, 'getGroup', 'GET', l.path, { key: A })).json;
  const same = await expect(check, 200, 'replaceGroup', 'PUT', '/v2/groups', { key: A, body: asRead, headers: { 'If-Match': archivedTag } });
  assert.equal(same.headers.get('etag'), archivedTag);
  const active = await expect(check, 200, 'replaceGroup', 'PUT', '/v2/groups', { key: A, body: { ...asRead, status: 'ACTIVE' }, headers: { 'If-Match': archivedTag } });
  assert.equal(active.json.status, 'ACTIVE');
  assert.equal(active.json.archivedAt, null);
  // Archive by PUT, reactivate by PATCH.
  const byPut = await expect(check, 200, 'replaceGroup', 'PUT', '/v2/groups', { key: A, body: { ...active.json, status: 'ARCHIVED' }, headers: { 'If-Match': active.headers.get('etag') } });
  assert.equal(byPut.json.status, 'ARCHIVED');
  const byPatch = await expect(check, 200, 'updateGroup', 'PATCH', l.path, { key: A, body: { status: 'ACTIVE' }, contentType: mp, headers: { 'If-Match': byPut.headers.get('etag') } });
  assert.equal(byPatch.json.status, 'ACTIVE');
  await expect(check, 400, 'updateGroup', 'PATCH', l.path, { key: A, body: { status: null }, contentType: mp });
  await expect(check, 400, 'updateGroup', 'PATCH', l.path, { key: A, body: { status: 'DELETED' }, contentType: mp });
});

test('every other write to an archived group is 409 GROUP_ARCHIVED and changes nothing', async () => {
  const archived = await expect(check, 200, 'updateGroup', 'PATCH', l.path, { key: A, body: { status: 'ARCHIVED' }, contentType: mp });
  const tag = archived.headers.get('etag');
  for (const [op, method, path, opts] of [
    ['updateGroup', 'PATCH', l.path, { body: { name: 'Travel 2' }, contentType: mp }],
    ['updateGroup', 'PATCH', l.path, { body: { description: 'x' }, contentType: mp }],
    ['replaceGroup', 'PUT', '/v2/groups', { body: { uuid: l.travel.uuid, name: 'Travel 2' } }],
    ['addMember', 'PUT', `${l.path}/members/bob`, {}],
    ['addMember', 'PUT', `${l.path}/members/ann`, {}],
    ['removeMember', 'DELETE', `${l.path}/members/ann`, {}],
    ['changeMembers', 'PATCH', `${l.path}/members`, { body: { add: ['bob'] } }],
  ]) {
    const res = await expect(check, 409, op, method, path, { key: A, ...opts });
    assert.equal(res.json.code, 'GROUP_ARCHIVED', `${op}: ${res.text}`);
    assert.match(res.json.detail, /ACTIVE/, `${op}: the detail says how to reactivate`);
  }
  assert.equal(await etagOf(l.travel.uuid), tag, 'nothing changed');
  // Reactivating and renaming in one request is allowed.
  const both = await expect(check, 200, 'updateGroup', 'PATCH', l.path, { key: A, body: { status: 'ACTIVE', name: 'Travel & Events' }, contentType: mp, headers: { 'If-Match': tag } });
  assert.equal(both.json.name, 'Travel & Events');
});

test('the status filter pages by cursor for listGroups and listUserGroups (200); a cursor of another status is 400', async () => {
  // Three archived groups, each with member "arch-user", beside one active one.
  l.archived = [];
  for (const name of ['Archive 1', 'Archive 2', 'Archive 3', 'Archive active']) {
    const grp = (await expect(check, 201, 'createGroup', 'POST', '/v2/groups', { key: A, body: { name } })).json;
    await expect(check, 201, 'addMember', 'PUT', `/v2/groups/${grp.uuid}/members/arch-user`, { key: A });
    if (name !== 'Archive active') {
      await expect(check, 200, 'updateGroup', 'PATCH', `/v2/groups/${grp.uuid}`, { key: A, body: { status: 'ARCHIVED' }, contentType: mp });
      l.archived.push(grp.uuid);
    }
  }
  for (const [op, base] of [['listGroups', '/v2/groups'], ['listUserGroups', '/v2/users/arch-user/groups']]) {
    const names = [];
    let url = `${base}?status=ARCHIVED&size=2&sort=name&q=archive`;
    for (let pages = 0; url; pages++) {
      assert.ok(pages < 3, `${op}: the cursors end`);
      const res = await expect(check, 200, op, 'GET', url, { key: A });
      assert.equal(res.json.page.totalElements, 3, `${op}: totals respect the filter`);
      for (const grp of res.json.content) assert.equal(grp.status, 'ARCHIVED');
      names.push(...res.json.content.map((x) => x.name));
      url = res.json.page.next ? `${base}?status=ARCHIVED&size=2&sort=name&q=archive&cursor=${encodeURIComponent(res.json.page.next)}` : null;
    }
    assert.deepEqual(names, ['Archive 1', 'Archive 2', 'Archive 3'], op);
    const active = await expect(check, 200, op, 'GET', `${base}?q=archive`, { key: A });
    assert.deepEqual(active.json.content.map((x) => x.name), ['Archive active'], `${op}: ACTIVE is the default`);
    const all = await expect(check, 200, op, 'GET', `${base}?q=archive&status=ALL&size=1`, { key: A });
    assert.equal(all.json.page.totalElements, 4);
    const bad = await expect(check, 400, op, 'GET', `${base}?q=archive&status=ACTIVE&size=1&cursor=${encodeURIComponent(all.json.page.next)}`, { key: A });
    assert.equal(bad.json.code, 'VALIDATION_ERROR');
    await expect(check, 400, op, 'GET', `${base}?status=DELETED`, { key: A });
  }
});

test('putReference answers 201 with Location, then 200 keeping createdAt; 400, 404, 413, 415; referenceCount agrees', async () => {
  l.refs = `${l.path}/references`;
  const input = { kind: 'approval-chain', displayName: 'Travel approvals', url: 'https://approvals.example.com/chains/7' };
  const first = await expect(check, 201, 'putReference', 'PUT', `${l.refs}/chain-7`, { key: A, body: input });
  assert.equal(first.headers.get('location'), `/api${l.refs}/chain-7`);
  assert.deepEqual({ ...first.json, createdAt: undefined, updatedAt: undefined }, { referenceId: 'chain-7', ...input, createdAt: undefined, updatedAt: undefined });
  const replaced = await expect(check, 200, 'putReference', 'PUT', `${l.refs}/chain-7`, { key: A, body: { ...input, displayName: 'Travel approvals (EU)' } });
  assert.equal(replaced.json.createdAt, first.json.createdAt);
  assert.equal(replaced.json.displayName, 'Travel approvals (EU)');
  assert.equal(replaced.headers.get('location'), null);
  // 24 more, so that the GROUP_IN_USE problem lists only the first 20.
  for (let i = 0; i < 24; i++) {
    await expect(check, 201, 'putReference', 'PUT', `${l.refs}/budget-${String(i).padStart(2, '0')}`, { key: A, body: { kind: 'budget', displayName: `Budget ${i}` } });
  }
  const grp = await expect(check, 200, 'getGroup', 'GET', l.path, { key: A });
  assert.equal(grp.json.referenceCount, 25);
  for (const body of [{ kind: 'Approval', displayName: 'x' }, { kind: 'budget' }, { kind: 'budget', displayName: 'x', url: 'http://insecure.example.com' }, { kind: 'budget', displayName: 'x', extra: 1 }]) {
    const res = await expect(check, 400, 'putReference', 'PUT', `${l.refs}/r1`, { key: A, body });
    assert.equal(res.json.code, 'VALIDATION_ERROR');
  }
  await expect(check, 400, 'putReference', 'PUT', `${l.refs}/-starts-with-a-dash`, { key: A, body: input });
  const missing = await expect(check, 404, 'putReference', 'PUT', `/v2/groups/${unknownId}/references/chain-7`, { key: A, body: input });
  assert.equal(missing.json.code, 'NOT_FOUND');
  await expect(check, 404, 'putReference', 'PUT', `${l.refs}/chain-7`, { key: B, body: input });
  await expect(check, 413, 'putReference', 'PUT', `${l.refs}/chain-7`, { key: A, raw: huge });
  await expect(check, 415, 'putReference', 'PUT', `${l.refs}/chain-7`, { key: A, raw: 'kind=budget', contentType: 'text/plain' });
});

test('getReference answers 200, 404 REFERENCE_NOT_FOUND and NOT_FOUND, 400', async () => {
  const res = await expect(check, 200, 'getReference', 'GET', `${l.refs}/chain-7`, { key: A });
  assert.equal(res.json.displayName, 'Travel approvals (EU)');
  const none = await expect(check, 404, 'getReference', 'GET', `${l.refs}/nope`, { key: A });
  assert.equal(none.json.code, 'REFERENCE_NOT_FOUND');
  const noGroup = await expect(check, 404, 'getReference', 'GET', `/v2/groups/${unknownId}/references/chain-7`, { key: A });
  assert.equal(noGroup.json.code, 'NOT_FOUND');
  await expect(check, 404, 'getReference', 'GET', `${l.refs}/chain-7`, { key: B });
  await expect(check, 400, 'getReference', 'GET', `${l.refs}/${'x'.repeat(256)}`, { key: A });
  await expect(check, 400, 'getReference', 'GET', '/v2/groups/not-a-uuid/references/chain-7', { key: A });
  assert.equal(await getWithHugeBody(`/api${l.refs}/chain-7`), 413);
});

test('listReferences pages by cursor and offset in byte order (200); 400, 404', async () => {
  const want = [...Array.from({ length: 24 }, (_, i) => `budget-${String(i).padStart(2, '0')}`), 'chain-7'];
  const seen = [];
  let url = `${l.refs}?size=10`;
  for (let pages = 0; url; pages++) {
    assert.ok(pages < 3, 'the cursors end');
    const res = await expect(check, 200, 'listReferences', 'GET', url, { key: A });
    assert.equal(res.json.page.totalElements, 25);
    assert.equal(res.json.page.totalPages, 3);
    seen.push(...res.json.content.map((r) => r.referenceId));
    url = res.json.page.next ? `${l.refs}?size=10&cursor=${encodeURIComponent(res.json.page.next)}` : null;
  }
  assert.deepEqual(seen, want);
  const byOffset = await expect(check, 200, 'listReferences', 'GET', `${l.refs}?size=10&page=2`, { key: A });
  assert.deepEqual(byOffset.json.content.map((r) => r.referenceId), want.slice(20));
  await expect(check, 400, 'listReferences', 'GET', `${l.refs}?size=0`, { key: A });
  await expect(check, 400, 'listReferences', 'GET', `${l.refs}?cursor=not-a-cursor`, { key: A });
  await expect(check, 400, 'listReferences', 'GET', `${l.refs}?page=1&cursor=x`, { key: A });
  const missing = await expect(check, 404, 'listReferences', 'GET', `/v2/groups/${unknownId}/references`, { key: A });
  assert.equal(missing.json.code, 'NOT_FOUND');
  await expect(check, 404, 'listReferences', 'GET', l.refs, { key: B });
  assert.equal(await getWithHugeBody(`/api${l.refs}`), 413);
});

test('a referenced group: delete is 409 GROUP_IN_USE with the first 20 references; dryRun=true is 200; archiving stays allowed', async () => {
  const tag = await etagOf(l.travel.uuid);
  const inUse = await expect(check, 409, 'deleteGroup', 'DELETE', l.path, { key: A, headers: { 'If-Match': tag } });
  assert.equal(inUse.json.code, 'GROUP_IN_USE');
  assert.equal(inUse.json.totalReferences, 25);
  assert.equal(inUse.json.references.length, 20);
  assert.equal(inUse.json.references[0].referenceId, 'budget-00');
  assert.equal(await etagOf(l.travel.uuid), tag, 'a refused delete changes nothing');
  const dry = await expect(check, 200, 'deleteGroup', 'DELETE', `${l.path}?dryRun=true`, { key: A });
  assert.equal(dry.json.deletable, false);
  assert.equal(dry.json.memberCount, 1);
  assert.equal(dry.json.totalReferences, 25);
  assert.deepEqual(dry.json.references, inUse.json.references);
  await expect(check, 412, 'deleteGroup', 'DELETE', `${l.path}?dryRun=true`, { key: A, headers: { 'If-Match': '"stale"' } });
  await expect(check, 400, 'deleteGroup', 'DELETE', `${l.path}?dryRun=maybe`, { key: A });
  await expect(check, 404, 'deleteGroup', 'DELETE', `/v2/groups/${unknownId}?dryRun=true`, { key: A });
  const archived = await expect(check, 200, 'updateGroup', 'PATCH', l.path, { key: A, body: { status: 'ARCHIVED' }, contentType: mp });
  assert.equal(archived.json.referenceCount, 25);
  // An archived group still takes references.
  await expect(check, 201, 'putReference', 'PUT', `${l.refs}/card-policy-1`, { key: A, body: { kind: 'card-policy', displayName: 'Cards' } });
});

test('deleteReference answers 204, 204 again when gone, 400, 404, 413; then the group is deletable', async () => {
  await expect(check, 204, 'deleteReference', 'DELETE', `${l.refs}/card-policy-1`, { key: A });
  await expect(check, 204, 'deleteReference', 'DELETE', `${l.refs}/card-policy-1`, { key: A });
  await expect(check, 400, 'deleteReference', 'DELETE', `${l.refs}/-x`, { key: A });
  const missing = await expect(check, 404, 'deleteReference', 'DELETE', `/v2/groups/${unknownId}/references/chain-7`, { key: A });
  assert.equal(missing.json.code, 'NOT_FOUND');
  await expect(check, 404, 'deleteReference', 'DELETE', `${l.refs}/chain-7`, { key: B });
  await expect(check, 413, 'deleteReference', 'DELETE', `${l.refs}/chain-7`, { key: A, raw: huge });
  // Remove all but chain-7: trashed and restored, the group must bring it back.
  for (let i = 0; i < 24; i++) {
    await expect(check, 204, 'deleteReference', 'DELETE', `${l.refs}/budget-${String(i).padStart(2, '0')}`, { key: A });
  }
  const grp = await expect(check, 200, 'getGroup', 'GET', l.path, { key: A });
  assert.equal(grp.json.referenceCount, 1);
  const listed = await expect(check, 200, 'listReferences', 'GET', l.refs, { key: A });
  assert.deepEqual(listed.json.content.map((r) => r.referenceId), ['chain-7']);
  await expect(check, 204, 'deleteReference', 'DELETE', `${l.refs}/chain-7`, { key: A });
  const dry = await expect(check, 200, 'deleteGroup', 'DELETE', `${l.path}?dryRun=true`, { key: A });
  assert.deepEqual(dry.json, { deletable: true, memberCount: 1, totalReferences: 0, references: [] });
});

test('delete moves the group to the trash: 404 under /v2/groups, its name free; list and get the trash (200, 400, 404)', async () => {
  await expect(check, 204, 'deleteGroup', 'DELETE', l.path, { key: A, headers: { 'If-Match': await etagOf(l.travel.uuid) } });
  const gone = await expect(check, 404, 'getGroup', 'GET', l.path, { key: A });
  assert.equal(gone.json.code, 'NOT_FOUND');
  await expect(check, 404, 'listMembers', 'GET', `${l.path}/members`, { key: A });
  await expect(check, 404, 'listReferences', 'GET', l.refs, { key: A });
  await expect(check, 404, 'putReference', 'PUT', `${l.refs}/late`, { key: A, body: { kind: 'budget', displayName: 'Late' } });
  const annGroups = await expect(check, 200, 'listUserGroups', 'GET', '/v2/users/ann/groups?status=ALL', { key: A });
  assert.ok(!annGroups.json.content.some((x) => x.uuid === l.travel.uuid), 'listUserGroups no longer shows it');
  // A second group is trashed after it: the trash lists the newest deletion first.
  const second = (await expect(check, 201, 'createGroup', 'POST', '/v2/groups', { key: A, body: { name: 'Short-lived' } })).json;
  await expect(check, 204, 'deleteGroup', 'DELETE', `/v2/groups/${second.uuid}`, { key: A });
  l.second = second;
  const first = await expect(check, 200, 'listDeletedGroups', 'GET', '/v2/deleted-groups?size=1', { key: A });
  assert.equal(first.json.content[0].uuid, second.uuid);
  assert.ok(first.json.page.next, 'a cursor to the next page');
  const next = await expect(check, 200, 'listDeletedGroups', 'GET', `/v2/deleted-groups?size=1&cursor=${encodeURIComponent(first.json.page.next)}`, { key: A });
  assert.equal(next.json.content[0].uuid, l.travel.uuid);
  const byOffset = await expect(check, 200, 'listDeletedGroups', 'GET', '/v2/deleted-groups?size=1&page=1', { key: A });
  assert.deepEqual(byOffset.json.content, next.json.content);
  const otherOrg = await expect(check, 200, 'listDeletedGroups', 'GET', '/v2/deleted-groups', { key: B });
  assert.deepEqual(otherOrg.json.content, []);
  await expect(check, 400, 'listDeletedGroups', 'GET', '/v2/deleted-groups?size=0', { key: A });
  await expect(check, 400, 'listDeletedGroups', 'GET', '/v2/deleted-groups?cursor=not-a-cursor', { key: A });
  assert.equal(await getWithHugeBody('/api/v2/deleted-groups'), 413);
  const dp = `/v2/deleted-groups/${l.travel.uuid}`;
  const trashed = await expect(check, 200, 'getDeletedGroup', 'GET', dp, { key: A });
  assert.equal(trashed.json.name, 'Travel & Events');
  assert.equal(trashed.json.status, 'ARCHIVED');
  assert.equal(trashed.json.memberCount, 1);
  assert.ok(Date.parse(trashed.json.purgeAt) > Date.parse(trashed.json.deletedAt), 'purgeAt after deletedAt');
  assert.deepEqual(trashed.json, next.json.content[0]);
  await expect(check, 404, 'getDeletedGroup', 'GET', dp, { key: B });
  await expect(check, 404, 'getDeletedGroup', 'GET', `/v2/deleted-groups/${g.Engineering.uuid}`, { key: A });
  await expect(check, 400, 'getDeletedGroup', 'GET', '/v2/deleted-groups/not-a-uuid', { key: A });
  assert.equal(await getWithHugeBody(`/api${dp}`), 413);
  // Its name is free: a new group takes it.
  l.taker = (await expect(check, 201, 'createGroup', 'POST', '/v2/groups', { key: A, body: { name: 'TRAVEL & EVENTS' } })).json;
});

test('restore answers 409 NAME_CONFLICT into a taken name, then 200 with a new name; 400, 404, 413, 415', async () => {
  const rp = `/v2/deleted-groups/${l.travel.uuid}/restore`;
  const conflict = await expect(check, 409, 'restoreDeletedGroup', 'POST', rp, { key: A });
  assert.equal(conflict.json.code, 'NAME_CONFLICT');
  assert.match(conflict.json.detail, /name/);
  const renamedIntoTaken = await expect(check, 409, 'restoreDeletedGroup', 'POST', rp, { key: A, body: { name: 'engineering' } });
  assert.equal(renamedIntoTaken.json.code, 'NAME_CONFLICT');
  await expect(check, 200, 'getDeletedGroup', 'GET', `/v2/deleted-groups/${l.travel.uuid}`, { key: A });
  await expect(check, 400, 'restoreDeletedGroup', 'POST', rp, { key: A, body: { name: '   ' } });
  await expect(check, 400, 'restoreDeletedGroup', 'POST', rp, { key: A, body: { name: 'x', status: 'ACTIVE' } });
  await expect(check, 400, 'restoreDeletedGroup', 'POST', '/v2/deleted-groups/not-a-uuid/restore', { key: A });
  await expect(check, 404, 'restoreDeletedGroup', 'POST', rp, { key: B });
  await expect(check, 404, 'restoreDeletedGroup', 'POST', `/v2/deleted-groups/${g.Engineering.uuid}/restore`, { key: A });
  await expect(check, 413, 'restoreDeletedGroup', 'POST', rp, { key: A, raw: huge });
  await expect(check, 415, 'restoreDeletedGroup', 'POST', rp, { key: A, raw: 'name=x', contentType: 'text/plain' });
  const restored = await expect(check, 200, 'restoreDeletedGroup', 'POST', rp, { key: A, body: { name: 'Travel (restored)' } });
  assert.equal(restored.json.uuid, l.travel.uuid);
  assert.equal(restored.json.name, 'Travel (restored)');
  assert.equal(restored.json.status, 'ARCHIVED', 'a restore keeps the status');
  assert.equal(restored.json.memberCount, 1);
  assert.equal(restored.json.createdAt, l.travel.createdAt);
  assert.equal(restored.headers.get('location'), `/api${l.path}`);
  assert.equal(restored.headers.get('etag'), await etagOf(l.travel.uuid));
  const member = await expect(check, 200, 'getMember', 'GET', `${l.path}/members/ann`, { key: A });
  assert.equal(member.json.userId, 'ann');
  await expect(check, 404, 'getDeletedGroup', 'GET', `/v2/deleted-groups/${l.travel.uuid}`, { key: A });
  await expect(check, 404, 'restoreDeletedGroup', 'POST', rp, { key: A });
  // Without a body it keeps its name.
  const second = await expect(check, 200, 'restoreDeletedGroup', 'POST', `/v2/deleted-groups/${l.second.uuid}/restore`, { key: A });
  assert.equal(second.json.name, 'Short-lived');
});

test('purge answers 204, then 404 everywhere; 400, 404, 413', async () => {
  await expect(check, 204, 'deleteGroup', 'DELETE', `/v2/groups/${l.second.uuid}`, { key: A });
  const dp = `/v2/deleted-groups/${l.second.uuid}`;
  await expect(check, 404, 'purgeDeletedGroup', 'DELETE', dp, { key: B });
  await expect(check, 413, 'purgeDeletedGroup', 'DELETE', dp, { key: A, raw: huge });
  await expect(check, 400, 'purgeDeletedGroup', 'DELETE', '/v2/deleted-groups/not-a-uuid', { key: A });
  await expect(check, 404, 'purgeDeletedGroup', 'DELETE', `/v2/deleted-groups/${l.travel.uuid}`, { key: A });
  await expect(check, 204, 'purgeDeletedGroup', 'DELETE', dp, { key: A });
  await expect(check, 404, 'purgeDeletedGroup', 'DELETE', dp, { key: A });
  await expect(check, 404, 'getDeletedGroup', 'GET', dp, { key: A });
  await expect(check, 404, 'restoreDeletedGroup', 'POST', `${dp}/restore`, { key: A });
  await expect(check, 404, 'getGroup', 'GET', `/v2/groups/${l.second.uuid}`, { key: A });
});

test('with --require-if-match, archive needs If-Match (428) but a dry run does not', async () => {
  const key = strict.keys['org-a'];
  const created = await expect(strictCheck, 201, 'createGroup', 'POST', '/v2/groups', { key, body: { name: 'Strict lifecycle' } });
  const path = `/v2/groups/${created.json.uuid}`;
  const res = await expect(strictCheck, 428, 'updateGroup', 'PATCH', path, { key, body: { status: 'ARCHIVED' }, contentType: mp });
  assert.equal(res.json.code, 'PRECONDITION_REQUIRED');
  const dry = await expect(strictCheck, 200, 'deleteGroup', 'DELETE', `${path}?dryRun=true`, { key });
  assert.equal(dry.json.deletable, true);
  await expect(strictCheck, 200, 'updateGroup', 'PATCH', path, { key, body: { status: 'ARCHIVED' }, contentType: mp, headers: { 'If-Match': created.headers.get('etag') } });
});

// API keys (issue 16): the six /v2/api-keys operations and every documented
// status of each, then 403 INSUFFICIENT_SCOPE and 429 RATE_LIMITED on every
// operation of the spec. The steps share k and run in order, in org A.
const k = {};
const keyPattern = /^gk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/;
const allScopes = ['groups:read', 'groups:write', 'webhooks:manage', 'keys:manage'];
// Well-formed, but no key has it.
const noKeyId = 'ffffffffffff';
const day = 86_400_000;

/** Waits out the server's cache of authentication answers (0.5 s, docs/keys.md). */
const authCacheExpiry = () => new Promise((r) => setTimeout(r, 1100));

/** A concrete path for an operation's template: unknown ids, always well-formed. */
function concrete(template) {
  const values = { uuid: unknownId, userId: 'u1', referenceId: 'r1', keyId: noKeyId };
  return template.replace(/\{([^}]+)\}/g, (_, name) => {
    if (!(name in values)) throw new Error(`no value for path parameter ${name} of ${template}`);
    return values[name];
  });
}

/** An (empty) JSON body of the operation's first request media type, if it takes one. */
const bodyFor = (op) => (op.contentType ? { raw: '{}', contentType: op.contentType } : {});

/** Asserts a 403 is INSUFFICIENT_SCOPE naming scope, in the body and in WWW-Authenticate (RFC 6750 §3.1). */
function assertInsufficientScope(res, scope, what) {
  assert.equal(res.json.code, 'INSUFFICIENT_SCOPE', what);
  assert.ok(res.json.detail.includes(scope), `${what}: the detail names ${scope}: ${res.json.detail}`);
  const auth = res.headers.get('www-authenticate') ?? '';
  assert.ok(auth.startsWith('Bearer ') && auth.includes('error="insufficient_scope"') && auth.includes(`scope="${scope}"`), `${what}: WWW-Authenticate: ${auth}`);
}

test('API key operations answer 401 without a valid key', async () => {
  await expect(check, 401, 'listApiKeys', 'GET', '/v2/api-keys');
  await expect(check, 401, 'createApiKey', 'POST', '/v2/api-keys', { key: 'gk_nope_nope', body: { name: 'x', scopes: ['groups:read'] } });
  await expect(check, 401, 'getApiKey', 'GET', `/v2/api-keys/${noKeyId}`, { key: 'not-a-key' });
  await expect(check, 401, 'updateApiKey', 'PATCH', `/v2/api-keys/${noKeyId}`, { body: {}, contentType: mp });
  await expect(check, 401, 'deleteApiKey', 'DELETE', `/v2/api-keys/${noKeyId}`);
  await expect(check, 401, 'rotateApiKey', 'POST', `/v2/api-keys/${noKeyId}/rotate`, { key: `gk_${noKeyId}_${'A'.repeat(43)}`, body: {} });
});

test('createApiKey answers 201 with the secret shown once, Location and no-store; the key works within its scopes', async () => {
  const admin = main.keys.admin;
  const res = await expect(check, 201, 'createApiKey', 'POST', '/v2/api-keys', { key: admin, body: { name: 'nightly report', scopes: ['groups:read'] } });
  k.reader = res.json;
  assert.match(k.reader.secret, keyPattern);
  assert.ok(k.reader.secret.startsWith(`gk_${k.reader.id}_`), 'the secret carries the key id');
  assert.equal(k.reader.name, 'nightly report');
  assert.deepEqual(k.reader.scopes, ['groups:read']);
  assert.equal(k.reader.rateLimit, undefined, 'the server default limit');
  assert.equal(res.headers.get('location'), `/api/v2/api-keys/${k.reader.id}`);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  // The admin key keeps the server's default limit: 100/s, bursts of 200.
  assert.equal(res.headers.get('ratelimit-policy'), '"key";q=200;w=2');
  assert.match(res.headers.get('ratelimit'), /^"key";r=\d+;t=\d+$/);
  // Without expiresAt: no later than the calling key (itself at the 360-day maximum).
  const life = Date.parse(k.reader.expiresAt) - Date.parse(k.reader.createdAt);
  assert.ok(life <= 360 * day && life > 360 * day - 600_000, `expiresAt ${k.reader.expiresAt}, createdAt ${k.reader.createdAt}`);
  await expect(check, 200, 'listGroups', 'GET', '/v2/groups?size=1', { key: k.reader.secret });
  const denied = await expect(check, 403, 'createGroup', 'POST', '/v2/groups', { key: k.reader.secret, body: { name: 'Not allowed' } });
  assertInsufficientScope(denied, 'groups:write', 'a read-only key creating a group');

  const expiresAt = new Date(Date.now() + 30 * day).toISOString();
  const writer = await expect(check, 201, 'createApiKey', 'POST', '/v2/api-keys', { key: admin, body: { name: 'writer', scopes: ['groups:write', 'groups:read'], expiresAt, rateLimit: { perSecond: 5, burst: 10 } } });
  k.writer = writer.json;
  assert.deepEqual(k.writer.scopes, ['groups:read', 'groups:write']);
  assert.equal(k.writer.expiresAt, expiresAt);
  assert.deepEqual(k.writer.rateLimit, { perSecond: 5, burst: 10 });
  const used = await expect(check, 200, 'listGroups', 'GET', '/v2/groups?size=1', { key: k.writer.secret });
  assert.equal(used.headers.get('ratelimit-policy'), '"key";q=10;w=2');
  assert.equal(used.headers.get('ratelimit'), '"key";r=9;t=1');
});

test('createApiKey answers 400, 403 for a scope the caller lacks, 413, 415', async () => {
  const admin = main.keys.admin;
  for (const body of [
    { name: 'x', scopes: [] },
    { name: 'x', scopes: ['groups:admin'] },
    { scopes: ['groups:read'] },
    { name: 'x', scopes: ['groups:read'], extra: 1 },
    { name: 'x', scopes: ['groups:read'], expiresAt: new Date(Date.now() + 400 * day).toISOString() },
    { name: 'x', scopes: ['groups:read'], expiresAt: '2001-01-01T00:00:00Z' },
    { name: 'x', scopes: ['groups:read'], rateLimit: { perSecond: 0, burst: 1 } },
  ]) {
    const res = await expect(check, 400, 'createApiKey', 'POST', '/v2/api-keys', { key: admin, body });
    assert.equal(res.json.code, 'VALIDATION_ERROR', JSON.stringify(body));
  }
  // keyReader holds groups:read and keys:manage only.
  const held = ['groups:read', 'keys:manage'];
  for (const scopes of [['groups:write'], ['groups:read', 'webhooks:manage'], ['keys:manage', 'groups:write']]) {
    const res = await expect(check, 403, 'createApiKey', 'POST', '/v2/api-keys', { key: main.keys.keyReader, body: { name: 'escalation', scopes } });
    assertInsufficientScope(res, scopes.find((s) => !held.includes(s)), `granting ${scopes}`);
  }
  // What it holds it may hand on.
  k.subset = (await expect(check, 201, 'createApiKey', 'POST', '/v2/api-keys', { key: main.keys.keyReader, body: { name: 'subset', scopes: ['groups:read'] } })).json;
  await expect(check, 413, 'createApiKey', 'POST', '/v2/api-keys', { key: admin, raw: huge });
  await expect(check, 415, 'createApiKey', 'POST', '/v2/api-keys', { key: admin, raw: 'name=x', contentType: 'text/plain' });
});

test('listApiKeys pages oldest first by cursor and offset (200), never with a secret, per organization; 400', async () => {
  const admin = main.keys.admin;
  const all = [];
  let total;
  let url = '/v2/api-keys?size=2';
  for (let pages = 0; url; pages++) {
    assert.ok(pages < 20, 'the cursors end');
    const res = await expect(check, 200, 'listApiKeys', 'GET', url, { key: admin });
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.ok(!res.text.includes('gk_'), 'no secret in a list');
    total ??= res.json.page.totalElements;
    assert.equal(res.json.page.totalElements, total);
    all.push(...res.json.content);
    url = res.json.page.next ? `/v2/api-keys?size=2&cursor=${encodeURIComponent(res.json.page.next)}` : null;
  }
  assert.equal(all.length, total);
  const ids = all.map((x) => x.id);
  assert.equal(new Set(ids).size, ids.length, 'no key twice');
  for (const x of [k.reader, k.writer, k.subset]) assert.ok(ids.includes(x.id), `${x.name} listed`);
  for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].createdAt <= all[i].createdAt, 'oldest first');
  const byOffset = await expect(check, 200, 'listApiKeys', 'GET', '/v2/api-keys?size=2&page=1', { key: admin });
  assert.deepEqual(byOffset.json.content.map((x) => x.id), ids.slice(2, 4));
  const otherOrg = await expect(check, 200, 'listApiKeys', 'GET', '/v2/api-keys', { key: main.keys.adminB });
  assert.ok(otherOrg.json.content.length >= 1 && otherOrg.json.content.every((x) => !ids.includes(x.id)), 'org B sees only its keys');
  await expect(check, 400, 'listApiKeys', 'GET', '/v2/api-keys?size=0', { key: admin });
  await expect(check, 400, 'listApiKeys', 'GET', '/v2/api-keys?cursor=not-a-cursor', { key: admin });
  await expect(check, 400, 'listApiKeys', 'GET', '/v2/api-keys?page=1&cursor=x', { key: admin });
  assert.equal(await getWithHugeBody('/api/v2/api-keys', admin), 413);
});

test('getApiKey answers 200 without the secret, 404 across orgs and for an unknown id, 400 for a bad id', async () => {
  const admin = main.keys.admin;
  const res = await expect(check, 200, 'getApiKey', 'GET', `/v2/api-keys/${k.writer.id}`, { key: admin });
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.ok(!('secret' in res.json));
  for (const field of ['id', 'name', 'scopes', 'createdAt', 'expiresAt', 'rateLimit']) assert.deepEqual(res.json[field], k.writer[field], field);
  assert.ok(res.json.lastUsedAt, 'a key used once shows lastUsedAt at once');
  const cross = await expect(check, 404, 'getApiKey', 'GET', `/v2/api-keys/${k.writer.id}`, { key: main.keys.adminB });
  assert.equal(cross.json.code, 'NOT_FOUND');
  await expect(check, 404, 'getApiKey', 'GET', `/v2/api-keys/${noKeyId}`, { key: admin });
  await expect(check, 400, 'getApiKey', 'GET', '/v2/api-keys/not-a-key-id', { key: admin });
  assert.equal(await getWithHugeBody(`/api/v2/api-keys/${k.writer.id}`, admin), 413);
});

test('updateApiKey renames, sets and clears the rate limit (200); 400, 403, 404, 413, 415', async () => {
  const admin = main.keys.admin;
  const path = `/v2/api-keys/${k.writer.id}`;
  const res = await expect(check, 200, 'updateApiKey', 'PATCH', path, { key: admin, body: { name: 'writer (renamed)', rateLimit: { perSecond: 50, burst: 100 } }, contentType: mp });
  assert.equal(res.json.name, 'writer (renamed)');
  assert.deepEqual(res.json.rateLimit, { perSecond: 50, burst: 100 });
  assert.deepEqual(res.json.scopes, k.writer.scopes);
  const cleared = await expect(check, 200, 'updateApiKey', 'PATCH', path, { key: admin, body: { rateLimit: null }, contentType: mp });
  assert.equal(cleared.json.rateLimit, undefined);
  assert.equal(cleared.json.name, 'writer (renamed)');
  await expect(check, 200, 'updateApiKey', 'PATCH', path, { key: admin, body: {} });
  for (const body of [{ rateLimit: { perSecond: 0, burst: 1 } }, { rateLimit: { perSecond: 1 } }, { scopes: ['keys:manage'] }, { expiresAt: null }]) {
    const bad = await expect(check, 400, 'updateApiKey', 'PATCH', path, { key: admin, body, contentType: mp });
    assert.equal(bad.json.code, 'VALIDATION_ERROR', JSON.stringify(body));
  }
  await expect(check, 400, 'updateApiKey', 'PATCH', '/v2/api-keys/not-a-key-id', { key: admin, body: {}, contentType: mp });
  // keyReader lacks groups:write, which the writer key holds.
  const up = await expect(check, 403, 'updateApiKey', 'PATCH', path, { key: main.keys.keyReader, body: { rateLimit: { perSecond: 1000, burst: 1000 } }, contentType: mp });
  assertInsufficientScope(up, 'groups:write', 'changing a stronger key');
  await expect(check, 404, 'updateApiKey', 'PATCH', path, { key: main.keys.adminB, body: { name: 'theirs' }, contentType: mp });
  await expect(check, 404, 'updateApiKey', 'PATCH', `/v2/api-keys/${noKeyId}`, { key: admin, body: {}, contentType: mp });
  await expect(check, 413, 'updateApiKey', 'PATCH', path, { key: admin, raw: huge, contentType: mp });
  await expect(check, 415, 'updateApiKey', 'PATCH', path, { key: admin, raw: 'name=x', contentType: 'text/plain' });
});

test('rotateApiKey answers 200 with a new secret; the old one works for the grace period only; 400, 403, 404, 413, 415', async () => {
  const admin = main.keys.admin;
  const path = `/v2/api-keys/${k.reader.id}/rotate`;
  const old = k.reader.secret;
  const res = await expect(check, 200, 'rotateApiKey', 'POST', path, { key: admin, body: { gracePeriod: 3600 } });
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.json.id, k.reader.id);
  assert.deepEqual(res.json.scopes, k.reader.scopes);
  assert.equal(res.json.expiresAt, k.reader.expiresAt);
  assert.match(res.json.secret, keyPattern);
  assert.ok(res.json.secret.startsWith(`gk_${k.reader.id}_`));
  assert.notEqual(res.json.secret, old);
  assert.equal(Date.parse(res.json.previousSecretExpiresAt) - Date.parse(res.json.rotatedAt), 3600_000);
  // During the grace period both secrets work.
  await expect(check, 200, 'listGroups', 'GET', '/v2/groups?size=1', { key: old });
  await expect(check, 200, 'listGroups', 'GET', '/v2/groups?size=1', { key: res.json.secret });
  // Rotating again retires the oldest secret at once; a grace of 0 the second one too.
  const again = await expect(check, 200, 'rotateApiKey', 'POST', path, { key: admin, body: { gracePeriod: 0 } });
  await authCacheExpiry();
  await expect(check, 401, 'listGroups', 'GET', '/v2/groups?size=1', { key: old });
  await expect(check, 401, 'listGroups', 'GET', '/v2/groups?size=1', { key: res.json.secret });
  await expect(check, 200, 'listGroups', 'GET', '/v2/groups?size=1', { key: again.json.secret });
  // {} takes the default grace, 24 h.
  const dflt = await expect(check, 200, 'rotateApiKey', 'POST', path, { key: admin, body: {} });
  assert.equal(Date.parse(dflt.json.previousSecretExpiresAt) - Date.parse(dflt.json.rotatedAt), day);
  k.reader.secret = dflt.json.secret;
  for (const body of [{ gracePeriod: 604_801 }, { gracePeriod: -1 }, { gracePeriod: 'soon' }, { grace: 60 }]) {
    const bad = await expect(check, 400, 'rotateApiKey', 'POST', path, { key: admin, body });
    assert.equal(bad.json.code, 'VALIDATION_ERROR', JSON.stringify(body));
  }
  await expect(check, 400, 'rotateApiKey', 'POST', '/v2/api-keys/not-a-key-id/rotate', { key: admin, body: {} });
  // Rotating a stronger key would hand its powers to the caller.
  const up = await expect(check, 403, 'rotateApiKey', 'POST', `/v2/api-keys/${k.writer.id}/rotate`, { key: main.keys.keyReader, body: {} });
  assertInsufficientScope(up, 'groups:write', 'rotating a stronger key');
  await expect(check, 404, 'rotateApiKey', 'POST', path, { key: main.keys.adminB, body: {} });
  await expect(check, 404, 'rotateApiKey', 'POST', `/v2/api-keys/${noKeyId}/rotate`, { key: admin, body: {} });
  await expect(check, 413, 'rotateApiKey', 'POST', path, { key: admin, raw: huge });
  await expect(check, 415, 'rotateApiKey', 'POST', path, { key: admin, raw: 'gracePeriod=0', contentType: 'text/plain' });
});

test('deleteApiKey answers 204, then 404, and the key stops working; a key may delete itself; 400, 403, 404, 413', async () => {
  const admin = main.keys.admin;
  const path = `/v2/api-keys/${k.writer.id}`;
  const up = await expect(check, 403, 'deleteApiKey', 'DELETE', path, { key: main.keys.keyReader });
  assertInsufficientScope(up, 'groups:write', 'deleting a stronger key');
  await expect(check, 404, 'deleteApiKey', 'DELETE', path, { key: main.keys.adminB });
  await expect(check, 400, 'deleteApiKey', 'DELETE', '/v2/api-keys/not-a-key-id', { key: admin });
  await expect(check, 413, 'deleteApiKey', 'DELETE', path, { key: admin, raw: huge });
  await expect(check, 200, 'listGroups', 'GET', '/v2/groups?size=1', { key: k.writer.secret });
  const gone = await expect(check, 204, 'deleteApiKey', 'DELETE', path, { key: admin });
  assert.equal(gone.text, '');
  const again = await expect(check, 404, 'deleteApiKey', 'DELETE', path, { key: admin });
  assert.equal(again.json.code, 'NOT_FOUND');
  await expect(check, 404, 'getApiKey', 'GET', path, { key: admin });
  // A weaker key may delete a key within its own scopes.
  await expect(check, 204, 'deleteApiKey', 'DELETE', `/v2/api-keys/${k.subset.id}`, { key: main.keys.keyReader });
  // And a key may delete itself.
  const self = (await expect(check, 201, 'createApiKey', 'POST', '/v2/api-keys', { key: admin, body: { name: 'short-lived', scopes: ['keys:manage'] } })).json;
  await expect(check, 204, 'deleteApiKey', 'DELETE', `/v2/api-keys/${self.id}`, { key: self.secret });
  await authCacheExpiry();
  await expect(check, 401, 'listGroups', 'GET', '/v2/groups?size=1', { key: k.writer.secret });
  await expect(check, 401, 'listApiKeys', 'GET', '/v2/api-keys', { key: self.secret });
  const listed = await expect(check, 200, 'listApiKeys', 'GET', '/v2/api-keys?size=100', { key: admin });
  const ids = listed.json.content.map((x) => x.id);
  for (const x of [k.writer, k.subset, self]) assert.ok(!ids.includes(x.id), `${x.name} no longer listed`);
});

test('every operation answers 403 INSUFFICIENT_SCOPE to a key without its scope, naming the scope', async () => {
  const ops = operations();
  assert.equal(ops.length, check.documented.size);
  assert.deepEqual(ops.filter((op) => op.scopes.length !== 1).map((op) => op.operationId), [], 'every operation states one scope');
  // A key holding only webhooks:manage: no operation of the spec is open to it.
  for (const op of ops) {
    const res = await expect(check, 403, op.operationId, op.method, concrete(op.path), { key: main.keys.hooksOnly, ...bodyFor(op) });
    assertInsufficientScope(res, op.scopes[0], op.operationId);
    assert.equal(res.json.status, 403);
    assert.ok(res.headers.get('ratelimit-policy'), `${op.operationId}: a 403 still carries the rate-limit fields`);
  }
  // The read-only key: 403 on every operation that needs another scope.
  for (const op of ops.filter((o) => o.scopes[0] !== 'groups:read')) {
    const res = await expect(check, 403, op.operationId, op.method, concrete(op.path), { key: k.reader.secret, ...bodyFor(op) });
    assertInsufficientScope(res, op.scopes[0], `${op.operationId} with groups:read`);
  }
  // Authentication still comes first: a bad key is 401, never 403.
  await expect(check, 401, 'createGroup', 'POST', '/v2/groups', { key: `${k.reader.secret}x`, body: { name: 'x' } });
});

test('every operation answers 429 RATE_LIMITED once the key used up its limit, with Retry-After and the RateLimit fields', async () => {
  const admin = main.keys.admin;
  // One request per 100 s, bursts of 1, set over HTTP: the first request
  // takes the only token, and no other comes back during this test.
  const created = await expect(check, 201, 'createApiKey', 'POST', '/v2/api-keys', { key: admin, body: { name: 'tiny', scopes: allScopes, rateLimit: { perSecond: 0.01, burst: 1 } } });
  const tiny = created.json.secret;
  const first = await expect(check, 200, 'listGroups', 'GET', '/v2/groups?size=1', { key: tiny });
  assert.equal(first.headers.get('ratelimit-policy'), '"key";q=1;w=100');
  assert.equal(first.headers.get('ratelimit'), '"key";r=0;t=100');
  for (const op of operations()) {
    const res = await expect(check, 429, op.operationId, op.method, concrete(op.path), { key: tiny, ...bodyFor(op) });
    const what = `${op.operationId} over the limit`;
    assert.equal(res.json.code, 'RATE_LIMITED', what);
    assert.equal(res.json.status, 429, what);
    const retry = res.headers.get('retry-after');
    assert.match(retry ?? '', /^\d+$/, `${what}: Retry-After ${retry}`);
    assert.ok(Number(retry) >= 1 && Number(retry) <= 100, `${what}: Retry-After ${retry}`);
    assert.equal(res.headers.get('ratelimit-policy'), '"key";q=1;w=100', what);
    const t = /^"key";r=0;t=(\d+)$/.exec(res.headers.get('ratelimit') ?? '');
    assert.ok(t && Number(t[1]) >= Number(retry) && Number(t[1]) <= 100, `${what}: RateLimit ${res.headers.get('ratelimit')}, Retry-After ${retry}`);
  }
  // Authentication comes before the limit: a bad key is 401, not 429.
  await expect(check, 401, 'listGroups', 'GET', '/v2/groups', { key: `${tiny}x` });
  // Other keys are not affected.
  await expect(check, 200, 'getApiKey', 'GET', `/v2/api-keys/${created.json.id}`, { key: admin });
  // PATCH raises the limit. The server applies it once its authentication
  // cache turns over, from then on (the bucket refills at the new rate from
  // that moment), so the key may wait once more, but only as long as
  // Retry-After says.
  const raised = await expect(check, 200, 'updateApiKey', 'PATCH', `/v2/api-keys/${created.json.id}`, { key: admin, body: { rateLimit: { perSecond: 10, burst: 20 } }, contentType: mp });
  assert.deepEqual(raised.json.rateLimit, { perSecond: 10, burst: 20 });
  await authCacheExpiry();
  let after = await check.call('listGroups', 'GET', '/v2/groups?size=1', { key: tiny });
  assert.equal(after.headers.get('ratelimit-policy'), '"key";q=20;w=2', 'the new limit applies');
  if (after.status === 429) {
    const retry = Number(after.headers.get('retry-after'));
    assert.equal(retry, 1, 'at 10/s a token is never more than 1 s away');
    await new Promise((r) => setTimeout(r, retry * 1000));
    after = await expect(check, 200, 'listGroups', 'GET', '/v2/groups?size=1', { key: tiny });
  }
  assert.equal(after.status, 200);
});

test('every documented status of every operation was reached', (t) => {
  const missing = [];
  const lines = [];
  for (const [op, statuses] of check.documented) {
    const seen = new Set([...(check.seen.get(op) ?? []), ...(strictCheck.seen.get(op) ?? [])].map(String));
    const row = [...statuses.keys()].map((s) => (seen.has(s) ? s : unreachable.has(s) ? `(${s})` : `!${s}`));
    lines.push(`${op.padEnd(14)} ${row.join(' ')}`);
    for (const s of statuses.keys()) {
      const which = `${op} ${s}`;
      if (seen.has(s) || unreachable.has(s) || notProxyable.has(which)) continue;
      if (bestEffort.has(which)) t.diagnostic(`${which} not reached (a race lost every round)`);
      else missing.push(which);
    }
  }
  t.diagnostic(`coverage (in parentheses: documented, not reachable from outside; ! missing):\n${lines.join('\n')}`);
  assert.deepEqual(missing, [], 'documented statuses never reached');
});
