//! The object store as a simulated fleet sees it: each attempt's requests and bytes (what its
//! report counted) take simulated time, and requests past the store's rate are answered
//! `503 SlowDown` and wait, as S3 does until it splits a busy prefix.
//!
//! Sources of the defaults: the Amazon S3 User Guide, "Best practices design patterns:
//! optimizing Amazon S3 performance" (at least 3,500 PUT/COPY/POST/DELETE and 5,500 GET/HEAD
//! requests per second per partitioned prefix; 100-200 ms to the first byte of small objects)
//! and "S3 Express One Zone" (single-digit millisecond access; a directory bucket serves up to
//! 2,000,000 GET and 200,000 PUT requests per second). A function's bandwidth to S3 is an
//! assumption (about 100 MB/s is what Lambda functions of 2 GB or more are seen to reach).

use squall_core::TaskIo;
use tokio::time::Instant;

/// What the store does, in simulated seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreModel {
    /// Its name, for messages.
    pub name: String,
    /// Time to the first byte of each request.
    pub first_byte_s: f64,
    /// Bytes per second one function moves.
    pub bandwidth_bytes_s: f64,
    /// Requests one function has in flight at once (squall's `MAX_IN_FLIGHT`).
    pub streams: usize,
    /// Prefixes (or buckets) the requests spread over evenly: squall hashes its shuffle keys
    /// into 256.
    pub prefixes: usize,
    /// PUT/COPY/POST/DELETE requests per second per prefix.
    pub put_per_s: f64,
    /// GET/HEAD requests per second per prefix.
    pub get_per_s: f64,
}

impl StoreModel {
    /// S3 Standard.
    pub fn s3_standard() -> StoreModel {
        StoreModel {
            name: "S3 Standard".into(),
            first_byte_s: 0.15,
            bandwidth_bytes_s: 100e6,
            streams: squall_store::MAX_IN_FLIGHT,
            prefixes: 256,
            put_per_s: 3_500.0,
            get_per_s: 5_500.0,
        }
    }

    /// S3 Express One Zone: one directory bucket.
    pub fn s3_express() -> StoreModel {
        StoreModel {
            name: "S3 Express One Zone".into(),
            first_byte_s: 0.005,
            prefixes: 1,
            put_per_s: 200_000.0,
            get_per_s: 2_000_000.0,
            ..StoreModel::s3_standard()
        }
    }

    /// Simulated seconds the requests and bytes of `io` take one function.
    pub fn busy_s(&self, io: &TaskIo) -> f64 {
        let requests = io.puts + io.gets + io.lists + io.deletes;
        let rounds = requests.div_ceil(self.streams.max(1) as u64) as f64;
        rounds * self.first_byte_s + (io.bytes_read + io.bytes_written) as f64 / self.bandwidth_bytes_s
    }
}

/// The store's request rate across the whole fleet: a token bucket per kind of request, holding
/// at most one second of the store's rate, refilled as simulated time passes.
#[derive(Debug)]
pub struct StoreRates {
    puts: f64,
    gets: f64,
    at: Instant,
}

/// What the rate did to one attempt's requests.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Throttled {
    /// Requests answered 503 SlowDown first (each then retried).
    pub slowdowns: u64,
    /// Simulated seconds the attempt waited for them.
    pub wait_s: f64,
}

impl StoreRates {
    /// Full buckets, now.
    pub fn new(model: &StoreModel) -> StoreRates {
        let prefixes = model.prefixes.max(1) as f64;
        StoreRates { puts: model.put_per_s * prefixes, gets: model.get_per_s * prefixes, at: Instant::now() }
    }

    /// Takes the requests of `io`, `time_scale` real seconds being one simulated second: those
    /// past the rate are answered 503 and wait until the store has room for them.
    pub fn take(&mut self, model: &StoreModel, io: &TaskIo, time_scale: f64) -> Throttled {
        let prefixes = model.prefixes.max(1) as f64;
        let (put_rate, get_rate) = (model.put_per_s * prefixes, model.get_per_s * prefixes);
        let elapsed = self.at.elapsed().as_secs_f64() / time_scale.max(1e-9);
        self.at = Instant::now();
        self.puts = (self.puts + elapsed * put_rate).min(put_rate);
        self.gets = (self.gets + elapsed * get_rate).min(get_rate);
        let mut out = Throttled::default();
        for (tokens, rate, asked) in
            [(&mut self.puts, put_rate, io.puts + io.deletes), (&mut self.gets, get_rate, io.gets + io.lists)]
        {
            *tokens -= asked as f64;
            if *tokens < 0.0 {
                // Those past the rate go into debt: they wait until the bucket refills to them.
                out.slowdowns += (-*tokens).min(asked as f64) as u64;
                out.wait_s = out.wait_s.max(-*tokens / rate);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_cost_rounds_of_first_bytes_and_bytes_cost_bandwidth() {
        let m = StoreModel { streams: 10, ..StoreModel::s3_standard() };
        let io = TaskIo { gets: 25, bytes_read: 200_000_000, ..Default::default() };
        assert!((m.busy_s(&io) - (3.0 * 0.15 + 2.0)).abs() < 1e-9);
        let express = StoreModel { streams: 10, ..StoreModel::s3_express() };
        assert!(express.busy_s(&io) < m.busy_s(&io));
    }

    #[test]
    fn a_prefix_asked_past_its_rate_answers_slowdown() {
        let m = StoreModel { prefixes: 1, ..StoreModel::s3_standard() };
        let mut rates = StoreRates::new(&m);
        let within = TaskIo { gets: 5_000, ..Default::default() };
        assert_eq!(rates.take(&m, &within, 1e9).slowdowns, 0, "within one second's rate");
        let mut rates = StoreRates::new(&m);
        let burst = TaskIo { gets: 16_500, ..Default::default() };
        let t = rates.take(&m, &burst, 1.0);
        assert_eq!(t.slowdowns, 11_000);
        assert!((t.wait_s - 2.0).abs() < 0.01, "{t:?}");
        let spread = StoreModel { prefixes: 256, ..m };
        let mut rates = StoreRates::new(&spread);
        assert_eq!(rates.take(&spread, &burst, 1.0).slowdowns, 0, "256 prefixes take it");
    }
}
