//! Rate limits shared by every replica (`daira serve --redis-url`): the same GCRA the local
//! limits run (governor's: one theoretical arrival time per client), kept in Redis and taken
//! by one Lua script, so that a client spreading its requests over replicas meets one
//! allowance, not one per replica. The script reads Redis's clock (`TIME`), not the replicas',
//! and a key expires once its allowance is whole again, so Redis holds only clients that are
//! spending. If Redis cannot be reached a request is judged by the replica's own limits (and
//! `daira_ratelimit_redis_errors_total` counts it): a limit store that is down does not take
//! the API down with it.

use redis::aio::ConnectionManager;

/// GCRA over Redis. KEYS[1]: the client's key. ARGV: the emission interval (µs per request),
/// the burst (requests), the requests taken now. Answers {allowed, remaining, wait µs}.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local period = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + n * period
local allow_at = new_tat - burst * period
if allow_at > now then
  return {0, 0, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, math.floor((now - allow_at) / period), 0}
";

/// The replicas' shared allowances.
pub struct SharedLimits {
    connection: ConnectionManager,
    script: redis::Script,
    prefix: String,
}

/// What Redis said of one charge.
pub struct Taken {
    /// Whether the requests may go ahead.
    pub allowed: bool,
    /// What is left of the burst after them.
    pub remaining: u64,
    /// When refused, how long until they would be allowed (µs).
    pub wait_us: u64,
}

impl SharedLimits {
    /// Connects to `url` (`redis://host:port/db`); keys are named under `namespace` (the
    /// deployment's PostgreSQL schema), so that deployments sharing one Redis do not share
    /// allowances. Fails when Redis does not answer: a replica told to share limits does not
    /// start without them.
    pub async fn connect(url: &str, namespace: &str) -> anyhow::Result<SharedLimits> {
        let client = redis::Client::open(url)?;
        let mut connection = ConnectionManager::new(client).await?;
        let _: String = redis::cmd("PING").query_async(&mut connection).await?;
        Ok(SharedLimits { connection, script: redis::Script::new(GCRA), prefix: format!("daira:{namespace}:rl") })
    }

    /// Takes `n` requests from `key`'s allowance in `scope` (`ip` or `token`): `rate` per
    /// second with a burst of `burst`.
    pub async fn take(&self, scope: &str, key: &str, rate: f64, burst: u32, n: u32) -> redis::RedisResult<Taken> {
        let period_us = (1e6 / rate).max(1.0).round() as u64;
        let mut connection = self.connection.clone();
        let (allowed, remaining, wait_us): (i64, i64, i64) = self
            .script
            .key(format!("{}:{scope}:{key}", self.prefix))
            .arg(period_us)
            .arg(burst)
            .arg(n)
            .invoke_async(&mut connection)
            .await?;
        Ok(Taken { allowed: allowed == 1, remaining: remaining.max(0) as u64, wait_us: wait_us.max(0) as u64 })
    }
}
