//! A written dataset's manifest: `_manifest.json`, which governs what readers read.
//!
//! A directory with a manifest holds exactly the files the manifest lists; anything else in it
//! (files of a job that crashed before it published, of an overwrite that crashed before it
//! deleted the old ones) is invisible to squall's readers. A manifest is replaced only by a
//! compare-and-swap on the one before it (`Store::put_if`), so of two writers exactly one
//! publishes.

use serde::{Deserialize, Serialize};

use crate::codec::{Compression, Format};
use crate::plan::WriteMode;
use crate::{Error, Result};

/// The manifest's name in its directory.
pub const MANIFEST: &str = "_manifest.json";

/// One file of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Its name in the dataset's directory (manifests of squall 0.1 gave a whole URL).
    #[serde(alias = "url")]
    pub name: String,
    /// Rows in it (unknown for files of other tools that a manifest took over).
    pub rows: Option<u64>,
    /// Its size.
    pub bytes: u64,
}

/// The manifest of a written dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Generation: one more at each write (0: a manifest that took over the files of a directory
    /// that had none, written before a job's first files move in).
    #[serde(default)]
    pub version: u64,
    /// The job that wrote it.
    #[serde(default)]
    pub job: String,
    /// How that job wrote.
    #[serde(default)]
    pub mode: WriteMode,
    /// Format of every file.
    pub format: Format,
    /// Compression of the files the last job wrote.
    #[serde(default)]
    pub compression: Compression,
    /// When it was published (UTC, ISO 8601).
    #[serde(default)]
    pub created: String,
    /// Rows in all files (unknown when one file's count is).
    pub rows: Option<u64>,
    /// The files' columns and types (`codec::schema_text`); appended files must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The files, in partition order.
    pub files: Vec<ManifestFile>,
    /// Files this generation replaced: deleted after it was published, and by `squall.clean`
    /// when a crash left them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaced: Vec<String>,
}

impl Manifest {
    /// Parses a manifest read from `url`.
    pub fn parse(data: &[u8], url: &str) -> Result<Manifest> {
        serde_json::from_slice(data).map_err(|e| Error::Data {
            url: url.to_string(),
            what: "read the dataset manifest".into(),
            message: format!("{e}; delete it to read the directory's files as they are"),
        })
    }

    /// Its JSON text.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a manifest serialises")
    }

    /// The URL of `file` in the dataset at `dir`.
    pub fn url_of(dir: &str, name: &str) -> String {
        if name.contains("://") || name.starts_with('/') {
            name.to_string()
        } else {
            format!("{}/{name}", dir.trim_end_matches('/'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_of_squall_0_1_still_read() {
        let old = br#"{"format": "parquet", "compression": "zstd", "created": "2026-01-01T00:00:00Z", "rows": 3,
            "files": [{"url": "file:///d/part-00000.parquet", "rows": 3, "bytes": 100}]}"#;
        let m = Manifest::parse(old, "file:///d/_manifest.json").unwrap();
        assert_eq!((m.version, m.mode, m.rows), (0, WriteMode::Error, Some(3)));
        assert_eq!(Manifest::url_of("file:///e/", &m.files[0].name), "file:///d/part-00000.parquet");
        assert_eq!(Manifest::url_of("s3://b/d/", "part-1.parquet"), "s3://b/d/part-1.parquet");
        let back = Manifest::parse(&m.to_json(), "x").unwrap();
        assert_eq!(back, m);
        let err = Manifest::parse(b"{", "file:///d/_manifest.json").unwrap_err().to_string();
        assert!(err.contains("file:///d/_manifest.json") && err.contains("delete it"), "{err}");
    }
}
