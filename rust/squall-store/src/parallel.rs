//! Many requests at once, a bounded number in flight, results in the order asked.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use tokio::task::JoinSet;

use crate::{carry_counts, BoxFuture, Result, Store};

/// Requests in flight per call of [`in_parallel`] or [`get_ranges`].
pub const MAX_IN_FLIGHT: usize = 8;

/// Runs `jobs` with at most [`MAX_IN_FLIGHT`] at once; returns their results in input order, or
/// the first error.
pub async fn in_parallel<T: Send + 'static>(jobs: Vec<BoxFuture<'static, Result<T>>>) -> Result<Vec<T>> {
    let mut out: Vec<Option<T>> = (0..jobs.len()).map(|_| None).collect();
    let mut pending = jobs.into_iter().enumerate();
    let mut running = JoinSet::new();
    loop {
        while running.len() < MAX_IN_FLIGHT {
            let Some((i, job)) = pending.next() else { break };
            // Spawned jobs still count for the task that asked (several may share a process).
            running.spawn(carry_counts(async move { (i, job.await) }));
        }
        let Some(done) = running.join_next().await else { break };
        // A job only fails to join if it panicked: let the panic through.
        let (i, result) = done.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        out[i] = Some(result?);
    }
    Ok(out.into_iter().map(|r| r.expect("every job ran")).collect())
}

/// Reads `(store, key, range)` byte ranges, several at once, in input order.
pub async fn get_ranges(reads: Vec<(Arc<dyn Store>, String, Range<u64>)>) -> Result<Vec<Bytes>> {
    let jobs = reads
        .into_iter()
        .map(|(store, key, range)| -> BoxFuture<'static, Result<Bytes>> {
            Box::pin(async move { store.get_range(&key, range).await })
        })
        .collect();
    in_parallel(jobs).await
}
