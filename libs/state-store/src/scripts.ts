/**
 * Lua scripts. Each declares every key it touches (Cluster-safe: all share the session's hash tag). One script is
 * one round trip; the request path makes one per operation.
 */

/**
 * beginStage: opens or advances the session and stores the stage request. The message bytes never pass through Lua
 * (copying 20 KB into and out of a script cost 46 µs of Redis CPU, four times a plain SET): the caller sends them
 * with a plain SET in the same round trip.
 * KEYS[1] session hash, KEYS[2] log list, KEYS[3] request hash
 * ARGV[1] stage, ARGV[2] state ttl ms, ARGV[3] reqId, ARGV[4] msgpack StageRequest (txnId left empty),
 * ARGV[5] max log entries
 * Returns the transaction number n (0 before the first MAIL of the session).
 * `connect` resets the session (a reused client port starts clean); `mail` starts a new transaction, and so does
 * `rcpt` or `data` after a transaction that reached `data` (for MTAs that hook only some stages, and because
 * stages where nothing is checked are never recorded).
 */
export const BEGIN_STAGE = `
local stage = ARGV[1]
local ttl = tonumber(ARGV[2])
local n
if stage == 'connect' then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('HSET', KEYS[1], 'txn', 0)
  n = 0
elseif stage == 'mail' then
  n = redis.call('HINCRBY', KEYS[1], 'txn', 1)
else
  n = tonumber(redis.call('HGET', KEYS[1], 'txn') or '0')
  if stage == 'rcpt' or stage == 'data' then
    local closed = tonumber(redis.call('HGET', KEYS[1], 'closed') or '-1')
    if n == 0 or n == closed then n = redis.call('HINCRBY', KEYS[1], 'txn', 1) end
    if stage == 'data' then redis.call('HSET', KEYS[1], 'closed', n) end
  end
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('RPUSH', KEYS[2], n .. '|' .. stage .. '|' .. ARGV[3])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[5]), -1)
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('HSET', KEYS[3], 'req', ARGV[4], 'txn', n)
redis.call('PEXPIRE', KEYS[3], ttl)
return n
`;

/**
 * recordResult: stores one scanner's result once and notifies the waiting ingress instance.
 * KEYS[1] request hash
 * ARGV[1] field (res:<scanner>), ARGV[2] msgpack ScanResult, ARGV[3] channel ('' = none), ARGV[4] payload
 * Returns 1 if stored, 0 if this scanner already had a result (a duplicate job or a stalled-job rerun), -1 if the
 * request is gone (expired, or Redis lost it): a result is never stored without its request, which would leak.
 */
export const RECORD_RESULT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return 1
`;

/**
 * finalize: stores the verdict record once and, when every scanner has answered, drops the message bytes.
 * KEYS[1] request hash, KEYS[2] message key
 * ARGV[1] msgpack VerdictRecord, ARGV[2] '1' to delete the message bytes, ARGV[3..] field, value pairs of results
 * no worker stored (checks run in the ingress itself), set once like any result
 * Returns 1 if stored, 0 if a record existed (a replay never replaces the answer given), -1 if the request is gone.
 */
export const FINALIZE = `
if ARGV[2] == '1' then redis.call('DEL', KEYS[2]) end
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
for i = 3, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
return redis.call('HSETNX', KEYS[1], 'verdict', ARGV[1])
`;

/**
 * heartbeat: a worker process announces the scanners it consumes, until `expiry`.
 * KEYS[1] pools zset
 * ARGV[1] now (epoch ms), ARGV[2] expiry (epoch ms), ARGV[3] events channel ('' = none), ARGV[4..] members
 * Returns the number of members that were new (the caller publishes nothing itself: the script does, once).
 */
export const HEARTBEAT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local added = 0
for i = 4, #ARGV do added = added + redis.call('ZADD', KEYS[1], ARGV[2], ARGV[i]) end
if added > 0 and ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], 'join') end
return added
`;
