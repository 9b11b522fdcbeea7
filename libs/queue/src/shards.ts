/**
 * How a scanner's queue is split into shards (issue 13). Each shard is its own BullMQ queue with its own hash tag,
 * so in a Redis Cluster each lives in its own slot and a pool's throughput is no longer bound to one master.
 *
 * Layout of N shards (every process computes the same names from the scanner id and N):
 * - shard 0 keeps the unsharded name `scan-<id>`, so `queueShards: 1` is the layout of earlier versions and raising
 *   N never orphans the jobs already queued;
 * - the 16384 slots are cut into N equal ranges; shard 0 sits in whichever range its slot falls, and each other
 *   range gets the first free name `scan-<id>.<k>` (k = 1, 2, …) whose slot falls in it. With M masters owning equal
 *   contiguous ranges (what `redis-cli --cluster create` makes) and N a multiple of M, every master holds N/M shards.
 * - a job goes to the shard whose range holds its session's slot: one transaction's jobs stay in one queue, and on
 *   such a cluster they sit on the master that holds the session's state. Choosing costs one CRC16 of the session id.
 */
import slotOf from 'cluster-key-slot';

const SLOTS = 16384;
/** A sane bound: each shard costs every worker process one BullMQ worker and one blocking connection. */
export const MAX_QUEUE_SHARDS = 256;

export interface ShardLayout {
  /** Queue names (without braces), by shard index. */
  readonly names: readonly string[];
  /** Shard index of the queue that holds each slot range. */
  readonly byRange: readonly number[];
}

const rangeOf = (slot: number, n: number) => Math.floor((slot * n) / SLOTS);

/** The shard queue names of a scanner's queue, `shards` of them (1 = the unsharded queue). */
export function shardLayout(base: string, shards: number): ShardLayout {
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_QUEUE_SHARDS) {
    throw new RangeError(`queue shards must be an integer from 1 to ${MAX_QUEUE_SHARDS}, got ${shards}`);
  }
  if (shards === 1) return { names: [base], byRange: [0] };
  const r0 = rangeOf(slotOf(`{${base}}`), shards);
  const names = [base];
  const byRange = new Array<number>(shards).fill(-1);
  byRange[r0] = 0;
  for (let i = 1; i < shards; i++) {
    const want = (r0 + i) % shards;
    // About `shards` tries per shard: a few thousand CRCs at most, once per process.
    for (let k = 1; ; k++) {
      const name = `${base}.${k}`;
      if (!names.includes(name) && rangeOf(slotOf(`{${name}}`), shards) === want) {
        byRange[want] = names.length;
        names.push(name);
        break;
      }
    }
  }
  return { names, byRange };
}

/** The shard of a session: the one whose slot range holds the session's slot (its keys' hash tag). */
export function shardOfSession(layout: ShardLayout, sessionId: string): number {
  if (layout.names.length === 1) return 0;
  return layout.byRange[rangeOf(slotOf(`{${sessionId}}`), layout.names.length)]!;
}
