//! Turning URLs into a store and a key.

use std::sync::Arc;

use crate::glob::literal_prefix;
use crate::{glob_match, Error, LocalStore, MemoryStore, ObjectMeta, Result, S3Store, Store};

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
        let path = if let Some(rest) = url.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(bad("file URLs need an absolute path, as in file:///data/x.parquet"));
            }
            std::path::PathBuf::from(rest)
        } else if let Some((scheme, _)) = url.split_once("://") {
            return Err(bad(&format!(
                "the scheme {scheme}:// is not supported; use s3://, file://, memory:// or a path"
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
            StoreUrl::Memory { key, .. } | StoreUrl::S3 { key, .. } | StoreUrl::Local { key } => key,
        }
    }

    /// The store this URL lives in; its requests count in [`crate::io_counts`].
    pub fn store(&self) -> Arc<dyn Store> {
        let store: Arc<dyn Store> = match self {
            StoreUrl::Memory { name, .. } => MemoryStore::named(name),
            StoreUrl::S3 { bucket, .. } => Arc::new(S3Store::new(bucket)),
            StoreUrl::Local { .. } => Arc::new(LocalStore),
        };
        Arc::new(crate::Counted(store))
    }
}

/// The store and key of `url`.
pub fn open(url: &str) -> Result<(Arc<dyn Store>, String)> {
    let parsed = StoreUrl::parse(url)?;
    Ok((parsed.store(), parsed.key().to_string()))
}

/// The objects `url` names: one object, every object under a prefix (a URL ending in `/`, or
/// a directory), or the objects matching a glob. Sorted by key; an empty match is an error.
/// Prefixes and globs skip objects whose name starts with `_` or `.` (manifests, markers).
pub async fn resolve(url: &str) -> Result<(Arc<dyn Store>, Vec<ObjectMeta>)> {
    let (store, key) = open(url)?;
    let listed_under = if key.contains(['*', '?', '[']) {
        literal_prefix(&key).rfind('/').map_or(0, |i| i + 1)
    } else if key.ends_with('/') || key.is_empty() {
        key.len()
    } else {
        key.len() + 1
    };
    let found = if key.contains(['*', '?', '[']) {
        let listed = store.list(literal_prefix(&key)).await?;
        listed.into_iter().filter(|o| glob_match(&key, &o.key)).collect()
    } else if key.ends_with('/') || key.is_empty() {
        store.list(&key).await?
    } else {
        match store.head(&key).await {
            Ok(meta) => vec![meta],
            Err(e) if e.is_not_found() => store.list(&format!("{key}/")).await?,
            Err(e) => return Err(e),
        }
    };
    let found: Vec<ObjectMeta> = if found.len() == 1 && found[0].key == key {
        found
    } else {
        found.into_iter().filter(|o| !is_hidden(o.key.get(listed_under..).unwrap_or(&o.key))).collect()
    };
    if found.is_empty() {
        return Err(Error::NotFound { url: url.to_string() });
    }
    Ok((store, found))
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
    }
}
