// Types for procs.mjs, for the TypeScript SDK test.

/** A groupsd started by startGroupsd. */
export interface Groupsd {
  /** Base URL, http://127.0.0.1:PORT (no /api). */
  url: string;
  /** One API key per org asked for, and one per extraKeys name. */
  keys: Record<string, string>;
  /** The last 64 KiB of the server's output. */
  output(): string;
  /** Stops the server and removes its database. */
  stop(): Promise<void>;
}

/** A key made by `groupsd keys create` besides the one per org. */
export interface KeySpec {
  org: string;
  /** --scopes (default groups:read,groups:write). */
  scopes?: string[];
  /** --rate-limit, requests per second. */
  rateLimit?: number;
  /** --rate-burst. */
  rateBurst?: number;
}

export function startGroupsd(opts?: { orgs?: string[]; keyArgs?: string[]; extraKeys?: Record<string, KeySpec>; args?: string[] }): Promise<Groupsd>;
