// Types for procs.mjs, for the TypeScript SDK test.

/** A groupsd started by startGroupsd. */
export interface Groupsd {
  /** Base URL, http://127.0.0.1:PORT (no /api). */
  url: string;
  /** One API key per org asked for. */
  keys: Record<string, string>;
  /** The last 64 KiB of the server's output. */
  output(): string;
  /** Stops the server and removes its database. */
  stop(): Promise<void>;
}

export function startGroupsd(opts?: { orgs?: string[]; args?: string[] }): Promise<Groupsd>;
