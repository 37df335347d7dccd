// Proves the project's Spectral rules can fail: each mutation of a copy of
// openapi.yaml breaks one promise, and the rule named for it must report it. A rule
// whose JSONPath matched nothing would otherwise pass forever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { contractDir, specPath } from './lib/procs.mjs';

const spectral = join(contractDir, 'node_modules', '@stoplight', 'spectral-cli', 'dist', 'index.js');
const problem = { $ref: '#/components/schemas/Problem' };

const mutations = {
  'operation-operationId': (d) => { delete d.paths['/v2/groups'].post.operationId; },
  'groupsd-operation-summary': (d) => { delete d.paths['/v2/groups/{uuid}'].get.summary; },
  'operation-description': (d) => { delete d.paths['/v2/groups/{uuid}'].delete.description; },
  'operation-tags': (d) => { delete d.paths['/v2/groups'].get.tags; },
  'groupsd-error-is-problem-json': (d) => { d.components.responses.NotFound.content = { 'application/json': { schema: problem } }; },
  'groupsd-problem-json-references-problem': (d) => {
    d.components.responses.PreconditionFailed.content['application/problem+json'].schema = { $ref: '#/components/schemas/ProblemFieldError' };
  },
  'groupsd-schema-description-example': (d) => { delete d.components.schemas.PageMetadata.properties.size.description; },
  'groupsd-parameter-description-example': (d) => { delete d.components.parameters.Query.schema.example; },
  'groupsd-header-description-example': (d) => { delete d.components.headers.ETag.schema.example; },
  'groupsd-info-complete': (d) => { delete d.info.license; },
};

test('each project lint rule fails a spec that breaks it', async (t) => {
  // The mutations touch different places, so one copy carries them all and
  // one Spectral run (about 2 s) checks every rule.
  const dir = mkdtempSync(join(tmpdir(), 'groupsd-lint-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const doc = parse(readFileSync(specPath, 'utf8'));
  for (const mutate of Object.values(mutations)) mutate(doc);
  const file = join(dir, 'broken.yaml');
  writeFileSync(file, stringify(doc));
  let out;
  try {
    ({ stdout: out } = await promisify(execFile)(process.execPath, [spectral, 'lint', '--quiet', '-f', 'json', '--fail-severity=warn',
      '--ruleset', join(contractDir, '.spectral.yaml'), file], { maxBuffer: 64 << 20 }));
  } catch (err) {
    out = err.stdout;
  }
  const fired = new Set(JSON.parse(out).map((r) => r.code));
  for (const rule of Object.keys(mutations)) {
    assert.ok(fired.has(rule), `${rule} did not fire on its broken spot; fired: ${[...fired].join(', ')}`);
  }
});
