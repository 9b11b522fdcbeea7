/**
 * The key layout, in one place. Every key of a session shares the `{sessionId}` hash tag, so a session's keys live
 * in one Redis Cluster slot and multi-key scripts work.
 *
 *   <prefix>:{sid}:s            hash   session state: txn counter
 *   <prefix>:{sid}:log          list   "<txn>|<stage>|<reqId>" per stage request, newest last (bounded)
 *   <prefix>:{sid}:r:<reqId>    hash   req = msgpack StageRequest, txn = n, msg = message bytes (claim-check)
 *   <prefix>:{sid}:res:<reqId>  hash   scanner id -> msgpack ScanResult (set once per scanner)
 *   <prefix>:{sid}:v:<reqId>    string msgpack VerdictRecord (set once)
 *   <prefix>:reply:<instance>   pubsub channel of one ingress instance
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
  results(sid: string, reqId: string): string {
    return `${this.prefix}:{${sid}}:res:${reqId}`;
  }
  verdict(sid: string, reqId: string): string {
    return `${this.prefix}:{${sid}}:v:${reqId}`;
  }
  replyChannel(instanceId: string): string {
    return `${this.prefix}:reply:${instanceId}`;
  }
}
