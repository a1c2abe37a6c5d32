//! `redis://host:port/key`: a Redis (or Valkey) server as a fast, ephemeral store.
//!
//! Every key squall writes expires ([`ttl`]): a crashed job's data goes away by itself. An
//! object up to [`CHUNK`] bytes is one string; a larger one is a small hash (`size`, `chunk`,
//! `base`) naming its chunks `<base>:<i>`, written before the hash, so a reader sees the whole
//! object or none of it. Each operation is one Lua script (atomic on the server) or one
//! pipeline, so a small read or write costs one round trip. One multiplexed connection per
//! server and process carries every request of its tasks.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisError, Script, Value};

use crate::process::PerProcess;
use crate::{check_range, BoxFuture, Error, Expect, ObjectMeta, Result, Store};

/// Objects larger than this are split into chunks of this size (Redis holds a value up to
/// 512 MB, but a large one blocks the server while it moves and doubles in its query buffer).
pub const CHUNK: usize = 1 << 20;
/// Chunks written in one pipeline.
const CHUNKS_PER_PIPELINE: usize = 16;
/// How long squall's keys live unless `SQUALL_REDIS_TTL` (seconds) says otherwise: a day.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);
/// Keys a listing fetches and sizes per round trip.
const LIST_BATCH: usize = 1000;

/// How long the keys squall writes live: `SQUALL_REDIS_TTL` seconds, or [`DEFAULT_TTL`].
pub fn ttl() -> Duration {
    static TTL: OnceLock<Duration> = OnceLock::new();
    *TTL.get_or_init(|| {
        let seconds = std::env::var("SQUALL_REDIS_TTL").ok().and_then(|s| s.trim().parse::<u64>().ok());
        seconds.filter(|&s| s > 0).map_or(DEFAULT_TTL, Duration::from_secs)
    })
}

/// Shared by the scripts: a chunked object's layout as `{2, size, chunk, base}`, and the
/// removal of its chunks (where the object at `key` is a chunked one).
const HELPERS: &str = r"
local function layout(key)
  local m = redis.call('HMGET', key, 'size', 'chunk', 'base')
  return {2, tonumber(m[1]), tonumber(m[2]), m[3]}
end
local function drop_chunks(key)
  if redis.call('TYPE', key)['ok'] == 'hash' then
    local m = layout(key)
    for i = 0, math.ceil(m[2] / m[3]) - 1 do redis.call('UNLINK', m[4] .. ':' .. i) end
  end
end
";

/// The object's size, -1 if missing, for each key.
const STAT: &str = r"
local out = {}
for i, key in ipairs(KEYS) do
  local t = redis.call('TYPE', key)['ok']
  if t == 'string' then out[i] = redis.call('STRLEN', key)
  elseif t == 'hash' then out[i] = tonumber(redis.call('HGET', key, 'size'))
  else out[i] = -1 end
end
return out
";

/// Bytes `ARGV[1]..ARGV[2]` (`ARGV[2]` < 0: to the end) of a one-string object as
/// `{0, size, bytes}`, `{1, size}` for a range outside it, a chunked object's layout as
/// `{2, size, chunk, base}`, or `{-1}` when missing.
const READ: &str = r"
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'string' then
  local n = redis.call('STRLEN', KEYS[1])
  local s, e = tonumber(ARGV[1]), tonumber(ARGV[2])
  if e < 0 then e = n end
  if s > e or e > n then return {1, n} end
  if s == e then return {0, n, ''} end
  return {0, n, redis.call('GETRANGE', KEYS[1], s, e - 1)}
elseif t == 'hash' then
  return layout(KEYS[1])
end
return {-1}
";

/// A one-string object with its tag (the SHA-1 of its bytes) as `{0, bytes, tag}`, a chunked
/// object's layout as `{2, size, chunk, base}` (its tag is its base), or `{-1}`.
const READ_TAGGED: &str = r"
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'string' then
  local v = redis.call('GET', KEYS[1])
  return {0, v, redis.sha1hex(v)}
elseif t == 'hash' then
  return layout(KEYS[1])
end
return {-1}
";

/// Sets `KEYS[1]` to `ARGV[1]` for `ARGV[2]` ms, replacing what is there.
const PUT: &str = r"
drop_chunks(KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

/// Makes `KEYS[1]` the chunked object of size `ARGV[1]`, chunk `ARGV[2]`, base `ARGV[3]`,
/// living `ARGV[4]` ms: its chunks are already written.
const COMMIT_CHUNKS: &str = r"
drop_chunks(KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'size', ARGV[1], 'chunk', ARGV[2], 'base', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
";

/// Sets `KEYS[1]` to `ARGV[1]` for `ARGV[2]` ms if it is absent (`ARGV[3]` = '') or its tag is
/// `ARGV[3]`; returns the new tag, or 0 when another writer was first.
const PUT_IF: &str = r"
local t = redis.call('TYPE', KEYS[1])['ok']
local cur = ''
if t == 'string' then cur = redis.sha1hex(redis.call('GET', KEYS[1]))
elseif t == 'hash' then cur = redis.call('HGET', KEYS[1], 'base') end
if cur ~= ARGV[3] then return 0 end
drop_chunks(KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.sha1hex(ARGV[1])
";

/// Removes `KEYS[1]` and its chunks.
const DELETE: &str = r"
drop_chunks(KEYS[1])
redis.call('DEL', KEYS[1])
return 1
";

/// Moves `KEYS[1]` (with its expiry) to `KEYS[2]`, replacing it; 0 when `KEYS[1]` is missing.
const RENAME: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if KEYS[1] ~= KEYS[2] then
  drop_chunks(KEYS[2])
  redis.call('RENAME', KEYS[1], KEYS[2])
end
return 1
";

/// The scripts, hashed once per process (each is sent by its hash, and loaded on a miss).
struct Scripts {
    stat: Script,
    read: Script,
    read_tagged: Script,
    put: Script,
    commit_chunks: Script,
    put_if: Script,
    delete: Script,
    rename: Script,
}

fn scripts() -> &'static Scripts {
    static SCRIPTS: OnceLock<Scripts> = OnceLock::new();
    SCRIPTS.get_or_init(|| {
        let script = |body: &str| Script::new(&format!("{HELPERS}{body}"));
        Scripts {
            stat: script(STAT),
            read: script(READ),
            read_tagged: script(READ_TAGGED),
            put: script(PUT),
            commit_chunks: script(COMMIT_CHUNKS),
            put_if: script(PUT_IF),
            delete: script(DELETE),
            rename: script(RENAME),
        }
    })
}

/// One Redis server; `server` is the URL's authority (`host:port`, maybe with credentials).
#[derive(Debug, Clone)]
pub struct RedisStore {
    server: String,
}

/// A chunked object's layout.
struct Chunked {
    size: u64,
    chunk: u64,
    base: String,
}

impl RedisStore {
    /// The server at `server` (`host:port` or `user:password@host:port`); connects on first use.
    pub fn new(server: &str) -> Self {
        RedisStore { server: server.to_string() }
    }

    /// The host and port, for messages (never the credentials).
    fn address(&self) -> &str {
        self.server.rsplit('@').next().unwrap_or(&self.server)
    }

    /// The process's connection to this server, made on first use.
    async fn connection(&self) -> std::result::Result<MultiplexedConnection, RedisError> {
        if let Some(c) = connections().get(&self.server) {
            return Ok(c.clone());
        }
        let client = redis::Client::open(format!("redis://{}/", self.server))?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(120)));
        let made = client.get_multiplexed_async_connection_with_config(&config).await?;
        connections().insert(self.server.clone(), made.clone());
        Ok(made)
    }

    /// Runs `op` on the connection, once more on a new connection when the old one broke.
    async fn with_connection<T, F, Fut>(&self, op: &'static str, key: &str, f: F) -> Result<T>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, RedisError>>,
    {
        let mut last = None;
        for _ in 0..2 {
            let outcome = match self.connection().await {
                Ok(c) => f(c).await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(v) => return Ok(v),
                Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() => {
                    // The server restarted, or the runtime that drove the connection ended:
                    // the next attempt makes a new one.
                    connections().remove(&self.server);
                    last = Some(e);
                }
                Err(e) => return Err(self.error(op, key, e)),
            }
        }
        Err(self.error(op, key, last.expect("a failed attempt")))
    }

    fn error(&self, op: &'static str, key: &str, e: RedisError) -> Error {
        let url = self.url_of(key);
        let server = self.address();
        // (A pipeline's refusals come as one error listing each command's.)
        if e.code() == Some("OOM") || e.to_string().contains("used memory > 'maxmemory'") {
            let message = format!(
                "the Redis server at {server} is out of memory (its maxmemory): raise maxmemory, or keep only \
                 small objects there (Session(fast=...) puts larger ones in the scratch store)"
            );
            return Error::Remote { op, url, message, transient: false };
        }
        if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_connection_refusal() {
            let message = format!("cannot reach the Redis server at {server} ({e}): is it running?");
            return Error::Remote { op, url, message, transient: true };
        }
        Error::Remote { op, url, message: e.to_string(), transient: false }
    }

    fn ttl_ms() -> u64 {
        ttl().as_millis() as u64
    }

    /// Reads bytes `range` of a chunked object (its chunks, in one pipeline), or `None` when a
    /// chunk is gone (the object was replaced or expired while being read).
    async fn read_chunks(&self, key: &str, layout: &Chunked, range: Range<u64>) -> Result<Option<Bytes>> {
        if range.start == range.end {
            return Ok(Some(Bytes::new()));
        }
        let (first, last) = (range.start / layout.chunk, (range.end - 1) / layout.chunk);
        let mut pipe = redis::pipe();
        for i in first..=last {
            let (lo, hi) = (i * layout.chunk, ((i + 1) * layout.chunk).min(layout.size));
            let (s, e) = (range.start.max(lo) - lo, range.end.min(hi) - lo);
            pipe.cmd("GETRANGE").arg(format!("{}:{i}", layout.base)).arg(s).arg(e - 1);
        }
        let parts: Vec<Vec<u8>> = self
            .with_connection("get", key, |mut c| {
                let pipe = pipe.clone();
                async move { pipe.query_async(&mut c).await }
            })
            .await?;
        let mut out = BytesMut::with_capacity((range.end - range.start) as usize);
        for p in &parts {
            out.extend_from_slice(p);
        }
        Ok((out.len() as u64 == range.end - range.start).then(|| out.freeze()))
    }

    /// Bytes `range` of the object (`None`: all of it).
    async fn read(&self, key: &str, range: Option<Range<u64>>) -> Result<Bytes> {
        for _ in 0..3 {
            let (s, e) = range.as_ref().map_or((0, -1), |r| (r.start as i64, r.end as i64));
            let mut reply: Vec<Value> = self
                .with_connection("get", key, |mut c| async move {
                    scripts().read.key(key).arg(s).arg(e).invoke_async(&mut c).await
                })
                .await?;
            match int_at(&reply, 0) {
                0 => {
                    let data = take_bytes(&mut reply, 2);
                    let size = int_at(&reply, 1).max(0) as u64;
                    let want = range.as_ref().map_or(size, |r| r.end - r.start);
                    if data.len() as u64 != want {
                        // A server that answers short (a broken or hostile one) fails the read.
                        let message = format!("the server answered {} bytes for {want}", data.len());
                        return Err(Error::Remote { op: "get", url: self.url_of(key), message, transient: false });
                    }
                    return Ok(data);
                }
                1 => {
                    let r = range.clone().unwrap_or(0..0);
                    check_range(self.url_of(key), &r, int_at(&reply, 1) as u64)?;
                }
                2 => {
                    let layout = chunked(&mut reply);
                    let r = range.clone().unwrap_or(0..layout.size);
                    check_range(self.url_of(key), &r, layout.size)?;
                    if let Some(data) = self.read_chunks(key, &layout, r).await? {
                        return Ok(data);
                    }
                    continue; // replaced or expired while read: look again
                }
                _ => return Err(Error::NotFound { url: self.url_of(key) }),
            }
        }
        let message = "its chunks vanished while it was read (replaced, expired, or evicted by the server's \
                       maxmemory policy: use noeviction or volatile-* policies with squall)"
            .to_string();
        Err(Error::Remote { op: "get", url: self.url_of(key), message, transient: false })
    }

    /// Sizes of `keys` (None: missing), in one round trip.
    async fn sizes(&self, keys: &[String]) -> Result<Vec<Option<u64>>> {
        let first = keys.first().map_or("", |k| k.as_str());
        let sizes: Vec<i64> = self
            .with_connection("head", first, |mut c| async move {
                let mut call = scripts().stat.prepare_invoke();
                for k in keys {
                    call.key(k);
                }
                call.invoke_async(&mut c).await
            })
            .await?;
        Ok(sizes.into_iter().map(|s| u64::try_from(s).ok()).collect())
    }

    async fn write(&self, key: &str, data: Bytes) -> Result<()> {
        if key.contains('\0') {
            let why = "Redis keys written by squall cannot contain NUL characters".to_string();
            return Err(Error::BadUrl { url: self.url_of(key), why });
        }
        let ttl = Self::ttl_ms();
        if data.len() <= CHUNK {
            return self
                .with_connection("put", key, |mut c| {
                    let data = data.clone();
                    async move { scripts().put.key(key).arg(&data[..]).arg(ttl).invoke_async::<i64>(&mut c).await }
                })
                .await
                .map(drop);
        }
        let base = format!("{key}\0{:016x}", random_u64());
        let chunks: Vec<Bytes> =
            (0..data.len()).step_by(CHUNK).map(|s| data.slice(s..(s + CHUNK).min(data.len()))).collect();
        for (batch_no, batch) in chunks.chunks(CHUNKS_PER_PIPELINE).enumerate() {
            let mut pipe = redis::pipe();
            for (j, chunk) in batch.iter().enumerate() {
                let i = batch_no * CHUNKS_PER_PIPELINE + j;
                pipe.cmd("SET").arg(format!("{base}:{i}")).arg(&chunk[..]).arg("PX").arg(ttl).ignore();
            }
            let written = self
                .with_connection("put", key, |mut c| {
                    let pipe = pipe.clone();
                    async move { pipe.query_async::<()>(&mut c).await }
                })
                .await;
            if let Err(e) = written {
                // No record names the chunks written so far: they go now (or expire).
                let mut unlink = redis::pipe();
                for i in 0..chunks.len() {
                    unlink.cmd("UNLINK").arg(format!("{base}:{i}")).ignore();
                }
                let _ = self
                    .with_connection("delete", key, |mut c| {
                        let unlink = unlink.clone();
                        async move { unlink.query_async::<()>(&mut c).await }
                    })
                    .await;
                return Err(e);
            }
        }
        let size = data.len();
        self.with_connection("put", key, |mut c| {
            let base = base.clone();
            async move {
                let mut call = scripts().commit_chunks.key(key);
                call.arg(size).arg(CHUNK).arg(base).arg(ttl).invoke_async::<i64>(&mut c).await
            }
        })
        .await
        .map(drop)
    }
}

/// The process's connections, one per server.
fn connections() -> std::sync::MutexGuard<'static, HashMap<String, MultiplexedConnection>> {
    static CONNECTIONS: PerProcess<Mutex<HashMap<String, MultiplexedConnection>>> = PerProcess::new();
    CONNECTIONS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner())
}

fn int_at(reply: &[Value], i: usize) -> i64 {
    match reply.get(i) {
        Some(Value::Int(n)) => *n,
        _ => -1,
    }
}

/// The bytes at `i` of a script's reply, taken out of it (no copy).
fn take_bytes(reply: &mut [Value], i: usize) -> Bytes {
    match reply.get_mut(i).map(|v| std::mem::replace(v, Value::Nil)) {
        Some(Value::BulkString(b)) => Bytes::from(b),
        _ => Bytes::new(),
    }
}

fn chunked(reply: &mut [Value]) -> Chunked {
    let base = take_bytes(reply, 3);
    Chunked {
        size: int_at(reply, 1).max(0) as u64,
        chunk: int_at(reply, 2).max(1) as u64,
        base: String::from_utf8_lossy(&base).into_owned(),
    }
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.finish()
}

/// Escapes `prefix` for a `SCAN ... MATCH` pattern.
fn glob_escape(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('*');
    out
}

impl Store for RedisStore {
    fn url_of(&self, key: &str) -> String {
        format!("redis://{}/{key}", self.server)
    }

    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.write(key, data))
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(self.read(key, None))
    }

    fn get_range<'a>(&'a self, key: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(self.read(key, Some(range)))
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<ObjectMeta>> {
        Box::pin(async move {
            match self.sizes(&[key.to_string()]).await?.first() {
                Some(Some(size)) => Ok(ObjectMeta { key: key.to_string(), size: *size }),
                _ => Err(Error::NotFound { url: self.url_of(key) }),
            }
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move {
            let pattern = glob_escape(prefix);
            let mut cursor = 0u64;
            let mut found = Vec::new();
            loop {
                let (next, keys): (u64, Vec<String>) = self
                    .with_connection("list", prefix, |mut c| {
                        let pattern = pattern.clone();
                        async move {
                            redis::cmd("SCAN")
                                .arg(cursor)
                                .arg("MATCH")
                                .arg(pattern)
                                .arg("COUNT")
                                .arg(LIST_BATCH)
                                .query_async(&mut c)
                                .await
                        }
                    })
                    .await?;
                let objects: Vec<String> = keys.into_iter().filter(|k| !k.contains('\0')).collect();
                for batch in objects.chunks(LIST_BATCH) {
                    let sizes = self.sizes(batch).await?;
                    for (key, size) in batch.iter().zip(sizes) {
                        if let Some(size) = size {
                            found.push(ObjectMeta { key: key.clone(), size });
                        }
                    }
                }
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
            found.sort_by(|a, b| a.key.cmp(&b.key));
            found.dedup_by(|a, b| a.key == b.key); // SCAN may return a key twice
            Ok(found)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.with_connection("delete", key, |mut c| async move {
                scripts().delete.key(key).invoke_async::<i64>(&mut c).await
            })
            .await
            .map(drop)
        })
    }

    fn rename<'a>(&'a self, from: &'a str, to: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let moved: i64 = self
                .with_connection("rename", from, |mut c| async move {
                    scripts().rename.key(from).key(to).invoke_async(&mut c).await
                })
                .await?;
            if moved == 0 {
                return Err(Error::NotFound { url: self.url_of(from) });
            }
            Ok(())
        })
    }

    fn get_tagged<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(Bytes, String)>> {
        Box::pin(async move {
            let mut reply: Vec<Value> = self
                .with_connection("get", key, |mut c| async move {
                    scripts().read_tagged.key(key).invoke_async(&mut c).await
                })
                .await?;
            match int_at(&reply, 0) {
                0 => Ok((take_bytes(&mut reply, 1), String::from_utf8_lossy(&take_bytes(&mut reply, 2)).into_owned())),
                2 => {
                    let layout = chunked(&mut reply);
                    let all = 0..layout.size;
                    match self.read_chunks(key, &layout, all).await? {
                        Some(data) => Ok((data, layout.base)),
                        None => Err(Error::Precondition { url: self.url_of(key) }),
                    }
                }
                _ => Err(Error::NotFound { url: self.url_of(key) }),
            }
        })
    }

    fn put_if<'a>(&'a self, key: &'a str, data: Bytes, expect: Expect<'a>) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            let want = match expect {
                Expect::Absent => "",
                Expect::Tag(tag) => tag,
            };
            let ttl = Self::ttl_ms();
            let reply: Value = self
                .with_connection("put", key, |mut c| {
                    let data = data.clone();
                    async move {
                        scripts().put_if.key(key).arg(&data[..]).arg(ttl).arg(want).invoke_async(&mut c).await
                    }
                })
                .await?;
            match reply {
                Value::BulkString(tag) => Ok(String::from_utf8_lossy(&tag).into_owned()),
                _ => Err(Error::Precondition { url: self.url_of(key) }),
            }
        })
    }
}
