// What openapi.yaml documents for each operation: its statuses and, per
// status, the media types of the body (none for a bodiless response).
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { specPath } from './procs.mjs';

const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** Map operationId -> Map status -> string[] media types. */
export function documentedResponses(path = specPath) {
  const doc = parse(readFileSync(path, 'utf8'));
  const deref = (obj) => {
    while (obj && obj.$ref) {
      obj = obj.$ref.replace(/^#\//, '').split('/').reduce((o, k) => o[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
    }
    return obj;
  };
  const ops = new Map();
  for (const item of Object.values(doc.paths)) {
    for (const m of methods) {
      const op = item[m];
      if (!op) continue;
      const statuses = new Map();
      for (const [status, resp] of Object.entries(op.responses)) {
        statuses.set(status, Object.keys(deref(resp).content ?? {}));
      }
      ops.set(op.operationId, statuses);
    }
  }
  return ops;
}

/** The summary of every operation, in the order openapi.yaml lists them. */
export function operationSummaries(path = specPath) {
  const doc = parse(readFileSync(path, 'utf8'));
  return Object.values(doc.paths).flatMap((item) => methods.filter((m) => item[m]).map((m) => item[m].summary));
}

/**
 * Every operation as { operationId, method (upper case), path (the template),
 * contentType (the first request media type, or undefined), scopes (of its
 * first security requirement, or the document's) }, in the order
 * openapi.yaml lists them.
 */
export function operations(path = specPath) {
  const doc = parse(readFileSync(path, 'utf8'));
  return Object.entries(doc.paths).flatMap(([template, item]) => methods.filter((m) => item[m]).map((m) => ({
    operationId: item[m].operationId,
    method: m.toUpperCase(),
    path: template,
    contentType: Object.keys(item[m].requestBody?.content ?? {})[0],
    scopes: (item[m].security ?? doc.security ?? [])[0]?.bearerAuth ?? [],
  })));
}
