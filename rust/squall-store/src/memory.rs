//! `memory://name/key`: objects in this process's memory, shared by every user of `name`.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use crate::{check_range, content_tag, expected, BoxFuture, Error, Expect, ObjectMeta, Result, Store};

/// An in-memory store. Only this process sees it: worker processes do not.
#[derive(Debug, Default)]
pub struct MemoryStore {
    name: String,
    objects: Mutex<BTreeMap<String, Bytes>>,
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

    fn objects(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Bytes>> {
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lookup(&self, key: &str) -> Result<Bytes> {
        self.objects().get(key).cloned().ok_or_else(|| Error::NotFound { url: self.url_of(key) })
    }
}

impl Store for MemoryStore {
    fn url_of(&self, key: &str) -> String {
        format!("memory://{}/{key}", self.name)
    }

    fn put<'a>(&'a self, key: &'a str, data: Bytes) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.objects().insert(key.to_string(), data);
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
        Box::pin(async move { Ok(ObjectMeta { key: key.to_string(), size: self.lookup(key)?.len() as u64 }) })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>>> {
        Box::pin(async move {
            let objects = self.objects();
            let found = objects.range(prefix.to_string()..).take_while(|(k, _)| k.starts_with(prefix));
            Ok(found.map(|(k, v)| ObjectMeta { key: k.clone(), size: v.len() as u64 }).collect())
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
            let data = self.lookup(from)?;
            let mut objects = self.objects();
            objects.insert(to.to_string(), data);
            objects.remove(from);
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
            let current = objects.get(key).map(|d| content_tag(d));
            if !expected(expect, current.as_deref()) {
                return Err(Error::Precondition { url: self.url_of(key) });
            }
            let tag = content_tag(&data);
            objects.insert(key.to_string(), data);
            Ok(tag)
        })
    }
}
