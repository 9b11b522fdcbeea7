/**
 * The key layout, in one place. Every key of a session shares the `{sessionId}` hash tag, so a session's keys live
 * in one Redis Cluster slot and multi-key scripts work.
 *
 *   <prefix>:{sid}:s            hash   session state: txn counter, last transaction that reached data
 *   <prefix>:{sid}:log          list   "<txn>|<stage>|<reqId>" per recorded stage request, newest last (bounded)
 *   <prefix>:{sid}:r:<reqId>    hash   req = msgpack StageRequest, txn = n, res:<scanner> = msgpack ScanResult (set
 *                                      once per scanner), verdict = msgpack VerdictRecord (set once)
 *   <prefix>:{sid}:m:<reqId>    string message bytes (claim-check); lives only while scans are in flight: deleted
 *                                      once every scanner answered, and expires shortly after the stage deadline
 *   <prefix>:reply:<instance>   pubsub channel of one ingress instance
 *   <prefix>:pools              zset   "<scanner>|<worker>" scored by the expiry of its last heartbeat
 *   <prefix>:pools:events       pubsub a worker joined or left a pool
 *   <prefix>:feed               stream recent verdicts, content-free (field e: JSON), capped (console; issue 16)
 *   <prefix>:qid:<queueId>      string the transaction id last seen with this MTA queue id; expires with the state
 */
export class StoreKeys {
  constructor(readonly prefix: string) {}
  session(sid: string): string {
    return `${this.prefix}:{${sid}}:s`;
  }
  log(sid: string): string {
    return `${this.prefix}:{${sid}}:log`;
  }
  request(sid: string, reqId: string): string {
    return `${this.prefix}:{${sid}}:r:${reqId}`;
  }
  message(sid: string, reqId: string): string {
    return `${this.prefix}:{${sid}}:m:${reqId}`;
  }
  replyChannel(instanceId: string): string {
    return `${this.prefix}:reply:${instanceId}`;
  }
  pools(): string {
    return `${this.prefix}:pools`;
  }
  poolEvents(): string {
    return `${this.prefix}:pools:events`;
  }
  feed(): string {
    return `${this.prefix}:feed`;
  }
  queueId(queueId: string): string {
    return `${this.prefix}:qid:${queueId}`;
  }
}

/** Hash fields of a stage request. */
export const FIELD = {
  REQUEST: 'req',
  TXN: 'txn',
  VERDICT: 'verdict',
  /** Prefix of one scanner's result field: `res:<scanner>`. */
  RESULT: 'res:',
} as const;
