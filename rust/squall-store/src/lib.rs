//! squall-store: every byte that leaves a process goes through a `Store`.
//!
//! The store trait and its `memory://`, `file://` and `s3://` implementations arrive with
//! datasets; the local backend of the foundation moves task data over worker pipes only.
