// Child processes for the contract tests: a real groupsd on a fresh SQLite
// file, and Prism in front of it. Every process started here listens on
// 127.0.0.1 only and is stopped when the test ends, or when this process exits.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const contractDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const specPath = resolve(contractDir, '..', 'openapi.yaml');

const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});
// An interrupted run (Ctrl-C, a CI timeout) takes its servers down with it.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)));
}

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
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

/** Waits until something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(port, child, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${child.name} exited (${child.exitCode ?? child.signalCode}) before listening:\n${child.output()}`);
    }
    const up = await new Promise((ok) => {
      const s = connect(port, '127.0.0.1', () => { s.destroy(); ok(true); });
      s.on('error', () => ok(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new Error(`${child.name} not listening on ${port} after ${timeoutMs} ms:\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Spawns cmd with its output kept (the last 64 KiB) for error messages, and
 * returns the child with name, output() and stop().
 */
export function start(name, cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let out = '';
  const keep = (chunk) => { out = (out + chunk).slice(-65536); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  running.add(child);
  child.on('exit', () => running.delete(child));
  child.name = name;
  child.output = () => out;
  /** SIGTERM, then SIGKILL if it has not exited within 5 s. */
  child.stop = () => new Promise((ok) => {
    if (child.exitCode !== null || child.signalCode !== null) return ok();
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => { clearTimeout(kill); ok(); });
    child.kill('SIGTERM');
  });
  return child;
}

/** The groupsd binary under test, from GROUPSD_BIN. */
export function groupsdBin() {
  const bin = process.env.GROUPSD_BIN;
  if (!bin) throw new Error('GROUPSD_BIN is not set: run contract/run.sh BIN');
  return resolve(bin);
}

/**
 * Starts groupsd on a free port with a new SQLite file in a temp dir, creates
 * one API key per org (`groupsd keys create --org ORG`, plus keyArgs) and one
 * per entry of extraKeys ({ org, scopes?, rateLimit?, rateBurst? }, named by
 * its property), and waits for /readyz. Returns { url, keys, stop }: keys
 * maps each org and each extraKeys name to its secret.
 */
export async function startGroupsd({ orgs = [], keyArgs = [], extraKeys = {}, args = [] } = {}) {
  const bin = groupsdBin();
  const dir = mkdtempSync(join(tmpdir(), 'groupsd-contract-'));
  const database = `sqlite:${join(dir, 'groupsd.db')}`;
  const env = { ...process.env, GROUPS_DATABASE: database };
  delete env.GROUPS_ADDR;
  const keys = {};
  const create = (cli) => execFileSync(bin, ['keys', 'create', ...cli], { env, encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  for (const org of orgs) {
    keys[org] = create(['--org', org, ...keyArgs]);
  }
  for (const [name, spec] of Object.entries(extraKeys)) {
    const cli = ['--org', spec.org, '--name', name];
    if (spec.scopes) cli.push('--scopes', spec.scopes.join(','));
    if (spec.rateLimit !== undefined) cli.push('--rate-limit', String(spec.rateLimit));
    if (spec.rateBurst !== undefined) cli.push('--rate-burst', String(spec.rateBurst));
    keys[name] = create(cli);
  }
  const port = await freePort();
  const child = start('groupsd', bin, ['serve', '--addr', `127.0.0.1:${port}`, '--database', database, ...args], { env });
  await waitForPort(port, child);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while ((await fetch(`${url}/readyz`).then((r) => r.status, () => 0)) !== 200) {
    if (Date.now() > deadline) throw new Error(`groupsd /readyz not 200 after 30 s:\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    keys,
    output: child.output,
    stop: async () => { await child.stop(); rmSync(dir, { recursive: true, force: true }); },
  };
}

/**
 * Starts `prism proxy` for openapi.yaml in front of upstream (which must
 * include the /api prefix). Request validation is off so that the error cases
 * reach the server; --errors turns any response violation into a 500 with an
 * sl-violations header. Returns { url, stop, output }.
 */
export async function startPrism(upstream) {
  const port = await freePort();
  const prism = join(contractDir, 'node_modules', '@stoplight', 'prism-cli', 'dist', 'index.js');
  const child = start('prism', process.execPath, [prism, 'proxy', specPath, upstream,
    '--host', '127.0.0.1', '--port', String(port), '--errors', '--validate-request=false', '--cors=false',
    '--verboseLevel', 'warn'], { cwd: contractDir });
  await waitForPort(port, child);
  return { url: `http://127.0.0.1:${port}`, stop: child.stop, output: child.output };
}
