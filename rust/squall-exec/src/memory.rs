//! Resident memory of this process (Linux's `/proc/self`), for each attempt's peak in the job
//! record. Where `/proc` is missing, nothing is measured (0).

use std::future::Future;
use std::time::Duration;

/// How often an attempt on the driver's threads samples the process's resident size.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// The process's resident bytes now.
pub fn resident_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else { return 0 };
    let pages = statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf only reads a constant of the system.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page.max(0) as u64
}

/// The memory this process may use: the machine's (`MemTotal`), or its control group's limit
/// when lower (a container's); 0 when neither is known.
pub fn machine_bytes() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let line = meminfo.lines().find_map(|l| l.strip_prefix("MemTotal:"));
    let total = line.and_then(|l| l.split_whitespace().next()?.parse::<u64>().ok()).map_or(0, |kb| kb * 1024);
    let limits = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"];
    let cgroup = limits.iter().filter_map(|p| std::fs::read_to_string(p).ok()?.trim().parse::<u64>().ok()).min();
    match cgroup {
        Some(limit) if limit > 0 && (total == 0 || limit < total) => limit,
        _ => total,
    }
}

/// The process's resident high-water mark (`VmHWM`) in bytes.
pub fn peak_bytes() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return 0 };
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Starts the high-water mark afresh at the resident size now. For squall's own worker
/// processes only (one attempt at a time): never called in the user's process, whose memory
/// counters are its own.
pub fn restart_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Runs `work` and samples the process's resident size every [`SAMPLE_EVERY`] meanwhile:
/// returns its output and the largest sample (for attempts that share the process with others,
/// where no high-water mark of their own exists).
pub async fn sampling_peak<F: Future>(work: F) -> (F::Output, u64) {
    let mut peak = resident_bytes();
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return (out, peak.max(resident_bytes())),
            _ = tick.tick() => peak = peak.max(resident_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_this_process() {
        let now = resident_bytes();
        assert!(now > 1 << 20, "{now}");
        assert!(peak_bytes() >= now);
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let (len, peak) = rt.block_on(sampling_peak(async {
            let block = vec![1u8; 64 << 20];
            tokio::time::sleep(SAMPLE_EVERY * 3).await;
            block.iter().map(|&b| b as usize).sum::<usize>()
        }));
        assert_eq!(len, 64 << 20);
        assert!(peak >= now + (60 << 20), "peak {peak}, before {now}");
    }
}
