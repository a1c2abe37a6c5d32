//! Where an intermediate object goes when a session has a fast store beside its scratch store
//! (`Session(store=..., fast="redis://...")`): objects up to a size go to the fast store,
//! larger ones to the scratch store (the hybrid placement of Locus, NSDI '19).

use serde::{Deserialize, Serialize};

/// Objects up to this size go to the fast store by default: about where one write and one
/// read cost the same on either tier at list prices (ElastiCache Serverless for Valkey charges
/// an ECPU per kilobyte moved, $0.0023 per million; S3 Standard $0.005 per thousand PUTs and
/// $0.0004 per thousand GETs, whatever the size): 2 x 1,024 ECPUs = $4.7e-6 against $5.4e-6.
pub const FAST_MAX_BYTES: u64 = 1 << 20;

/// A job's two tiers of intermediate objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FastTier {
    /// The job's prefix in the scratch store, which the planned URLs start with.
    pub scratch: String,
    /// The job's prefix in the fast store.
    pub fast: String,
    /// The largest object the fast store takes.
    pub max_bytes: u64,
}

impl FastTier {
    /// Where an object of `len` bytes planned at `url` goes in the fast store; None when it
    /// belongs in the scratch store (too large, or not one of the job's objects).
    pub fn place(&self, url: &str, len: u64) -> Option<String> {
        let rest = url.strip_prefix(&self.scratch)?;
        (len <= self.max_bytes).then(|| format!("{}{rest}", self.fast))
    }

    /// Whether `url` is one of the job's objects in either tier: a task reports only these.
    pub fn owns(&self, url: &str) -> bool {
        url.starts_with(&self.scratch) || url.starts_with(&self.fast)
    }
}

/// Where a session keeps its jobs' intermediate objects, for `explain()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tiers {
    /// The session's store prefix (None: this machine's memory or disk).
    pub store: Option<String>,
    /// Its fast store prefix beside the store.
    pub fast: Option<String>,
}

impl Tiers {
    /// Where objects of about `bytes` each go, in words.
    pub fn describe(&self, bytes: u64) -> String {
        let each = crate::explain::human(bytes);
        match (&self.store, &self.fast) {
            (None, _) => "this machine's memory or disk".to_string(),
            (Some(store), None) => format!("{store}/"),
            (Some(_), Some(fast)) if bytes <= FAST_MAX_BYTES => {
                format!("{fast}/ (about {each} each: the fast store takes objects up to 1 MiB)")
            }
            (Some(store), Some(_)) => format!("{store}/ (about {each} each: over the fast store's 1 MiB)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_objects_of_the_job_go_to_the_fast_store() {
        let tier = FastTier { scratch: "s3://b/s/job-1".into(), fast: "redis://h:1/s/job-1".into(), max_bytes: 10 };
        assert_eq!(tier.place("s3://b/s/job-1/s0/m-1.arrow", 10).as_deref(), Some("redis://h:1/s/job-1/s0/m-1.arrow"));
        assert_eq!(tier.place("s3://b/s/job-1/s0/m-1.arrow", 11), None);
        assert_eq!(tier.place("s3://b/other/x.arrow", 1), None);
        assert!(tier.owns("redis://h:1/s/job-1/x") && !tier.owns("redis://h:1/s/job-2/x"));
    }

    #[test]
    fn explain_says_which_tier_objects_of_a_size_go_to() {
        let tiers = Tiers { store: Some("s3://b/s".into()), fast: Some("redis://h:1/s".into()) };
        assert!(tiers.describe(4096).starts_with("redis://h:1/s/ (about 4.1 KB each"), "{}", tiers.describe(4096));
        assert!(tiers.describe(FAST_MAX_BYTES + 1).starts_with("s3://b/s/ (about"));
        assert_eq!(Tiers::default().describe(1), "this machine's memory or disk");
    }
}
