//! Errors of `squall-core`.

/// What can go wrong while encoding or decoding specs, reports, frames and data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A frame's header or a spec was not the JSON we expected.
    #[error("malformed spec or frame header: {0}")]
    Header(#[from] serde_json::Error),
    /// A frame announced a header larger than any squall writes: the stream is corrupt.
    #[error("frame header of {0} bytes exceeds the {max} byte limit: the stream is corrupt", max = crate::frame::MAX_HEADER)]
    HeaderTooLarge(usize),
    /// Data that could not be read, converted or written.
    #[error("could not {what} {url}: {message}")]
    Data {
        /// The object concerned.
        url: String,
        /// What was being done.
        what: String,
        /// The cause.
        message: String,
    },
    /// A plan that cannot run as asked.
    #[error("{0}")]
    Plan(String),
    /// A column the plan names is not in the data.
    #[error("no column named {column:?} {to}; the columns are {columns:?}")]
    MissingColumn {
        /// The column asked for.
        column: String,
        /// What it was wanted for, e.g. "to group or aggregate".
        to: String,
        /// The columns there are.
        columns: Vec<String>,
    },
    /// The work was cancelled while it ran (`cancel::check`).
    #[error("the work was cancelled")]
    Cancelled,
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
