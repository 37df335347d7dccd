// The TypeScript SDK a client team would generate from openapi.yaml
// (openapi-typescript types + openapi-fetch), run against a live groupsd.
// It proves the spec's types compile under tsc and match what the server sends.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema.gen.js';
import { startGroupsd, type Groupsd } from '../lib/procs.mjs';

type Group = components['schemas']['Group'];
type Problem = components['schemas']['Problem'];
type ApiKey = components['schemas']['ApiKey'];
type ApiKeyWithSecret = components['schemas']['ApiKeyWithSecret'];
type Scope = components['schemas']['Scope'];

let server: Groupsd;
let client: ReturnType<typeof createClient<paths>>;

before(async () => {
  server = await startGroupsd({
    orgs: ['sdk-org'],
    extraKeys: { 'sdk-admin': { org: 'sdk-org', scopes: ['groups:read', 'groups:write', 'keys:manage'] } },
  });
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

type Member = components['schemas']['Member'];
type MembersChangeResult = components['schemas']['MembersChangeResult'];

test('membership with the generated SDK', async (t) => {
  const group = ok(await client.POST('/v2/groups', { body: { name: 'Members' } }));
  const other = ok(await client.POST('/v2/groups', { body: { name: 'Auditors' } }));
  const path = { uuid: group.uuid, userId: 'user-42' };

  await t.test('add is 201 with Location, then 200 with the original membership', async () => {
    const first = await client.PUT('/v2/groups/{uuid}/members/{userId}', { params: { path } });
    assert.equal(first.response.status, 201);
    const member: Member = ok(first);
    assert.equal(member.userId, 'user-42');
    assert.match(member.addedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(first.response.headers.get('location'), `/api/v2/groups/${group.uuid}/members/user-42`);
    const again = await client.PUT('/v2/groups/{uuid}/members/{userId}', { params: { path } });
    assert.equal(again.response.status, 200);
    assert.deepEqual(ok(again), member);
    const read = ok(await client.GET('/v2/groups/{uuid}/members/{userId}', { params: { path } }));
    assert.deepEqual(read, member);
  });

  await t.test('changeMembers sorts every id into the four result lists', async () => {
    const res = await client.PATCH('/v2/groups/{uuid}/members', {
      params: { path: { uuid: group.uuid }, header: { 'Idempotency-Key': randomUUID() } },
      body: { add: ['user-7', 'user-42', 'B', 'a', 'Z'], remove: ['nobody'] },
    });
    const result: MembersChangeResult = ok(res);
    assert.deepEqual(result, { added: ['user-7', 'B', 'a', 'Z'], alreadyMembers: ['user-42'], removed: [], notMembers: ['nobody'] });
    const removed = ok(await client.PATCH('/v2/groups/{uuid}/members', { params: { path: { uuid: group.uuid } }, body: { remove: ['Z', 'Y'] } }));
    assert.deepEqual(removed, { added: [], alreadyMembers: [], removed: ['Z'], notMembers: ['Y'] });
    const dup = await client.PATCH('/v2/groups/{uuid}/members', { params: { path: { uuid: group.uuid } }, body: { add: ['x', 'x'], remove: ['a'] } });
    assert.equal(dup.response.status, 400);
    assert.deepEqual(dup.error?.errors?.map((e) => e.pointer), ['/add/1']);
  });

  await t.test('list pages in byte order and memberCount agrees', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = ok(await client.GET('/v2/groups/{uuid}/members', {
        params: { path: { uuid: group.uuid }, query: cursor ? { size: 2, cursor } : { size: 2 } },
      }));
      assert.equal(page.page.totalElements, 4);
      seen.push(...page.content.map((m) => m.userId));
      cursor = page.page.next ?? undefined;
    } while (cursor);
    assert.deepEqual(seen, ['B', 'a', 'user-42', 'user-7']);
    const read = ok(await client.GET('/v2/groups/{uuid}', { params: { path: { uuid: group.uuid } } }));
    assert.equal(read.memberCount, seen.length);
  });

  await t.test('listUserGroups lists the groups of a user', async () => {
    ok(await client.PUT('/v2/groups/{uuid}/members/{userId}', { params: { path: { uuid: other.uuid, userId: 'user-42' } } }));
    const groups = ok(await client.GET('/v2/users/{userId}/groups', { params: { path: { userId: 'user-42' }, query: { sort: ['name'] } } }));
    assert.deepEqual(groups.content.map((g) => g.name), ['Auditors', 'Members']);
    assert.deepEqual(groups.content.map((g) => g.memberCount), [1, 4]);
    const none = ok(await client.GET('/v2/users/{userId}/groups', { params: { path: { userId: 'stranger' } } }));
    assert.deepEqual(none.content, []);
  });

  await t.test('remove is 204; then the member is a typed MEMBER_NOT_FOUND', async () => {
    const res = await client.DELETE('/v2/groups/{uuid}/members/{userId}', { params: { path } });
    assert.equal(res.response.status, 204);
    const missing = await client.GET('/v2/groups/{uuid}/members/{userId}', { params: { path } });
    assert.equal(missing.response.status, 404);
    const problem: Problem | undefined = missing.error;
    assert.equal(problem?.code, 'MEMBER_NOT_FOUND');
    const noGroup = await client.GET('/v2/groups/{uuid}/members/{userId}', { params: { path: { ...path, uuid: randomUUID() } } });
    assert.equal(noGroup.error?.code, 'NOT_FOUND');
  });
});

/**
 * The safe-retry pattern as openapi-fetch middleware, the counterpart of the
 * Go SDK's retries: every logical POST gets one Idempotency-Key (kept by
 * every retry of it); a request is retried on a network error, 429 or 503
 * only when repeating it cannot act twice (GET, PUT, DELETE; POST with an
 * Idempotency-Key; PATCH with If-Match or an Idempotency-Key), with
 * full-jitter backoff that honours Retry-After.
 */
function safeRetries({ maxAttempts = 4, baseMs = 50, maxMs = 2000 } = {}): Middleware {
  // A pristine copy of each request, taken before fetch consumes its body.
  const pending = new Map<string, Request>();
  const replayable = (r: Request) =>
    ['GET', 'HEAD', 'PUT', 'DELETE'].includes(r.method) ||
    (r.method === 'POST' && r.headers.has('Idempotency-Key')) ||
    (r.method === 'PATCH' && (r.headers.has('If-Match') || r.headers.has('Idempotency-Key')));
  const transient = (res: Response) => res.status === 429 || res.status === 503;
  const wait = (attempt: number, res?: Response) => {
    const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
    const retryAfter = Number(res?.headers.get('retry-after') ?? 0) * 1000;
    return new Promise((r) => setTimeout(r, Math.max(Math.random() * ceiling, retryAfter)));
  };
  async function retry(id: string, last: Response | unknown): Promise<Response | Error> {
    const original = pending.get(id);
    pending.delete(id);
    if (!original || !replayable(original)) return last instanceof Response ? last : (last as Error);
    for (let attempt = 2; attempt <= maxAttempts; attempt++) {
      await wait(attempt - 1, last instanceof Response ? last : undefined);
      try {
        last = await fetch(original.clone());
        if (!transient(last as Response)) return last as Response;
      } catch (err) {
        last = err;
      }
    }
    return last instanceof Response ? last : (last as Error);
  }
  return {
    onRequest({ request, id }) {
      if (request.method === 'POST' && !request.headers.has('Idempotency-Key')) {
        request.headers.set('Idempotency-Key', randomUUID());
      }
      pending.set(id, request.clone());
      return request;
    },
    async onResponse({ response, id }) {
      if (!transient(response)) {
        pending.delete(id);
        return undefined;
      }
      const res = await retry(id, response);
      if (res instanceof Error) throw res;
      return res;
    },
    async onError({ error, id }) {
      return retry(id, error);
    },
  };
}

type Fault = 'dropAfter' | 'unavailable' | 'dropBefore';

/** A proxy in front of groupsd that spoils the first POSTs as planned. */
async function faultProxy(upstream: string, plan: Fault[]) {
  const target = new URL(upstream);
  const seen = { posts: 0, forwarded: 0, keys: [] as string[] };
  const proxy: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const fault = req.method === 'POST' ? plan.shift() : undefined;
      if (req.method === 'POST') {
        seen.posts++;
        seen.keys.push(String(req.headers['idempotency-key'] ?? ''));
      }
      if (fault === 'dropBefore') return req.socket.destroy();
      if (fault === 'unavailable') {
        res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '0' });
        return res.end(JSON.stringify({ type: 'urn:groupsd:problem:service-unavailable', title: 'Service Unavailable', status: 503, detail: 'injected', instance: req.url, code: 'SERVICE_UNAVAILABLE', requestId: 'proxy' }));
      }
      const up = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
        const body: Buffer[] = [];
        upRes.on('data', (c: Buffer) => body.push(c));
        upRes.on('end', () => {
          seen.forwarded++;
          // The server has done the work; the client never hears of it.
          if (fault === 'dropAfter') return req.socket.destroy();
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          res.end(Buffer.concat(body));
        });
      });
      up.on('error', () => req.socket.destroy());
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const { port } = proxy.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((r) => proxy.close(r)) };
}

type Reference = components['schemas']['Reference'];
type DeletedGroup = components['schemas']['DeletedGroup'];
type DeleteCheck = components['schemas']['DeleteCheck'];

test('lifecycle with the generated SDK: archive, status filter, references, GROUP_IN_USE, trash and restore', async (t) => {
  const group = ok(await client.POST('/v2/groups', { body: { name: 'Lifecycle', status: 'ACTIVE' } }));
  const uuid = group.uuid;
  assert.equal(group.status, 'ACTIVE');
  assert.equal(group.archivedAt, null);
  assert.equal(group.referenceCount, 0);

  await t.test('archive with If-Match; writes are a typed GROUP_ARCHIVED; reactivate by PUT', async () => {
    const read = await client.GET('/v2/groups/{uuid}', { params: { path: { uuid } } });
    const etag = read.response.headers.get('etag') ?? '';
    const archived = ok(await client.PATCH('/v2/groups/{uuid}', {
      params: { path: { uuid }, header: { 'If-Match': etag } },
      body: { status: 'ARCHIVED' },
      headers: { 'Content-Type': 'application/merge-patch+json' },
    }));
    assert.equal(archived.status, 'ARCHIVED');
    assert.match(archived.archivedAt ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const refused = await client.PUT('/v2/groups/{uuid}/members/{userId}', { params: { path: { uuid, userId: 'user-1' } } });
    assert.equal(refused.response.status, 409);
    const problem: Problem | undefined = refused.error;
    assert.equal(problem?.code, 'GROUP_ARCHIVED');
    const listed = ok(await client.GET('/v2/groups', { params: { query: { status: 'ARCHIVED' } } }));
    assert.deepEqual(listed.content.map((g) => g.uuid), [uuid]);
    const active = ok(await client.GET('/v2/groups', { params: { query: { status: 'ACTIVE', q: 'lifecycle' } } }));
    assert.deepEqual(active.content, []);
    const all = ok(await client.GET('/v2/groups', { params: { query: { status: 'ALL', q: 'lifecycle' } } }));
    assert.equal(all.page.totalElements, 1);
    const back: Group = ok(await client.PUT('/v2/groups', { body: { ...archived, status: 'ACTIVE' } }));
    assert.equal(back.status, 'ACTIVE');
    assert.equal(back.archivedAt, null);
  });

  await t.test('references: 201 then 200, typed REFERENCE_NOT_FOUND, paged list', async () => {
    const path = { uuid, referenceId: 'chain-7' };
    const body = { kind: 'approval-chain', displayName: 'Travel approvals', url: 'https://approvals.example.com/chains/7' };
    const first = await client.PUT('/v2/groups/{uuid}/references/{referenceId}', { params: { path }, body });
    assert.equal(first.response.status, 201);
    const ref: Reference = ok(first);
    assert.equal(first.response.headers.get('location'), `/api/v2/groups/${uuid}/references/chain-7`);
    const again = await client.PUT('/v2/groups/{uuid}/references/{referenceId}', { params: { path }, body });
    assert.equal(again.response.status, 200);
    assert.equal(ok(again).createdAt, ref.createdAt);
    ok(await client.PUT('/v2/groups/{uuid}/references/{referenceId}', { params: { path: { uuid, referenceId: 'budget-1' } }, body: { kind: 'budget', displayName: 'Q3 budget' } }));
    const missing = await client.GET('/v2/groups/{uuid}/references/{referenceId}', { params: { path: { uuid, referenceId: 'nope' } } });
    assert.equal(missing.response.status, 404);
    assert.equal(missing.error?.code, 'REFERENCE_NOT_FOUND');
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = ok(await client.GET('/v2/groups/{uuid}/references', { params: { path: { uuid }, query: cursor ? { size: 1, cursor } : { size: 1 } } }));
      ids.push(...page.content.map((r) => r.referenceId));
      cursor = page.page.next ?? undefined;
    } while (cursor);
    assert.deepEqual(ids, ['budget-1', 'chain-7']);
    const read = ok(await client.GET('/v2/groups/{uuid}', { params: { path: { uuid } } }));
    assert.equal(read.referenceCount, 2);
  });

  await t.test('delete is a typed GROUP_IN_USE; dryRun answers a DeleteCheck', async () => {
    const refused = await client.DELETE('/v2/groups/{uuid}', { params: { path: { uuid } } });
    assert.equal(refused.response.status, 409);
    const problem: Problem | undefined = refused.error;
    assert.equal(problem?.code, 'GROUP_IN_USE');
    assert.equal(problem?.totalReferences, 2);
    assert.deepEqual(problem?.references?.map((r) => r.referenceId), ['budget-1', 'chain-7']);
    const dry = await client.DELETE('/v2/groups/{uuid}', { params: { path: { uuid }, query: { dryRun: true } } });
    assert.equal(dry.response.status, 200);
    const check: DeleteCheck | undefined = dry.data;
    assert.deepEqual({ ...check, references: check?.references.length }, { deletable: false, memberCount: 0, totalReferences: 2, references: 2 });
    for (const referenceId of ['budget-1', 'chain-7']) {
      const res = await client.DELETE('/v2/groups/{uuid}/references/{referenceId}', { params: { path: { uuid, referenceId } } });
      assert.equal(res.response.status, 204);
    }
  });

  await t.test('delete to the trash, list and get it, restore into a taken name (409), then under a new one, and purge', async () => {
    const deleted = await client.DELETE('/v2/groups/{uuid}', { params: { path: { uuid } } });
    assert.equal(deleted.response.status, 204);
    const gone = await client.GET('/v2/groups/{uuid}', { params: { path: { uuid } } });
    assert.equal(gone.error?.code, 'NOT_FOUND');
    const trash = ok(await client.GET('/v2/deleted-groups', { params: { query: { size: 10 } } }));
    const entry: DeletedGroup | undefined = trash.content.find((d) => d.uuid === uuid);
    assert.ok(entry, 'the trash lists the group');
    assert.ok(Date.parse(entry.purgeAt) > Date.parse(entry.deletedAt));
    assert.deepEqual(ok(await client.GET('/v2/deleted-groups/{uuid}', { params: { path: { uuid } } })), entry);
    ok(await client.POST('/v2/groups', { body: { name: 'LIFECYCLE' } }));
    const conflict = await client.POST('/v2/deleted-groups/{uuid}/restore', { params: { path: { uuid } } });
    assert.equal(conflict.response.status, 409);
    assert.equal(conflict.error?.code, 'NAME_CONFLICT');
    const restored = await client.POST('/v2/deleted-groups/{uuid}/restore', { params: { path: { uuid } }, body: { name: 'Lifecycle (restored)' } });
    const back: Group = ok(restored);
    assert.equal(back.uuid, uuid);
    assert.equal(back.name, 'Lifecycle (restored)');
    assert.equal(restored.response.headers.get('location'), `/api/v2/groups/${uuid}`);
    assert.equal(ok(await client.GET('/v2/groups/{uuid}', { params: { path: { uuid } } })).createdAt, group.createdAt);
    assert.equal((await client.DELETE('/v2/groups/{uuid}', { params: { path: { uuid } } })).response.status, 204);
    const purged = await client.DELETE('/v2/deleted-groups/{uuid}', { params: { path: { uuid } } });
    assert.equal(purged.response.status, 204);
    const none = await client.GET('/v2/deleted-groups/{uuid}', { params: { path: { uuid } } });
    assert.equal(none.error?.code, 'NOT_FOUND');
  });
});

test('a create retried through a flaky network creates one group', async (t) => {
  for (const plan of [['dropAfter'], ['unavailable', 'dropAfter'], ['dropBefore', 'unavailable']] as Fault[][]) {
    await t.test(plan.join(' then '), async () => {
      const proxy = await faultProxy(server.url, [...plan]);
      try {
        const flaky = createClient<paths>({
          baseUrl: `${proxy.url}/api`,
          headers: { Authorization: `Bearer ${server.keys['sdk-org']}` },
        });
        flaky.use(safeRetries());
        const name = `Retried ${plan.join(' ')}`;
        const res = await flaky.POST('/v2/groups', { body: { name } });
        assert.equal(res.response.status, 201);
        const group = ok(res);
        assert.equal(proxy.seen.posts, plan.length + 1);
        assert.equal(new Set(proxy.seen.keys).size, 1, `one Idempotency-Key for every attempt: ${proxy.seen.keys}`);
        assert.ok(proxy.seen.keys[0]);
        const listed = ok(await client.GET('/v2/groups', { params: { query: { q: name } } }));
        assert.deepEqual(listed.content.map((g) => g.uuid), [group.uuid], 'exactly one group was created');
      } finally {
        await proxy.close();
      }
    });
  }
});

test('scoped API keys with the generated SDK: create, use (403 INSUFFICIENT_SCOPE), rotate, delete; 429 RATE_LIMITED', async (t) => {
  const admin = createClient<paths>({
    baseUrl: `${server.url}/api`,
    headers: { Authorization: `Bearer ${server.keys['sdk-admin']}` },
  });
  const as = (secret: string) => createClient<paths>({ baseUrl: `${server.url}/api`, headers: { Authorization: `Bearer ${secret}` } });
  let reader: ApiKeyWithSecret | undefined;

  await t.test('create a read-only key: the secret is in this response only', async () => {
    const scopes: Scope[] = ['groups:read'];
    const res = await admin.POST('/v2/api-keys', { body: { name: 'sdk reader', scopes } });
    assert.equal(res.response.status, 201);
    reader = ok(res);
    assert.match(reader.secret, new RegExp(`^gk_${reader.id}_`));
    assert.deepEqual(reader.scopes, scopes);
    assert.equal(res.response.headers.get('location'), `/api/v2/api-keys/${reader.id}`);
    const got: ApiKey = ok(await admin.GET('/v2/api-keys/{keyId}', { params: { path: { keyId: reader.id } } }));
    assert.equal(got.name, 'sdk reader');
    assert.ok(!('secret' in got), 'get never shows the secret');
    const listed = ok(await admin.GET('/v2/api-keys', { params: { query: { size: 100 } } }));
    assert.ok(listed.content.some((k) => k.id === reader!.id));
  });

  await t.test('use it: reads work, a write is 403 INSUFFICIENT_SCOPE', async () => {
    const client = as(reader!.secret);
    ok(await client.GET('/v2/groups', {}));
    const res = await client.POST('/v2/groups', { body: { name: 'Not for readers' } });
    assert.equal(res.response.status, 403);
    // The error's type is the spec's Problem: this assignment is checked by tsc.
    const problem: Problem | undefined = res.error;
    assert.equal(problem?.code, 'INSUFFICIENT_SCOPE');
    assert.match(problem?.detail ?? '', /groups:write/);
    assert.match(res.response.headers.get('www-authenticate') ?? '', /error="insufficient_scope", scope="groups:write"/);
    const keys = await client.GET('/v2/api-keys', {});
    assert.equal(keys.error?.code, 'INSUFFICIENT_SCOPE');
    // Nor may the admin hand out a scope it lacks.
    const up = await admin.POST('/v2/api-keys', { body: { name: 'hooks', scopes: ['webhooks:manage'] } });
    assert.equal(up.response.status, 403);
    assert.equal(up.error?.code, 'INSUFFICIENT_SCOPE');
  });

  await t.test('rotate: a new secret, the old one works for the grace period', async () => {
    const res = await admin.POST('/v2/api-keys/{keyId}/rotate', { params: { path: { keyId: reader!.id } }, body: { gracePeriod: 60 } });
    const rotated: ApiKeyWithSecret = ok(res);
    assert.equal(rotated.id, reader!.id);
    assert.notEqual(rotated.secret, reader!.secret);
    assert.ok(rotated.previousSecretExpiresAt && rotated.rotatedAt);
    assert.equal(Date.parse(rotated.previousSecretExpiresAt) - Date.parse(rotated.rotatedAt), 60_000);
    ok(await as(reader!.secret).GET('/v2/groups', {}));
    ok(await as(rotated.secret).GET('/v2/groups', {}));
    reader = rotated;
  });

  await t.test('delete: 204, then 404, and the key stops working', async () => {
    const path = { keyId: reader!.id };
    const res = await admin.DELETE('/v2/api-keys/{keyId}', { params: { path } });
    assert.equal(res.response.status, 204);
    const again = await admin.DELETE('/v2/api-keys/{keyId}', { params: { path } });
    assert.equal(again.error?.code, 'NOT_FOUND');
    // Authentication answers are cached for 0.5 s.
    await new Promise((r) => setTimeout(r, 1100));
    const refused = await as(reader!.secret).GET('/v2/groups', {});
    assert.equal(refused.response.status, 401);
  });

  await t.test('a key with a tiny rate limit gets 429 RATE_LIMITED with Retry-After', async () => {
    const tiny = ok(await admin.POST('/v2/api-keys', { body: { name: 'tiny', scopes: ['groups:read'], rateLimit: { perSecond: 0.01, burst: 1 } } }));
    assert.deepEqual(tiny.rateLimit, { perSecond: 0.01, burst: 1 });
    const client = as(tiny.secret);
    const first = await client.GET('/v2/groups', {});
    ok(first);
    assert.equal(first.response.headers.get('ratelimit-policy'), '"key";q=1;w=100');
    const res = await client.GET('/v2/groups', {});
    assert.equal(res.response.status, 429);
    const problem: Problem | undefined = res.error;
    assert.equal(problem?.code, 'RATE_LIMITED');
    assert.match(res.response.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
    assert.match(res.response.headers.get('ratelimit') ?? '', /^"key";r=0;t=\d+$/);
    // PATCH lifts the key back to the server's default limit.
    const patched: ApiKey = ok(await admin.PATCH('/v2/api-keys/{keyId}', { params: { path: { keyId: tiny.id } }, body: { rateLimit: null } }));
    assert.equal(patched.rateLimit, undefined);
  });
});
