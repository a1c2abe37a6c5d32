//! `memory://name/key`: objects in this process's memory, shared by every user of `name`.
//!
//! An object is bytes, or a value held as it is ([`MemoryStore::hold`]): what a task wrote for
//! another task of this process to read, with no encoding in between.

use std::any::Any;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use crate::{check_range, content_tag, expected, BoxFuture, Error, Expect, ObjectMeta, Result, Store};

/// A value a memory store holds in place of bytes.
pub type Held = Arc<dyn Any + Send + Sync>;

#[derive(Debug, Clone)]
enum Object {
    Bytes(Bytes),
    /// A held value and the bytes it stands for (its size in listings).
    Held(Held, u64),
}

impl Object {
    fn size(&self) -> u64 {
        match self {
            Object::Bytes(b) => b.len() as u64,
            Object::Held(_, size) => *size,
        }
    }
}

/// How many ended folders a store remembers: a late write comes within its job's last attempts,
/// not thousands of jobs later, and a process that runs jobs for weeks keeps a bounded list.
const ENDED: usize = 4096;

/// The latest folders ended, in order and as a set.
#[derive(Debug, Default)]
struct Ended {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl Ended {
    fn add(&mut self, folder: &str) {
        if self.set.insert(folder.to_string()) {
            self.order.push_back(folder.to_string());
        }
        while self.order.len() > ENDED {
            let oldest = self.order.pop_front().expect("longer than ENDED");
            self.set.remove(&oldest);
        }
    }
}

/// An in-memory store. Only this process sees it: worker processes do not.
#[derive(Debug, Default)]
pub struct MemoryStore {
    name: String,
    objects: Mutex<BTreeMap<String, Object>>,
    /// Folders (`job-1/`) whose job ended, the latest [`ENDED`]: nothing more is written under
    /// them.
    ended: Mutex<Ended>,
}

impl MemoryStore {
    /// The store named `name`, created on first use and shared within the process.
    pub fn named(name: &str) -> Arc<MemoryStore> {
        static STORES: OnceLock<Mutex<HashMap<String, Arc<MemoryStore>>>> = OnceLock::new();
        let mut stores = STORES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        stores
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(MemoryStore { name: name.to_string(), ..Default::default() }))
            .clone()
    }

    /// Keeps `value` at `key` as it is, standing for `size` bytes. It is listed, renamed and
    /// deleted as any object is; reading its bytes is an error: read it with [`MemoryStore::held`].
    pub fn hold(&self, key: &str, value: Held, size: u64) -> Result<()> {
        let mut objects = self.objects();
        self.open_for(key)?;
        objects.insert(key.to_string(), Object::Held(value, size));
        Ok(())
    }

    /// Ends the folder `prefix` (`job-1/`): the objects under it go, and a write under it from
    /// now on is an error rather than memory kept until the process exits (an attempt that
    /// finished after its job did: a superseded backup, a cancelled task past its last check).
    pub fn end(&self, prefix: &str) {
        let mut objects = self.objects();
        self.ended.lock().unwrap_or_else(|e| e.into_inner()).add(prefix);
        let under = objects.range(prefix.to_string()..).take_while(|(key, _)| key.starts_with(prefix));
        for key in under.map(|(key, _)| key.clone()).collect::<Vec<_>>() {
            objects.remove(&key);
        }
    }

    /// An error if `key` lies in a folder that [`MemoryStore::end`] ended. Writers ask while
    /// they hold the objects' lock, as `end` does: none writes between its question and its
    /// write.
    fn open_for(&self, key: &str) -> Result<()> {
        let ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        let folders = key.match_indices('/').map(|(at, _)| &key[..=at]);
        match folders.into_iter().find(|folder| ended.set.contains(*folder)) {
            None => Ok(()),
            Some(folder) => Err(Error::Io {
                op: "write",
                url: self.url_of(key),
                source: std::io::Error::other(format!("the job of {} has ended", self.url_of(folder))),
            }),
        }
    }

    /// The value held at `key`: `None` if the object there is bytes, an error if there is none.
    pub fn held(&self, key: &str) -> Result<Option<Held>> {
        match self.objects().get(key) {
            Some(Object::Held(value, _)) => Ok(Some(value.clone())),
            Some(Object::Bytes(_)) => Ok(None),
            None => Err(Error::NotFound { url: self.url_of(key) }),
        }
    }

    fn objects(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Object>> {
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lookup(&self, key: &str) -> Result<Bytes> {
        match self.objects().get(key) {
            Some(Object::Bytes(data)) => Ok(data.clone()),
            Some(Object::Held(..)) => Err(Error::Io {
                op: "read the bytes of",
                url: self.url_of(key),
                source: std::io::Error::other("the object is held in memory as a value, not as bytes"),
            }),
            None => Err(Error::NotFound { url: self.url_of(key) }),
        }
    }
}

impl Store for MemoryStore {
    fn url_of(&self, key: &str) -> String {
        format!("memory://{}/{key}", self.name)
    }

    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut objects = self.objects();
            self.open_for(key)?;
            objects.insert(key.to_string(), Object::Bytes(data));
            Ok(())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move { self.lookup(key) })
    }

    fn get_range<'a>(&'a self, key: &'a str, range: Range<u64>) -> BoxFuture<'a, Result<Bytes>> {
        Box::pin(async move {
            let data = self.lookup(key)?;
            check_range(self.url_of(key), &range, data.len() as u64)?;
            Ok(data.slice(range.start as usize..range.end as usize))
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<ObjectMeta>> {
        Box::pin(async move {
            let size = self.objects().get(key).map(Object::size);
            let size = size.ok_or_else(|| Error::NotFound { url: self.url_of(key) })?;
            Ok(ObjectMeta { key: key.to_string(), size })
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move {
            let objects = self.objects();
            let found = objects.range(prefix.to_string()..).take_while(|(k, _)| k.starts_with(prefix));
            Ok(found.map(|(k, v)| ObjectMeta { key: k.clone(), size: v.size() }).collect())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.objects().remove(key);
            Ok(())
        })
    }

    fn rename<'a>(&'a self, from: &'a str, to: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut objects = self.objects();
            self.open_for(to)?;
            let object = objects.remove(from).ok_or_else(|| Error::NotFound { url: self.url_of(from) })?;
            objects.insert(to.to_string(), object);
            Ok(())
        })
    }

    fn get_tagged<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(Bytes, String)>> {
        Box::pin(async move {
            let data = self.lookup(key)?;
            let tag = content_tag(&data);
            Ok((data, tag))
        })
    }

    fn put_if<'a>(&'a self, key: &'a str, data: Bytes, expect: Expect<'a>) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            let mut objects = self.objects();
            self.open_for(key)?;
            let current = match objects.get(key) {
                Some(Object::Bytes(d)) => Some(content_tag(d)),
                // A held value has no bytes to compare: no expectation matches it.
                Some(Object::Held(..)) => return Err(Error::Precondition { url: self.url_of(key) }),
                None => None,
            };
            if !expected(expect, current.as_deref()) {
                return Err(Error::Precondition { url: self.url_of(key) });
            }
            let tag = content_tag(&data);
            objects.insert(key.to_string(), Object::Bytes(data));
            Ok(tag)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn held_values_are_listed_moved_and_deleted_but_not_read_as_bytes() {
        let store = MemoryStore::named("held-test");
        store.hold("a/x", Arc::new(vec![1u32, 2, 3]), 12).unwrap();
        store.put("a/y", Bytes::from_static(b"yy")).await.unwrap();
        let sizes: Vec<u64> = store.list("a/").await.unwrap().iter().map(|o| o.size).collect();
        assert_eq!(sizes, [12, 2]);
        assert_eq!(store.head("a/x").await.unwrap().size, 12);
        let err = store.get("a/x").await.unwrap_err().to_string();
        assert!(err.contains("memory://held-test/a/x") && err.contains("held in memory"), "{err}");
        assert!(store.get_range("a/x", 0..1).await.is_err());
        assert!(store.put_if("a/x", Bytes::new(), Expect::Absent).await.is_err());
        assert!(store.held("a/y").unwrap().is_none(), "bytes are not a held value");
        store.rename("a/x", "a/z").await.unwrap();
        assert!(store.held("a/x").unwrap_err().is_not_found());
        let value = store.held("a/z").unwrap().unwrap();
        assert_eq!(value.downcast_ref::<Vec<u32>>(), Some(&vec![1, 2, 3]));
        store.delete("a/z").await.unwrap();
        assert!(store.held("a/z").unwrap_err().is_not_found());
    }

    #[tokio::test]
    async fn nothing_is_written_under_an_ended_folder() {
        let store = MemoryStore::named("ended-test");
        store.put("job-1/s0/a", Bytes::from_static(b"a")).await.unwrap();
        store.hold("job-1/s1/b", Arc::new(1u8), 1).unwrap();
        store.put("job-10/c", Bytes::from_static(b"c")).await.unwrap();
        store.end("job-1/");
        assert!(store.list("job-1/").await.unwrap().is_empty(), "its objects went");
        let late = store.put("job-1/s0/a.attempt-1", Bytes::from_static(b"late")).await.unwrap_err().to_string();
        assert!(late.contains("memory://ended-test/job-1/s0/a.attempt-1") && late.contains("has ended"), "{late}");
        assert!(store.hold("job-1/s1/b", Arc::new(2u8), 1).is_err());
        assert!(store.put_if("job-1/x", Bytes::new(), Expect::Absent).await.is_err());
        assert!(store.rename("job-10/c", "job-1/c").await.is_err());
        assert_eq!(store.get("job-10/c").await.unwrap(), Bytes::from_static(b"c"), "a folder of another name stays");
        store.put("job-2/d", Bytes::from_static(b"d")).await.unwrap();
        assert!(store.list("job-1/").await.unwrap().is_empty());
        // Only the latest folders are remembered.
        for i in 0..ENDED {
            store.end(&format!("later-{i}/"));
        }
        store.put("job-1/y", Bytes::from_static(b"y")).await.unwrap();
        assert!(store.put(&format!("later-{}/z", ENDED - 1), Bytes::new()).await.is_err());
    }
}
