//! Who owns scratch space and unfinished attempts, and whether that owner still lives: on the
//! same machine (same boot), by its process id and start time; elsewhere, by age.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// How long the space of an owner that cannot be checked (another machine, or none recorded)
/// is kept before it counts as abandoned.
pub const STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A process that owns scratch space or a job's attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The machine's boot id (Linux), so that a pid is only compared within one boot.
    pub boot: String,
    /// Process id.
    pub pid: u32,
    /// The process's start time, in clock ticks since boot (`/proc/<pid>/stat`).
    pub start: u64,
    /// When the space was made, seconds since the Unix epoch.
    pub created: u64,
}

impl Owner {
    /// This process, now.
    pub fn this_process() -> Owner {
        let pid = std::process::id();
        Owner { boot: boot_id(), pid, start: start_ticks(pid).unwrap_or(0), created: now_secs() }
    }

    /// Whether the owner may still be using its space: it is a live process of this machine,
    /// or (when that cannot be told) its space is younger than `stale_after`.
    pub fn is_alive(&self, stale_after: Duration) -> bool {
        if !self.boot.is_empty() && self.boot == boot_id() {
            return start_ticks(self.pid) == Some(self.start);
        }
        now_secs().saturating_sub(self.created) < stale_after.as_secs()
    }

    /// A name for this owner's space: `<boot8>-<pid>-<start>`, which [`Owner::from_name`] reads.
    pub fn name(&self) -> String {
        format!("{}-{}-{}", self.boot.get(..8).unwrap_or(&self.boot), self.pid, self.start)
    }

    /// The owner that [`Owner::name`] named, on this machine; None when `name` is not one.
    pub fn from_name(name: &str) -> Option<Owner> {
        let mut parts = name.splitn(3, '-');
        let (boot, pid, start) = (parts.next()?, parts.next()?.parse().ok()?, parts.next()?);
        let start = start.split('-').next()?.parse().ok()?;
        let here = boot_id();
        let boot = if here.starts_with(boot) && !boot.is_empty() { here } else { boot.to_string() };
        Some(Owner { boot, pid, start, created: 0 })
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// A new job's id: its creation time and 48 random bits, e.g. `1764700000-3fa2b1c9d0e1`.
pub fn new_job_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(NEXT.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default());
    format!("{}-{:012x}", now_secs(), h.finish() & 0xffff_ffff_ffff)
}

/// When the job `id` ([`new_job_id`]) was created, seconds since the Unix epoch.
pub fn job_created(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// The start time of process `pid` in clock ticks since boot; None when there is none.
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields start after its last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_lives_and_a_dead_or_reused_pid_does_not() {
        let me = Owner::this_process();
        assert!(me.start > 0 && me.is_alive(STALE_AFTER));
        assert!(!Owner { start: me.start + 1, ..me.clone() }.is_alive(STALE_AFTER), "a reused pid");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!Owner { pid, ..me.clone() }.is_alive(STALE_AFTER), "an exited process");
        let named = Owner::from_name(&format!("{}-rand", me.name())).unwrap();
        assert!(named.is_alive(STALE_AFTER) && named.pid == me.pid);
        assert!(Owner::from_name("not-a-name").is_none());
    }

    #[test]
    fn elsewhere_only_age_tells() {
        let old = Owner { boot: "other".into(), pid: 1, start: 1, created: now_secs() - 2 * STALE_AFTER.as_secs() };
        assert!(!old.is_alive(STALE_AFTER));
        assert!(Owner { created: now_secs(), ..old }.is_alive(STALE_AFTER));
        let id = new_job_id();
        assert_ne!(id, new_job_id());
        assert!(job_created(&id).unwrap() <= now_secs());
    }
}
