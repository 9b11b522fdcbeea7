import type { RedisClient } from '@hookgate/redis';
import type { ScanOutcome } from '@hookgate/contracts';
import { pack, unpack } from './codec.js';

interface CachedOutcome {
  v: 1;
  outcome: ScanOutcome;
}

const isCached = (x: Record<string, unknown>) => typeof x.outcome === 'object' && x.outcome !== null;

/**
 * Scan results cached by content: the key joins the scanner id, a version of its configuration and a digest of
 * the message (plus whatever context the scanner says its outcome depends on). A changed configuration changes
 * the version, so stale results are never reused. Single-key commands: no hash tag needed.
 */
export class ResultCache {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix = 'hg',
  ) {}

  key(scanner: string, version: string, digest: string): string {
    return `${this.prefix}:cache:${scanner}:${version}:${digest}`;
  }

  async get(scanner: string, version: string, digest: string): Promise<ScanOutcome | undefined> {
    const b = await this.redis.getBuffer(this.key(scanner, version, digest));
    return b ? unpack<CachedOutcome>(b, 'cached outcome', isCached).outcome : undefined;
  }

  async set(
    scanner: string,
    version: string,
    digest: string,
    outcome: ScanOutcome,
    ttlMs: number,
  ): Promise<void> {
    await this.redis.set(
      this.key(scanner, version, digest),
      pack({ v: 1, outcome } satisfies CachedOutcome),
      'PX',
      ttlMs,
    );
  }
}
