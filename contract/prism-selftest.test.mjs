// Proves the Prism stage can fail: a deliberately broken server behind Prism
// answers outside openapi.yaml (a createdAt without its Z, a 400 as
// application/json instead of problem+json, a problem missing members, a
// deleted group without purgeAt) and
// the checker must flag each, while it passes the same server's correct answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Checker, ContractViolation } from './lib/checker.mjs';
import { freePort, startPrism } from './lib/procs.mjs';

const id = '0193a1f4-6c2e-7d8a-9b1c-2f3e4d5a6b7c';
const group = { uuid: id, name: 'Finance', description: null, status: 'ACTIVE', archivedAt: null, memberCount: 0, referenceCount: 0, createdAt: '2026-11-26T09:15:02.120Z', updatedAt: '2026-11-26T09:15:02.120Z' };
const problem = { type: 'urn:groupsd:problem:not-found', title: 'Not Found', status: 404, detail: 'no such group', instance: `/api/v2/groups/${id}`, code: 'NOT_FOUND', requestId: 'r1' };

function send(res, status, type, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': type, ...headers });
  res.end(JSON.stringify(body));
}

/** Answers like groupsd, except where a route is marked broken. */
function brokenServer(req, res) {
  const path = req.url.split('?')[0];
  if (req.method === 'GET' && path === '/api/v2/groups') {
    return send(res, 200, 'application/json', { content: [group], page: { size: 20, number: 0, totalElements: 1, totalPages: 1, next: null } });
  }
  if (req.method === 'GET' && path === `/api/v2/groups/${id}`) {
    // Broken: a timestamp without the Z the contract requires.
    return send(res, 200, 'application/json', { ...group, createdAt: '2026-11-26T09:15:02.120' }, { ETag: '"1"' });
  }
  if (req.method === 'POST' && path === '/api/v2/groups') {
    // Broken: an error that is not problem+json.
    return send(res, 400, 'application/json', { message: 'name is required' });
  }
  if (req.method === 'PUT' && path === '/api/v2/groups') {
    // Broken: a well-formed problem, but labelled application/json.
    return send(res, 400, 'application/json', { ...problem, status: 400, code: 'VALIDATION_ERROR' });
  }
  if (req.method === 'GET' && path === `/api/v2/deleted-groups/${id}`) {
    // Broken: a deleted group without its purgeAt.
    return send(res, 200, 'application/json', { ...group, deletedAt: '2026-11-27T10:00:00.000Z' });
  }
  if (req.method === 'DELETE' && path === `/api/v2/groups/${id}`) {
    // Broken: the problem body lacks its required code and requestId.
    const { code, requestId, ...partial } = problem;
    return send(res, 404, 'application/problem+json', partial);
  }
  return send(res, 404, 'application/problem+json', problem);
}

test('the Prism checker flags a broken server', { timeout: 60_000 }, async (t) => {
  const port = await freePort();
  const server = createServer(brokenServer);
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  t.after(() => new Promise((ok) => server.close(ok)));
  const prism = await startPrism(`http://127.0.0.1:${port}/api`);
  t.after(prism.stop);
  const check = new Checker(prism.url);

  await t.test('a correct response passes', async () => {
    const res = await check.call('listGroups', 'GET', '/v2/groups', { key: 'gk_x' });
    assert.equal(res.status, 200);
  });

  await t.test('createdAt without Z is a violation', async () => {
    await assert.rejects(check.call('getGroup', 'GET', `/v2/groups/${id}`, { key: 'gk_x' }), (err) => {
      assert.ok(err instanceof ContractViolation, err.stack);
      assert.match(err.message, /createdAt/);
      t.diagnostic(err.message);
      return true;
    });
  });

  await t.test('a 400 as application/json is a violation', async () => {
    await assert.rejects(check.call('createGroup', 'POST', '/v2/groups', { key: 'gk_x', body: { name: '' } }), (err) => {
      assert.ok(err instanceof ContractViolation, err.stack);
      t.diagnostic(err.message);
      return true;
    });
  });

  await t.test('a problem labelled application/json is a violation', async () => {
    await assert.rejects(check.call('replaceGroup', 'PUT', '/v2/groups', { key: 'gk_x', body: { uuid: id, name: 'x' } }), (err) => {
      assert.ok(err instanceof ContractViolation, err.stack);
      assert.match(err.message, /application\/problem\+json/);
      t.diagnostic(err.message);
      return true;
    });
  });

  await t.test('a problem without its required members is a violation', async () => {
    await assert.rejects(check.call('deleteGroup', 'DELETE', `/v2/groups/${id}`, { key: 'gk_x' }), (err) => {
      assert.ok(err instanceof ContractViolation, err.stack);
      assert.match(err.message, /code|requestId/);
      t.diagnostic(err.message);
      return true;
    });
  });

  await t.test('a deleted group without purgeAt is a violation', async () => {
    await assert.rejects(check.call('getDeletedGroup', 'GET', `/v2/deleted-groups/${id}`, { key: 'gk_x' }), (err) => {
      assert.ok(err instanceof ContractViolation, err.stack);
      assert.match(err.message, /purgeAt/);
      t.diagnostic(err.message);
      return true;
    });
  });
});
