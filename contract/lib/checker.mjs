// The contract checker: sends a request through Prism and fails on any sign
// that the response broke openapi.yaml. Prism runs with --errors, so a
// violating response arrives as a 500 carrying an sl-violations header (a
// JSON list of the violations); the server itself must never answer 5xx in
// the scenario either.
//
// Prism accepts a body sent as application/json where the spec says
// application/problem+json (it treats the two as compatible), so the checker
// also requires the exact documented media type, and a documented status.
import { documentedResponses } from './spec.mjs';

/** A response that openapi.yaml does not allow. */
export class ContractViolation extends Error {
  constructor(message, violations) {
    super(message);
    this.name = 'ContractViolation';
    this.violations = violations;
  }
}

export class Checker {
  /** @param {string} prismUrl base URL of the Prism proxy, without /api */
  constructor(prismUrl) {
    this.prismUrl = prismUrl;
    /** operationId -> Set of statuses seen */
    this.seen = new Map();
    this.documented = documentedResponses();
  }

  /**
   * Sends one request through Prism and returns { status, headers, text, json }.
   * opts: key (bearer), headers, body (JSON-encoded), raw (sent as is),
   * contentType (default application/json when there is a body).
   * Throws ContractViolation when Prism reports one or the answer is a 5xx.
   */
  async call(operationId, method, path, opts = {}) {
    const headers = { ...(opts.headers ?? {}) };
    if (opts.key) headers.Authorization = `Bearer ${opts.key}`;
    let body;
    if (opts.raw !== undefined) body = opts.raw;
    else if (opts.body !== undefined) body = JSON.stringify(opts.body);
    if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      headers['Content-Type'] = opts.contentType ?? 'application/json';
    }
    const res = await fetch(this.prismUrl + path, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(20_000) });
    const text = await res.text();
    const what = `${operationId}: ${method} ${path} -> ${res.status}`;
    const header = res.headers.get('sl-violations');
    if (header) {
      let violations;
      try { violations = JSON.parse(header); } catch { violations = [{ message: header }]; }
      const lines = violations.map((v) => `  - [${v.severity ?? '?'}] ${(v.location ?? []).join('.')}: ${v.message}`);
      throw new ContractViolation(`${what}: the response violates openapi.yaml:\n${lines.join('\n')}\n  body: ${text.slice(0, 500)}`, violations);
    }
    if (res.status >= 500) {
      throw new ContractViolation(`${what}: server or Prism error: ${text.slice(0, 1000)}`, []);
    }
    const types = this.documented.get(operationId)?.get(String(res.status));
    if (!types) {
      throw new ContractViolation(`${what}: status ${res.status} is not documented for ${operationId}: ${text.slice(0, 500)}`, []);
    }
    const type = (res.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
    if (types.length === 0 ? text !== '' : !types.includes(type)) {
      const want = types.length ? types.join(' or ') : 'no body';
      throw new ContractViolation(`${what}: Content-Type ${JSON.stringify(type)}, openapi.yaml says ${want}; body: ${text.slice(0, 500)}`, []);
    }
    if (!this.seen.has(operationId)) this.seen.set(operationId, new Set());
    this.seen.get(operationId).add(res.status);
    let json;
    if (text && /json/.test(res.headers.get('content-type') ?? '')) json = JSON.parse(text);
    return { status: res.status, headers: res.headers, text, json };
  }
}
