//! Where an intermediate object goes when a session has a fast store beside its store
//! (`Session(store=..., fast="redis://...")`): to the tier where writing it once, holding it
//! while its job runs and reading it as it will be read costs less at list prices (the hybrid
//! placement of Locus, NSDI '19). Small objects and objects read in many small slices (a
//! shuffle's map outputs with many reducers) go to the fast store, large ones read whole to
//! the store.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use serde::{Deserialize, Serialize};

use crate::prices::{price, s3_put_requests};
use crate::redact::redact;

/// How long an intermediate object is taken to be held before its job deletes it: the
/// storage share of its price in the fast store.
pub const HOLD_SECONDS: f64 = 600.0;

/// What one object costs in each tier, in USD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObjectCost {
    /// In the store (S3): its PUTs (see `s3_put_requests`) and one GET per read.
    pub store: f64,
    /// In the fast store: an ECPU per kilobyte written and read (at least one per request),
    /// and its bytes held for [`HOLD_SECONDS`].
    pub fast: f64,
}

impl ObjectCost {
    /// The cost of an object of `bytes`, written once and read whole in `reads` requests.
    pub fn of(bytes: u64, reads: u64) -> ObjectCost {
        let parts = s3_put_requests(bytes) as f64;
        let store = parts * price("s3_put") + reads as f64 * price("s3_get");
        let kb = bytes as f64 / 1024.0;
        let ecpus = kb.max(1.0) + kb.max(reads as f64);
        let held = bytes as f64 / 1e9 * HOLD_SECONDS / 3600.0;
        ObjectCost { store, fast: ecpus * price("fast_ecpu") + held * price("fast_gb_hour") }
    }

    /// Whether the fast store is the cheaper tier.
    pub fn fast_is_cheaper(&self) -> bool {
        self.fast <= self.store
    }
}

/// Which of a job's objects go to its fast tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Those cheaper there at list prices: a fast store beside the session's store.
    #[default]
    Cheaper,
    /// Those that arrive while the job's objects there total at most this many bytes: this
    /// process's memory beside a shuffle on disk (or in shared memory), which holds what fits
    /// and spills the rest; small objects (partial states of few keys, samples) then cost no
    /// file, and a shuffle a little too big for memory writes only what does not fit.
    Within(u64),
}

/// The bytes each [`Rule::Within`] tier of this process took so far, by its prefix. Only
/// additions count (a reducer's buckets freed early leave their room taken): a bound, not a
/// measure.
static TAKEN: LazyLock<Mutex<HashMap<String, u64>>> = LazyLock::new(Mutex::default);

/// A job's two tiers of intermediate objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FastTier {
    /// The job's prefix in the store, which the planned URLs start with.
    pub scratch: String,
    /// The job's prefix in the fast store.
    pub fast: String,
    /// Which objects go to the fast store.
    #[serde(default)]
    pub rule: Rule,
}

impl FastTier {
    /// Where an object of `bytes`, planned at `url` and to be read in `reads` requests, goes in
    /// the fast store; None when it belongs in the store (by the tier's rule, or not one of
    /// the job's objects). Under [`Rule::Within`] an object placed takes its room.
    pub fn place(&self, url: &str, bytes: u64, reads: u64) -> Option<String> {
        let at = self.in_fast(url)?;
        let fast = match self.rule {
            Rule::Cheaper => ObjectCost::of(bytes, reads).fast_is_cheaper(),
            Rule::Within(room) => {
                let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
                let taken = taken.entry(self.fast.clone()).or_default();
                let fits = taken.saturating_add(bytes) <= room;
                if fits {
                    *taken += bytes;
                }
                fits
            }
        };
        fast.then_some(at)
    }

    /// Forgets the room this tier's objects took (its job ended).
    pub fn forget(&self) {
        TAKEN.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.fast);
    }

    /// The fast store's object for the job's object `url` (None: not one of the job's).
    pub fn in_fast(&self, url: &str) -> Option<String> {
        Some(format!("{}{}", self.fast, url.strip_prefix(&self.scratch)?))
    }

    /// The store's object for the job's object `url` in the fast store (None: not there).
    pub fn in_store(&self, url: &str) -> Option<String> {
        Some(format!("{}{}", self.scratch, url.strip_prefix(&self.fast)?))
    }
}

/// How a session keeps its jobs' intermediate objects, for `explain()`: where, and whether
/// its shuffles get a merge level (see [`crate::merge`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Intermediates {
    /// The session's store prefix (None: this machine's memory or disk).
    pub store: Option<String>,
    /// Its fast store prefix beside the store.
    pub fast: Option<String>,
    /// Merge levels: always, never, or (None) when they save requests.
    pub two_level: Option<bool>,
}

impl Intermediates {
    /// Where objects of about `bytes` each, read in `reads` requests each, go, in words.
    pub fn describe(&self, bytes: u64, reads: u64) -> String {
        let each = crate::explain::human(bytes);
        match (&self.store, &self.fast) {
            (None, _) => "this machine's memory or disk".to_string(),
            (Some(store), None) => format!("{}/", redact(store)),
            (Some(store), Some(fast)) => {
                let cost = ObjectCost::of(bytes, reads);
                let (at, why) = match cost.fast_is_cheaper() {
                    true => (fast, "cheaper in the fast store"),
                    false => (store, "cheaper in the store"),
                };
                format!(
                    "{}/ (about {each} each, read in {reads} request{}: {why})",
                    redact(at),
                    crate::explain::s(reads as usize)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_objects_and_many_small_reads_go_to_the_fast_store() {
        let tier =
            FastTier { scratch: "s3://b/s/job-1".into(), fast: "redis://h:1/s/job-1".into(), rule: Rule::Cheaper };
        let url = "s3://b/s/job-1/s0/m-1.arrow";
        assert_eq!(tier.place(url, 50_000, 50).as_deref(), Some("redis://h:1/s/job-1/s0/m-1.arrow"));
        assert_eq!(tier.place(url, 64 << 20, 1), None, "a large object read whole: the store");
        assert!(tier.place(url, 100 << 20, 10_000).is_some(), "read in 10,000 slices: the fast store");
        assert_eq!(tier.place("s3://b/other/x.arrow", 1, 1), None, "not the job's");
        let local =
            FastTier { scratch: "file:///t/job-1".into(), fast: "memory://m/job-1".into(), rule: Rule::Within(4096) };
        let place = |name: &str, bytes: u64| local.place(&format!("file:///t/job-1/s0/{name}"), bytes, 1);
        assert_eq!(place("m-1.arrow", 4097), None, "past the whole room: the disk");
        assert_eq!(place("m-1.arrow", 3000).as_deref(), Some("memory://m/job-1/s0/m-1.arrow"));
        assert_eq!(place("m-2.arrow", 1500), None, "past the room left: the disk");
        assert_eq!(place("m-3.arrow", 1096).as_deref(), Some("memory://m/job-1/s0/m-3.arrow"), "what is left");
        assert_eq!(place("m-4.arrow", 1), None, "full");
        let other = FastTier { fast: "memory://m/job-2".into(), scratch: "file:///t/job-2".into(), ..local.clone() };
        assert!(other.place("file:///t/job-2/s0/m-1.arrow", 4096, 1).is_some(), "each job has a room of its own");
        local.forget();
        assert!(place("m-5.arrow", 4096).is_some(), "a room forgotten is whole again");
        local.forget();
        other.forget();
        assert_eq!(local.in_store("memory://m/job-1/s0/m-1.arrow").as_deref(), Some("file:///t/job-1/s0/m-1.arrow"));
        assert_eq!(local.in_store("file:///t/job-1/s0/m-1.arrow"), None);
    }

    #[test]
    fn explain_says_which_tier_objects_of_a_size_go_to() {
        let tiers =
            Intermediates { store: Some("s3://b/s".into()), fast: Some("redis://h:1/s".into()), two_level: None };
        let small = tiers.describe(4096, 1);
        assert!(small.starts_with("redis://h:1/s/ (about 4.1 KB each, read in 1 request"), "{small}");
        assert!(tiers.describe(1 << 30, 4).starts_with("s3://b/s/ (about 1.1 GB each"));
        assert_eq!(Intermediates::default().describe(1, 1), "this machine's memory or disk");
    }
}
