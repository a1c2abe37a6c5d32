//! Turning URLs into a store and a key.

use std::sync::Arc;

use crate::glob::literal_prefix;
use crate::{glob_match, Error, LocalStore, MemoryStore, ObjectMeta, RedisStore, Result, S3Store, Store};

/// A parsed store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `memory://name/key`.
    Memory {
        /// The store's name.
        name: String,
        /// The key.
        key: String,
    },
    /// `s3://bucket/key`.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// `redis://host:port/key`.
    Redis {
        /// The server: `host:port`, maybe after `user:password@`.
        server: String,
        /// The key.
        key: String,
    },
    /// `file:///abs/path` or a bare path.
    Local {
        /// The absolute path without its leading `/`.
        key: String,
    },
}

impl StoreUrl {
    /// Parses `url`. Bare paths are taken relative to the current directory.
    pub fn parse(url: &str) -> Result<StoreUrl> {
        let bad = |why: &str| Error::BadUrl { url: url.to_string(), why: why.to_string() };
        if let Some(rest) = url.strip_prefix("memory://") {
            let (name, key) = rest.split_once('/').unwrap_or((rest, ""));
            if name.is_empty() {
                return Err(bad("memory URLs look like memory://name/key"));
            }
            return Ok(StoreUrl::Memory { name: name.to_string(), key: key.to_string() });
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("S3 URLs look like s3://bucket/key"));
            }
            return Ok(StoreUrl::S3 { bucket: bucket.to_string(), key: key.to_string() });
        }
        if let Some(rest) = url.strip_prefix("redis://") {
            let (server, key) = rest.split_once('/').unwrap_or((rest, ""));
            let host_port = server.rsplit('@').next().unwrap_or(server);
            if host_port.rsplit_once(':').is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err()) {
                return Err(bad("Redis URLs look like redis://host:port/key (the port is required)"));
            }
            return Ok(StoreUrl::Redis { server: server.to_string(), key: key.to_string() });
        }
        let path = if let Some(rest) = url.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(bad("file URLs need an absolute path, as in file:///data/x.parquet"));
            }
            std::path::PathBuf::from(rest)
        } else if let Some((scheme, _)) = url.split_once("://") {
            return Err(bad(&format!(
                "the scheme {scheme}:// is not supported; use s3://, redis://, file://, memory:// or a path"
            )));
        } else {
            std::path::absolute(url).map_err(|e| bad(&e.to_string()))?
        };
        let text = path.to_string_lossy();
        let trailing = if url.ends_with('/') && !text.ends_with('/') { "/" } else { "" };
        Ok(StoreUrl::Local { key: format!("{}{trailing}", text.trim_start_matches('/')) })
    }

    /// The key within the store.
    pub fn key(&self) -> &str {
        match self {
            StoreUrl::Memory { key, .. }
            | StoreUrl::S3 { key, .. }
            | StoreUrl::Redis { key, .. }
            | StoreUrl::Local { key } => key,
        }
    }

    /// The store this URL lives in; its requests count in [`crate::io_counts`].
    pub fn store(&self) -> Arc<dyn Store> {
        let store: Arc<dyn Store> = match self {
            StoreUrl::Memory { name, .. } => MemoryStore::named(name),
            StoreUrl::S3 { bucket, .. } => Arc::new(S3Store::new(bucket)),
            StoreUrl::Redis { server, .. } => Arc::new(RedisStore::new(server)),
            StoreUrl::Local { .. } => Arc::new(LocalStore),
        };
        let fast = matches!(self, StoreUrl::Redis { .. });
        Arc::new(crate::Counted { store, fast })
    }
}

/// The store and key of `url`.
pub fn open(url: &str) -> Result<(Arc<dyn Store>, String)> {
    let parsed = StoreUrl::parse(url)?;
    Ok((parsed.store(), parsed.key().to_string()))
}

/// Where the keys of the objects that `key` (given to [`resolve`]) names start to differ:
/// after its directory, for a prefix or a glob (past the end of `key` for one object).
pub fn listed_under(key: &str) -> usize {
    if key.contains(['*', '?', '[']) {
        literal_prefix(key).rfind('/').map_or(0, |i| i + 1)
    } else if key.ends_with('/') || key.is_empty() {
        key.len()
    } else {
        key.len() + 1
    }
}

/// The objects `url` names: one object, every object under a prefix (a URL ending in `/`, or
/// a directory), or the objects matching a glob. Sorted by key, except that a dataset directory
/// with a manifest gives exactly the files its manifest lists, in its order; an empty match is an
/// error. Prefixes and globs skip objects whose name starts with `_` or `.` (manifests, markers,
/// unfinished attempts).
pub async fn resolve(url: &str) -> Result<(Arc<dyn Store>, Vec<ObjectMeta>)> {
    let (store, key) = open(url)?;
    let listed_under = listed_under(&key);
    let listed = if key.contains(['*', '?', '[']) {
        store.list(literal_prefix(&key)).await?
    } else if key.ends_with('/') || key.is_empty() {
        store.list(&key).await?
    } else {
        match store.head(&key).await {
            Ok(meta) => vec![meta],
            Err(e) if e.is_not_found() => store.list(&format!("{key}/")).await?,
            Err(e) => return Err(e),
        }
    };
    let found = if listed.len() == 1 && listed[0].key == key {
        listed
    } else {
        let visible = |o: &ObjectMeta| !is_hidden(o.key.get(listed_under..).unwrap_or(&o.key));
        let glob = key.contains(['*', '?', '[']);
        let governed = governed(&*store, &listed, listed_under).await?;
        let mut found: Vec<ObjectMeta> = listed
            .into_iter()
            .filter(|o| visible(o) && (!glob || glob_match(&key, &o.key)))
            .filter(|o| governed.iter().all(|d| !o.key.starts_with(&d.dir) || d.files.contains_key(&o.key)))
            .collect();
        // A dataset's files in its manifest's order (partition order), not by name.
        found.sort_by_cached_key(|o| {
            let listed = governed.iter().find_map(|d| d.files.get(&o.key).map(|&(i, _)| (d.dir.clone(), i)));
            listed.map_or_else(|| (o.key.clone(), None), |(dir, i)| (dir, Some(i)))
        });
        found
    };
    if found.is_empty() {
        return Err(Error::NotFound { url: url.to_string() });
    }
    Ok((store, found))
}

/// A dataset directory governed by its manifest.
struct Governed {
    /// The directory's key prefix (ending in `/`, or empty).
    dir: String,
    /// The keys of the files it lists, with their position and size.
    files: std::collections::HashMap<String, (usize, u64)>,
}

/// The manifests among `listed` (objects below `under`, not in hidden folders), each checked
/// against the listing: a file it lists that is missing, or of another size than it says, is
/// an error rather than a silently different dataset.
async fn governed(store: &dyn Store, listed: &[ObjectMeta], under: usize) -> Result<Vec<Governed>> {
    use squall_core::manifest::{Manifest, MANIFEST};
    let sizes: std::collections::HashMap<&str, u64> = listed.iter().map(|o| (o.key.as_str(), o.size)).collect();
    let mut out = Vec::new();
    for o in listed {
        let Some(dir) = o.key.strip_suffix(MANIFEST).filter(|d| d.is_empty() || d.ends_with('/')) else { continue };
        if is_hidden(dir.get(under..).unwrap_or(dir).trim_end_matches('/')) {
            continue;
        }
        let url = store.url_of(&o.key);
        let data = store.get(&o.key).await?;
        let manifest = Manifest::parse(&data, &url).map_err(|e| Error::Dataset {
            url: url.clone(),
            why: e.to_string(),
            missing: false,
        })?;
        let dir_url = store.url_of(dir);
        let mut files = std::collections::HashMap::new();
        for (i, f) in manifest.files.iter().enumerate() {
            let file_url = Manifest::url_of(&dir_url, &f.name);
            let file_key = match StoreUrl::parse(&file_url) {
                Ok(parsed) if store.url_of(parsed.key()) == file_url => parsed.key().to_string(),
                _ => {
                    let why = format!("it lists {file_url}, which is not in this store");
                    return Err(Error::Dataset { url, why, missing: false });
                }
            };
            match sizes.get(file_key.as_str()) {
                Some(&size) if size == f.bytes => {}
                Some(&size) => {
                    let why = format!(
                        "it lists {file_url} with {} bytes, but the file has {size}: it was changed after squall \
                         wrote it; write the dataset again",
                        f.bytes
                    );
                    return Err(Error::Dataset { url, why, missing: false });
                }
                None => {
                    let why = format!(
                        "it lists {file_url}, which is missing: the dataset is damaged (a file was deleted \
                         by hand?); write it again, or delete the manifest to read what is left"
                    );
                    return Err(Error::Dataset { url, why, missing: true });
                }
            }
            files.insert(file_key, (i, f.bytes));
        }
        out.push(Governed { dir: dir.to_string(), files });
    }
    Ok(out)
}

/// Whether a listed object is hidden: a name, or a folder below the listed prefix, starts with
/// `_` or `.` (manifests, markers, `_attempts/`).
fn is_hidden(below_prefix: &str) -> bool {
    below_prefix.split('/').any(|part| part.starts_with('_') || part.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_to_stores_and_keys() {
        assert_eq!(StoreUrl::parse("file:///data/x.pq").unwrap(), StoreUrl::Local { key: "data/x.pq".into() });
        assert_eq!(StoreUrl::parse("/data/run/").unwrap(), StoreUrl::Local { key: "data/run/".into() });
        assert_eq!(
            StoreUrl::parse("memory://lab/a/b").unwrap(),
            StoreUrl::Memory { name: "lab".into(), key: "a/b".into() }
        );
        assert!(matches!(StoreUrl::parse("file://relative"), Err(Error::BadUrl { .. })));
        assert!(matches!(StoreUrl::parse("ftp://x/y"), Err(Error::BadUrl { .. })));
        assert_eq!(
            StoreUrl::parse("s3://lab/ev/x").unwrap(),
            StoreUrl::S3 { bucket: "lab".into(), key: "ev/x".into() }
        );
        assert_eq!(
            StoreUrl::parse("redis://:pw@127.0.0.1:6379/squall/x").unwrap(),
            StoreUrl::Redis { server: ":pw@127.0.0.1:6379".into(), key: "squall/x".into() }
        );
        assert!(matches!(StoreUrl::parse("redis://localhost/x"), Err(Error::BadUrl { .. })));
    }
}
