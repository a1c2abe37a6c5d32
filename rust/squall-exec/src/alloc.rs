//! squall's own allocations come from mimalloc, the extension's global allocator. The host's
//! malloc (glibc's, which Python and the user's libraries use) is never retuned: squall calls
//! neither `mallopt` nor `malloc_trim`. mimalloc is tuned through `SQUALL_MALLOC_CONF` only,
//! e.g. `SQUALL_MALLOC_CONF="purge_delay=0,arena_eager_commit=0"`.

use libmimalloc_sys as mi;

/// The allocator: `squall._native` declares it its `#[global_allocator]`.
pub use mimalloc::MiMalloc as Allocator;

/// The variable that tunes squall's allocator.
pub const CONF_VAR: &str = "SQUALL_MALLOC_CONF";

/// The mimalloc options `SQUALL_MALLOC_CONF` may set, by name, with their `mi_option_t` numbers
/// (the same in mimalloc 2 and 3; see its `mimalloc.h`).
const OPTIONS: &[(&str, mi::mi_option_t)] = &[
    ("arena_eager_commit", 4),
    ("purge_decommits", 5),
    ("purge_delay", 15),
    ("arena_reserve", 23),
    ("arena_purge_mult", 24),
];

/// `name=value` pairs separated by commas, for mimalloc's options in [`OPTIONS`].
pub fn parse(conf: &str) -> Result<Vec<(mi::mi_option_t, i64)>, String> {
    let known = || OPTIONS.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ");
    let mut settings = Vec::new();
    for pair in conf.split(',').map(str::trim).filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').ok_or_else(|| format!("{pair:?} is not name=value"))?;
        let option = OPTIONS
            .iter()
            .find(|(known, _)| *known == name.trim())
            .ok_or_else(|| format!("unknown option {:?} (known: {})", name.trim(), known()))?
            .1;
        let value = value.trim().parse::<i64>().map_err(|_| format!("{pair:?}: the value is not an integer"))?;
        settings.push((option, value));
    }
    Ok(settings)
}

/// Applies `SQUALL_MALLOC_CONF`, if set; an error names the variable and what was wrong.
pub fn configure() -> Result<(), String> {
    let Ok(conf) = std::env::var(CONF_VAR) else { return Ok(()) };
    let settings = parse(&conf).map_err(|e| format!("{CONF_VAR}={conf:?} was ignored: {e}"))?;
    for (option, value) in settings {
        // SAFETY: sets one of mimalloc's options (a plain integer it reads when it next needs it).
        unsafe { mi::mi_option_set(option, value as std::os::raw::c_long) };
    }
    Ok(())
}

/// Returns the free memory of squall's allocator on this thread to the system (and collects
/// what finished threads left). The host's heap is not touched.
pub fn release() {
    // SAFETY: mimalloc's collection only frees memory no allocation uses.
    unsafe { mi::mi_collect(true) };
}

/// glibc's `malloc_trim`: for squall's worker processes only, never the user's process.
pub fn trim_process_heap() {
    // SAFETY: malloc_trim only releases free memory.
    unsafe { libc::malloc_trim(0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_known_options_and_names_the_wrong_ones() {
        assert_eq!(parse(" purge_delay=0, arena_eager_commit = 1,").unwrap(), vec![(15, 0), (4, 1)]);
        assert!(parse("").unwrap().is_empty());
        assert!(parse("purge_dely=0")
            .unwrap_err()
            .contains("unknown option \"purge_dely\" (known: arena_eager_commit"));
        assert!(parse("purge_delay").unwrap_err().contains("not name=value"));
        assert!(parse("purge_delay=soon").unwrap_err().contains("not an integer"));
    }

    #[test]
    fn option_numbers_match_mimalloc() {
        // mimalloc's documented defaults, read back through the numbers in OPTIONS.
        // SAFETY: reads options.
        let get = |name: &str| unsafe { mi::mi_option_get(OPTIONS.iter().find(|(n, _)| *n == name).unwrap().1) };
        assert_eq!(get("purge_decommits"), 1);
        assert_eq!(get("arena_eager_commit"), 2);
        assert_eq!(get("purge_delay"), 1000);
        assert_eq!(get("arena_purge_mult"), 1);
    }
}
