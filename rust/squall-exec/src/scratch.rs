//! Scratch space for a job's intermediate objects (shuffles, samples, collected results), and
//! the removal of what dead sessions left there.

use std::path::Path;

use squall_core::tier::{FastTier, Rule};

use crate::owner::Owner;

/// Where a session may keep intermediate objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scratch {
    /// This process's memory (`memory://...`): for jobs whose every stage runs on its threads.
    pub memory: String,
    /// A directory in shared memory (`file:///dev/shm/...`), if the machine has one.
    pub shm: Option<String>,
    /// A directory on disk (`file:///tmp/...`).
    pub disk: String,
    /// The session's store prefix (`s3://...`, `redis://...`; always on Lambda): where every
    /// job's objects go when set.
    pub remote: Option<String>,
    /// The session's fast store prefix (`redis://...`) beside `remote`, for its small objects.
    pub fast: Option<String>,
}

/// A job's shuffle is held in memory only when this many times its input (plus 1 GiB) is free.
pub const MARGIN: u64 = 4;

impl Scratch {
    /// Where a job over `input_bytes` of input keeps its objects: the session's store when it
    /// has one (always on Lambda); this
    /// process's memory when all its stages run on its threads and there is ample room; else
    /// shared memory when it has ample room (writing there costs about half of writing through
    /// a disk's page cache); else the disk. Memory and shared memory are taken only while
    /// `MARGIN` times the input also fits in the session's memory `budget` (else the shuffle
    /// spills to disk).
    pub fn choose(&self, input_bytes: u64, all_on_threads: bool, budget: u64) -> &str {
        if let Some(remote) = &self.remote {
            return remote;
        }
        let held = MARGIN.saturating_mul(input_bytes);
        let room = held.saturating_add(1 << 30);
        let fits = held <= budget;
        // What earlier jobs freed and squall's allocator still keeps is room too: given back
        // when the room is short.
        let ample = || memory_room() >= room;
        if all_on_threads && fits && (ample() || crate::alloc::release_kept() && ample()) {
            return &self.memory;
        }
        match &self.shm {
            Some(shm) if fits && input_bytes > 0 && dir_room(shm.trim_start_matches("file://")) >= room => shm,
            _ => &self.disk,
        }
    }

    /// The fast tier of job `id`, whose objects go under `root` (what [`Scratch::choose`]
    /// gave): small ones go to the session's fast store when the job's objects go to the
    /// session's store (this machine's memory and disks are faster than any network store);
    /// objects go to this process's memory, while they total at most `room` bytes (when given:
    /// every task runs on this process's threads), when the job's objects go to a disk.
    pub fn tier(&self, root: &str, id: &str, room: Option<u64>) -> Option<FastTier> {
        let scratch = format!("{root}/{id}");
        if let Some(fast) = self.fast.as_ref().filter(|_| self.remote.as_deref() == Some(root)) {
            return Some(FastTier { scratch, fast: format!("{fast}/{id}"), rule: Rule::Cheaper });
        }
        let room = room.filter(|_| self.remote.is_none() && root.starts_with("file://"))?;
        Some(FastTier { scratch, fast: format!("{}/{id}", self.memory), rule: Rule::Within(room) })
    }
}

/// Bytes of memory available to new allocations (Linux's MemAvailable), 0 if unknown.
pub(crate) fn memory_room() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let line = meminfo.lines().find_map(|l| l.strip_prefix("MemAvailable:"));
    line.and_then(|l| l.split_whitespace().next()?.parse::<u64>().ok()).map_or(0, |kb| kb * 1024)
}

/// Bytes free in the file system of `dir` (or of its parent, before it exists), 0 if this
/// process may not write there.
fn dir_room(dir: &str) -> u64 {
    let path = Path::new(dir);
    let at = if path.exists() { path } else { path.parent().unwrap_or(path) };
    let Ok(c) = std::ffi::CString::new(at.as_os_str().as_encoded_bytes()) else { return 0 };
    // SAFETY: access(2) and statvfs(2) read a path and fill a struct we own.
    unsafe {
        if libc::access(c.as_ptr(), libc::W_OK) != 0 {
            return 0;
        }
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return 0;
        }
        st.f_bavail as u64 * st.f_frsize as u64
    }
}

/// The prefix of the names of sessions' scratch directories: `squall-scratch-<owner>-<random>`.
pub const PREFIX: &str = "squall-scratch-";

/// A name for a new scratch directory of this process.
pub fn new_name() -> String {
    let id = crate::owner::new_job_id();
    format!("{PREFIX}{}-{}", Owner::this_process().name(), id.rsplit('-').next().unwrap_or(&id))
}

/// Removes the scratch directories under `parents` whose session's process is gone; returns
/// what it removed.
pub fn reap(parents: &[&Path]) -> Vec<String> {
    let mut removed = Vec::new();
    for parent in parents {
        let Ok(entries) = std::fs::read_dir(parent) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(owner) = name.strip_prefix(PREFIX).and_then(Owner::from_name) else { continue };
            if !owner.is_alive(crate::owner::STALE_AFTER) && std::fs::remove_dir_all(entry.path()).is_ok() {
                removed.push(entry.path().display().to_string());
            }
        }
    }
    removed
}

/// The folder of a store where sessions of the Lambda backend record that they live: one
/// `<session>.json` each, an [`Owner`] whose `created` is the session's last sign of life.
pub const SESSIONS: &str = "_sessions";

/// Records that session `id` uses the scratch prefix `<store>/<id>/` now.
pub fn heartbeat(store: &str, id: &str) -> crate::Result<()> {
    let record = serde_json::to_vec(&Owner::this_process()).expect("an owner serialises");
    let url = format!("{}/{SESSIONS}/{id}.json", store.trim_end_matches('/'));
    crate::partition::write_object(&url, record.into())
}

/// Removes session `id`'s scratch prefix of `store` and its record (the session closed).
pub fn forget(store: &str, id: &str) -> crate::Result<()> {
    let store = store.trim_end_matches('/');
    crate::partition::delete_prefix(&format!("{store}/{id}/"))?;
    let (objects, key) = squall_store::open(&format!("{store}/{SESSIONS}/{id}.json"))?;
    Ok(crate::runtime::runtime()?.block_on(objects.delete(&key))?)
}

/// Removes the scratch prefixes of `store`'s sessions whose process is gone (on this machine)
/// or that gave no sign of life for a day (elsewhere), and their records; returns the prefixes
/// removed.
pub fn reap_store(store: &str) -> crate::Result<Vec<String>> {
    let store = store.trim_end_matches('/');
    let (objects, registry) = squall_store::open(&format!("{store}/{SESSIONS}/"))?;
    let rt = crate::runtime::runtime()?;
    let records = rt.block_on(objects.list(&registry))?;
    let mut removed = Vec::new();
    for record in records {
        let Some(id) = record.key[registry.len()..].strip_suffix(".json") else { continue };
        let owner = rt.block_on(objects.get(&record.key)).ok().and_then(|d| serde_json::from_slice::<Owner>(&d).ok());
        if owner.is_some_and(|o| o.is_alive(crate::owner::STALE_AFTER)) {
            continue;
        }
        let prefix = format!("{store}/{id}/");
        crate::partition::delete_prefix(&prefix)?;
        rt.block_on(objects.delete(&record.key))?;
        removed.push(prefix);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_sessions_scratch_goes_and_live_ones_stay() {
        let parent = tempfile::tempdir().unwrap();
        let mine = parent.path().join(new_name());
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let me = Owner::this_process();
        let dead = parent.path().join(format!("{PREFIX}{}-x", Owner { pid, ..me.clone() }.name()));
        let other = parent.path().join("not-squall");
        for d in [&mine, &dead, &other] {
            std::fs::create_dir_all(d.join("sub")).unwrap();
        }
        assert_eq!(reap(&[parent.path()]), vec![dead.display().to_string()]);
        assert!(mine.exists() && other.exists() && !dead.exists());
    }

    #[test]
    fn a_stores_dead_sessions_lose_their_scratch_and_live_ones_keep_it() {
        let store = "memory://reap-store-test/scratch";
        let put = |url: &str, data: &[u8]| crate::partition::write_object(url, data.to_vec().into()).unwrap();
        heartbeat(store, "session-live").unwrap();
        put(&format!("{store}/session-live/x.arrow"), b"x");
        let gone = Owner { pid: u32::MAX, ..Owner::this_process() };
        put(&format!("{store}/{SESSIONS}/session-dead.json"), &serde_json::to_vec(&gone).unwrap());
        put(&format!("{store}/session-dead/a/y.arrow"), b"y");
        let quiet = Owner { boot: "elsewhere".into(), created: 0, ..Owner::this_process() };
        put(&format!("{store}/{SESSIONS}/session-quiet.json"), &serde_json::to_vec(&quiet).unwrap());
        put(&format!("{store}/session-quiet/z.arrow"), b"z");
        let mut removed = reap_store(store).unwrap();
        removed.sort();
        assert_eq!(removed, vec![format!("{store}/session-dead/"), format!("{store}/session-quiet/")]);
        assert!(crate::partition::read_object(&format!("{store}/session-live/x.arrow")).is_ok());
        assert!(crate::partition::read_object(&format!("{store}/session-dead/a/y.arrow")).is_err());
        assert!(crate::partition::read_object(&format!("{store}/{SESSIONS}/session-dead.json")).is_err());
    }

    #[test]
    fn lambda_sessions_always_use_their_store() {
        let s = Scratch {
            memory: "memory://m".into(),
            shm: None,
            disk: "file:///tmp/d".into(),
            remote: Some("s3://b/p".into()),
            fast: None,
        };
        assert_eq!(s.choose(1 << 40, true, u64::MAX), "s3://b/p");
        assert_eq!(s.tier("s3://b/p", "job-1", Some(1 << 20)), None, "no fast store, nor memory beside S3");
        let hybrid = Scratch { fast: Some("redis://h:1/p".into()), ..s.clone() };
        let tier = hybrid.tier("s3://b/p", "job-1", None).unwrap();
        assert_eq!((tier.scratch.as_str(), tier.fast.as_str()), ("s3://b/p/job-1", "redis://h:1/p/job-1"));
        assert_eq!(tier.rule, Rule::Cheaper);
        assert_eq!(hybrid.tier("file:///tmp/d", "job-1", None), None, "only beside the session's store");
        let local = Scratch { remote: None, ..s };
        assert_eq!(local.choose(u64::MAX / 8, true, u64::MAX), "file:///tmp/d", "no room anywhere: the disk");
        assert_eq!(local.choose(1 << 20, true, u64::MAX), "memory://m");
        assert_eq!(local.choose(1 << 20, true, 1 << 21), "file:///tmp/d", "over the budget: the disk");
        // Beside a shuffle on disk, objects are held in memory when every task runs here.
        let held = local.tier("file:///tmp/d", "job-1", Some(4096)).unwrap();
        assert_eq!((held.fast.as_str(), held.rule), ("memory://m/job-1", Rule::Within(4096)));
        assert_eq!(local.tier("file:///tmp/d", "job-1", None), None, "tasks in other processes");
        assert_eq!(local.tier("memory://m", "job-1", Some(4096)), None, "all in memory already");
    }
}
