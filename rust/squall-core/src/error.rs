//! Errors of `squall-core`.

/// What can go wrong while encoding or decoding specs, reports and frames.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A frame's header was not the JSON we expected.
    #[error("malformed frame header: {0}")]
    Header(#[from] serde_json::Error),
    /// A frame announced a header larger than any squall writes: the stream is corrupt.
    #[error("frame header of {0} bytes exceeds the {max} byte limit: the stream is corrupt", max = crate::frame::MAX_HEADER)]
    HeaderTooLarge(usize),
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
