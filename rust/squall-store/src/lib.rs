//! squall-store: every byte that leaves a process goes through a [`Store`].
//!
//! A store holds immutable objects under string keys. Writes are atomic: a reader sees either
//! nothing or the whole object. URLs pick the store: `memory://name/key` (one process only),
//! `file:///abs/path` or a bare path (a local directory), `s3://bucket/key`, and
//! `redis://host:port/key` (a Redis or Valkey server: fast, ephemeral, every key expires).

mod aws;
mod counted;
mod error;
mod glob;
mod local;
mod memory;
mod parallel;
pub mod process;
mod redis;
mod s3;
mod url;

use std::fmt::Debug;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;

pub use aws::aws_config;
pub use bytes::Bytes;
pub use counted::{count_held, counting_task, io_counts, Counted};
pub use error::{Error, Result};
pub use glob::glob_match;
pub use local::LocalStore;
pub use memory::{Held, MemoryStore};
pub use parallel::{get_ranges, in_parallel, MAX_IN_FLIGHT};
pub use redis::{RedisStore, CHUNK as REDIS_CHUNK};
pub use s3::S3Store;
pub use url::{listed_under, open, resolve, StoreUrl};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a conditional write ([`Store::put_if`]) expects of the object it replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect<'a> {
    /// No object is there.
    Absent,
    /// The object there has this tag ([`Store::get_tagged`]).
    Tag(&'a str),
}

/// An object's key and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Key within the store.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

/// Immutable objects under string keys (`a/b/c.parquet`), written atomically.
pub trait Store: Send + Sync + Debug {
    /// The URL of `key` in this store, for messages and manifests.
    fn url_of(&self, key: &str) -> String;
    /// Writes an object whole; readers never see a partial object.
    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFuture<'a, Result<()>>;
    /// Writes a finished result (a written dataset's file) that nothing here reads back soon,
    /// as `put` does; a store may bypass its caches for it.
    fn put_output<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFuture<'a, Result<()>> {
        self.put(key, data)
    }
    /// Reads a whole object.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Bytes>>;
    /// Reads the bytes `range` of an object.
    fn get_range<'a>(&'a self, key: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>>;
    /// Size of an object.
    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<ObjectMeta>>;
    /// Objects whose key starts with `prefix`, sorted by key.
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>>;
    /// Deletes an object; deleting a missing object is not an error.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>>;
    /// Moves an object to `to`, replacing what is there atomically (on S3: a server-side copy,
    /// then a delete).
    fn rename<'a>(&'a self, from: &'a str, to: &'a str) -> BoxFuture<'a, Result<()>>;
    /// Removes the folder `prefix` names and the folders under it where they are empty (a local
    /// directory tree; where folders do not exist apart from objects, nothing to do).
    fn prune<'a>(&'a self, _prefix: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    /// Reads a whole object and its tag, which changes whenever the object does (S3's ETag, a
    /// hash of the bytes elsewhere).
    fn get_tagged<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(Bytes, String)>>;
    /// Writes a small object whole, only if the object there is as `expect` says (a
    /// compare-and-swap: of two writers expecting the same, one succeeds and the other gets
    /// [`Error::Precondition`]). Returns the new object's tag.
    fn put_if<'a>(&'a self, key: &'a str, data: Bytes, expect: Expect<'a>) -> BoxFuture<'a, Result<String>>;
}

/// The tag of an object held by a store without tags of its own: a hash of its bytes.
fn content_tag(data: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data.hash(&mut h);
    format!("{:016x}-{}", h.finish(), data.len())
}

/// Whether an object with tag `current` (None: absent) is what `expect` says.
fn expected(expect: Expect<'_>, current: Option<&str>) -> bool {
    match (expect, current) {
        (Expect::Absent, None) => true,
        (Expect::Tag(want), Some(have)) => want == have,
        _ => false,
    }
}

fn check_range(url: String, range: &Range<u64>, size: u64) -> Result<()> {
    if range.start > range.end || range.end > size {
        return Err(Error::BadRange { url, start: range.start, end: range.end, size });
    }
    Ok(())
}
