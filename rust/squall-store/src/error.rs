//! Errors of `squall-store`. URLs show without their credentials.

use squall_core::redact::redact;

/// What can go wrong reading or writing a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No object at this URL.
    #[error("{} does not exist", redact(.url))]
    NotFound {
        /// The object's URL.
        url: String,
    },
    /// The bucket does not exist.
    #[error("{}: the bucket {bucket:?} does not exist (create it, or check the name and region)", redact(.url))]
    NoSuchBucket {
        /// The bucket.
        bucket: String,
        /// The object's URL.
        url: String,
    },
    /// A remote store answered with an error, after the SDK's retries.
    #[error("{op} {} failed: {message}", redact(.url))]
    Remote {
        /// What was being done.
        op: &'static str,
        /// The object's URL.
        url: String,
        /// What the store said.
        message: String,
        /// Whether trying again later may succeed (throttling, 5xx, timeouts).
        transient: bool,
    },
    /// The store refused access.
    #[error("access to {} was denied: check permissions or credentials", redact(.url))]
    PermissionDenied {
        /// The object's URL.
        url: String,
    },
    /// A URL squall cannot use.
    #[error("cannot use {:?} as a store location: {why}", redact(.url))]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// A byte range outside the object.
    #[error("byte range {start}..{end} is outside {} ({size} bytes)", redact(.url))]
    BadRange {
        /// The object's URL.
        url: String,
        /// Range start.
        start: u64,
        /// Range end (exclusive).
        end: u64,
        /// Object size.
        size: u64,
    },
    /// A conditional write found another object than it expected: another writer was first.
    #[error("{} was changed by another writer", redact(.url))]
    Precondition {
        /// The object's URL.
        url: String,
    },
    /// A dataset whose manifest cannot be followed: unreadable, or listing a file that is
    /// missing or changed.
    #[error("{}: {why}", redact(.url))]
    Dataset {
        /// The manifest's URL.
        url: String,
        /// What is wrong, and what to do.
        why: String,
        /// Whether a file it lists is missing.
        missing: bool,
    },
    /// Any other I/O failure.
    #[error("{op} {} failed: {source}", redact(.url))]
    Io {
        /// What was being done.
        op: &'static str,
        /// The object's URL.
        url: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Maps an I/O error on `url`, keeping "not found" and "permission denied" distinct.
    pub fn io(op: &'static str, url: String, source: std::io::Error) -> Self {
        match source.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound { url },
            std::io::ErrorKind::PermissionDenied => Error::PermissionDenied { url },
            _ => Error::Io { op, url, source },
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Remote { transient: true, .. })
    }

    /// Whether the error means "no such object".
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. } | Error::NoSuchBucket { .. } | Error::Dataset { missing: true, .. })
    }
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
