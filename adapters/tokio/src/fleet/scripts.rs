//! The fleet's two Lua scripts, run atomically by Redis, and the keys they touch.
//!
//! Per (tenant, resource), two keys with the same hash tag (one Redis Cluster slot):
//! `<prefix>:{<resource>:<tenant>}:held`, a hash `instance id -> units held`, and
//! `<prefix>:{<resource>:<tenant>}:leases`, a sorted set `instance id -> lease expiry` (ms,
//! Redis's own clock, `TIME`). An instance whose lease has expired counts for nothing and is
//! removed by the next admission. Both keys expire `2 x lease_ms` after the last write, so
//! a tenant nobody admits any more leaves nothing behind.

use std::io;

use autonomic_core::Resource;

use super::resp::{Conn, Reply};

/// Admits `amount` if the live instances' sum plus `amount` is within `limit`.
/// KEYS: held, leases. ARGV: instance, amount, limit, lease_ms. Returns `{admitted, sum}`
/// (sum after admitting, or the sum that refused it).
pub const ADMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[4])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
local sum = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do sum = sum + tonumber(v) end
local amount = tonumber(ARGV[2])
if sum + amount > tonumber(ARGV[3]) then return {0, sum} end
redis.call('HINCRBY', KEYS[1], ARGV[1], amount)
redis.call('ZADD', KEYS[2], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * lease)
redis.call('PEXPIRE', KEYS[2], 2 * lease)
return {1, sum + amount}
";

/// Sets this instance's units held to `held` and renews its lease (0: removes it).
/// KEYS: held, leases. ARGV: instance, held, lease_ms. Returns 1.
pub const ASSERT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[3])
if tonumber(ARGV[2]) == 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * lease)
redis.call('PEXPIRE', KEYS[2], 2 * lease)
return 1
";

/// The two keys of one (tenant, resource).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// The hash `instance -> units held`.
    pub held: String,
    /// The sorted set `instance -> lease expiry`.
    pub leases: String,
}

impl Keys {
    /// The keys of `tenant`'s `resource` under `prefix`.
    #[must_use]
    pub fn new(prefix: &str, tenant: &str, resource: Resource) -> Keys {
        let tag = format!("{prefix}:{{{}:{tenant}}}", resource.as_str());
        Keys {
            held: format!("{tag}:held"),
            leases: format!("{tag}:leases"),
        }
    }
}

/// The SHA-1 digests Redis gave the scripts on this connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    admit: String,
    assert: String,
}

/// What the admit script answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// Whether the units were added.
    pub admitted: bool,
    /// The fleet's sum: after adding, or the one that refused.
    pub sum: u64,
}

fn unexpected(reply: &Reply) -> io::Error {
    io::Error::other(format!("unexpected redis reply {reply:?}"))
}

/// Selects `db` (when not 0) and loads both scripts.
pub async fn prepare(conn: &mut Conn, db: u32) -> io::Result<Loaded> {
    if db != 0 {
        let reply = conn
            .command(&[b"SELECT", db.to_string().as_bytes()])
            .await?;
        if reply != Reply::Status("OK".to_owned()) {
            return Err(unexpected(&reply));
        }
    }
    let load = |script: &'static str| -> Vec<&[u8]> { vec![b"SCRIPT", b"LOAD", script.as_bytes()] };
    let replies = conn.pipeline(&[load(ADMIT), load(ASSERT)]).await?;
    let sha = |reply: &Reply| match reply {
        Reply::Bulk(Some(sha)) => String::from_utf8(sha.clone()).map_err(|_| unexpected(reply)),
        _ => Err(unexpected(reply)),
    };
    match replies.as_slice() {
        [admit, assert] => Ok(Loaded {
            admit: sha(admit)?,
            assert: sha(assert)?,
        }),
        _ => Err(io::Error::other("SCRIPT LOAD: wrong number of replies")),
    }
}

/// `EVALSHA sha 2 held leases argv...`.
fn evalsha<'a>(sha: &'a str, keys: &'a Keys, argv: &[&'a str]) -> Vec<&'a [u8]> {
    let head = [sha, "2", &keys.held, &keys.leases];
    let mut args: Vec<&[u8]> = vec![b"EVALSHA"];
    args.extend(head.iter().chain(argv).map(|a| a.as_bytes()));
    args
}

/// Runs [`ADMIT`].
pub async fn admit(
    conn: &mut Conn,
    loaded: &Loaded,
    keys: &Keys,
    instance: &str,
    amount: u16,
    limit: u16,
    lease_ms: u64,
) -> io::Result<Counted> {
    let (amount, limit, lease) = (amount.to_string(), limit.to_string(), lease_ms.to_string());
    let argv = [instance, &amount, &limit, &lease];
    let reply = conn.command(&evalsha(&loaded.admit, keys, &argv)).await?;
    match &reply {
        Reply::Array(items) => match items.as_slice() {
            [Reply::Int(admitted), Reply::Int(sum)] => Ok(Counted {
                admitted: *admitted == 1,
                sum: u64::try_from(*sum).unwrap_or(0),
            }),
            _ => Err(unexpected(&reply)),
        },
        _ => Err(unexpected(&reply)),
    }
}

/// Runs [`ASSERT`] for every `(keys, held)`, pipelined; fails on the first bad reply.
pub async fn assert_held(
    conn: &mut Conn,
    loaded: &Loaded,
    instance: &str,
    lease_ms: u64,
    entries: &[(Keys, u64)],
) -> io::Result<()> {
    let lease = lease_ms.to_string();
    let counts: Vec<String> = entries.iter().map(|(_, held)| held.to_string()).collect();
    let commands: Vec<Vec<&[u8]>> = entries
        .iter()
        .zip(&counts)
        .map(|((keys, _), held)| evalsha(&loaded.assert, keys, &[instance, held, &lease]))
        .collect();
    for reply in conn.pipeline(&commands).await? {
        if reply != Reply::Int(1) {
            return Err(unexpected(&reply));
        }
    }
    Ok(())
}
