/**
 * Lua scripts. Each declares every key it touches (Cluster-safe: all share the session's hash tag).
 */

/**
 * beginStage: opens or advances the session and stores the stage request (and message bytes) in one round trip.
 * KEYS[1] session hash, KEYS[2] log list, KEYS[3] request hash
 * ARGV[1] stage, ARGV[2] ttl ms, ARGV[3] reqId, ARGV[4] msgpack StageRequest (txnId left empty),
 * ARGV[5] message bytes or '' , ARGV[6] max log entries
 * Returns the transaction number n (0 before the first MAIL of the session).
 * `connect` resets the session (a reused client port starts clean); `mail` starts a new transaction, and so does
 * `rcpt` or `data` after a transaction that reached `data` (for MTAs that hook only some stages).
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
    -- MAIL was not hooked (Stalwart's default hook stage is data only), or the last transaction already reached
    -- data: this request belongs to a new transaction
    local closed = tonumber(redis.call('HGET', KEYS[1], 'closed') or '-1')
    if n == 0 or n == closed then n = redis.call('HINCRBY', KEYS[1], 'txn', 1) end
    if stage == 'data' then redis.call('HSET', KEYS[1], 'closed', n) end
  end
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('RPUSH', KEYS[2], n .. '|' .. stage .. '|' .. ARGV[3])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[6]), -1)
redis.call('PEXPIRE', KEYS[2], ttl)
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[3], 'req', ARGV[4], 'txn', n, 'msg', ARGV[5])
else
  redis.call('HSET', KEYS[3], 'req', ARGV[4], 'txn', n)
end
redis.call('PEXPIRE', KEYS[3], ttl)
return n
`;

/**
 * recordResult: stores one scanner's result once and notifies the waiting ingress instance.
 * KEYS[1] results hash
 * ARGV[1] scanner id, ARGV[2] msgpack ScanResult, ARGV[3] ttl ms, ARGV[4] channel ('' = none), ARGV[5] payload
 * Returns 1 if stored, 0 if this scanner already had a result (a duplicate job or a stalled-job rerun).
 */
export const RECORD_RESULT = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return 1
`;
