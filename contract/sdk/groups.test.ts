// The TypeScript SDK a client team would generate from openapi.yaml
// (openapi-typescript types + openapi-fetch), run against a live groupsd.
// It proves the spec's types compile under tsc and match what the server sends.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import createClient from 'openapi-fetch';
import type { components, paths } from './schema.gen.js';
import { startGroupsd, type Groupsd } from '../lib/procs.mjs';

type Group = components['schemas']['Group'];
type Problem = components['schemas']['Problem'];

let server: Groupsd;
let client: ReturnType<typeof createClient<paths>>;

before(async () => {
  server = await startGroupsd({ orgs: ['sdk-org'] });
  client = createClient<paths>({
    baseUrl: `${server.url}/api`,
    headers: { Authorization: `Bearer ${server.keys['sdk-org']}` },
  });
});

after(async () => {
  await server?.stop();
});

/** Narrows an SDK result to its data, failing with the problem otherwise. */
function ok<T>(result: { data?: T; error?: unknown; response: Response }): T {
  assert.equal(result.error, undefined, `HTTP ${result.response.status}: ${JSON.stringify(result.error)}`);
  assert.ok(result.data !== undefined);
  return result.data;
}

test('a group goes through its whole life with the generated SDK', async (t) => {
  const created: Group[] = [];

  await t.test('create', async () => {
    for (const name of ['Finance', 'Engineering', 'Marketing']) {
      const res = await client.POST('/v2/groups', { body: { name, description: `The ${name} team.` } });
      assert.equal(res.response.status, 201);
      const group = ok(res);
      assert.equal(group.name, name);
      assert.match(group.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.equal(res.response.headers.get('location'), `/api/v2/groups/${group.uuid}`);
      created.push(group);
    }
  });

  await t.test('list with paging and sort', async () => {
    const first = ok(await client.GET('/v2/groups', { params: { query: { size: 2, sort: ['name,asc'] } } }));
    assert.deepEqual(first.content.map((g) => g.name), ['Engineering', 'Finance']);
    assert.equal(first.page.totalElements, 3);
    assert.equal(first.page.totalPages, 2);
    assert.ok(first.page.next);
    const second = ok(await client.GET('/v2/groups', { params: { query: { size: 2, sort: ['name,asc'], cursor: first.page.next } } }));
    assert.deepEqual(second.content.map((g) => g.name), ['Marketing']);
    assert.equal(second.page.next, null);
    const byOffset = ok(await client.GET('/v2/groups', { params: { query: { size: 2, page: 1, sort: ['name,asc'] } } }));
    assert.deepEqual(byOffset.content, second.content);
    const newest = ok(await client.GET('/v2/groups', { params: { query: { size: 1, sort: ['createdAt,desc'] } } }));
    assert.equal(newest.content[0]?.name, 'Marketing');
  });

  let etag = '';
  const finance = () => created[0]!;

  await t.test('get', async () => {
    const res = await client.GET('/v2/groups/{uuid}', { params: { path: { uuid: finance().uuid } } });
    assert.deepEqual(ok(res), finance());
    etag = res.response.headers.get('etag') ?? '';
    assert.ok(etag);
  });

  await t.test('patch with If-Match', async () => {
    const res = await client.PATCH('/v2/groups/{uuid}', {
      params: { path: { uuid: finance().uuid }, header: { 'If-Match': etag } },
      body: { description: null },
      headers: { 'Content-Type': 'application/merge-patch+json' },
    });
    const group = ok(res);
    assert.equal(group.description, null);
    assert.equal(group.name, 'Finance');
    const next = res.response.headers.get('etag') ?? '';
    assert.notEqual(next, etag);
    const stale = await client.PATCH('/v2/groups/{uuid}', {
      params: { path: { uuid: finance().uuid }, header: { 'If-Match': etag } },
      body: { name: 'Stale' },
    });
    assert.equal(stale.response.status, 412);
    assert.equal(stale.error?.code, 'PRECONDITION_FAILED');
    etag = next;
  });

  await t.test('put', async () => {
    const current = ok(await client.GET('/v2/groups/{uuid}', { params: { path: { uuid: finance().uuid } } }));
    const res = await client.PUT('/v2/groups', {
      params: { header: { 'If-Match': etag } },
      body: { ...current, name: 'Finance & Control', description: 'Owns the budget.' },
    });
    const group = ok(res);
    assert.equal(group.name, 'Finance & Control');
    assert.equal(group.createdAt, current.createdAt);
  });

  await t.test('delete', async () => {
    const res = await client.DELETE('/v2/groups/{uuid}', { params: { path: { uuid: finance().uuid } } });
    assert.equal(res.response.status, 204);
    assert.equal(res.error, undefined);
  });

  await t.test('a missing group is a typed 404 problem', async () => {
    const res = await client.GET('/v2/groups/{uuid}', { params: { path: { uuid: finance().uuid } } });
    assert.equal(res.response.status, 404);
    assert.equal(res.data, undefined);
    assert.equal(res.response.headers.get('content-type'), 'application/problem+json');
    // The error's type is the spec's Problem: this assignment is checked by tsc.
    const problem: Problem | undefined = res.error;
    assert.equal(problem?.code, 'NOT_FOUND');
    assert.equal(problem?.status, 404);
    assert.equal(problem?.instance, `/api/v2/groups/${finance().uuid}`);
  });
});
