//! Shell-style patterns over object keys: `*` (any run of characters except `/`), `**` (any run,
//! `/` included) and `?` (one character).

/// Whether `key` matches `pattern`.
pub fn glob_match(pattern: &str, key: &str) -> bool {
    let (p, k): (Vec<char>, Vec<char>) = (pattern.chars().collect(), key.chars().collect());
    matches(&p, &k)
}

/// The part of `pattern` before its first wildcard: the prefix to list.
pub fn literal_prefix(pattern: &str) -> &str {
    let end = pattern.find(['*', '?', '[']).unwrap_or(pattern.len());
    &pattern[..end]
}

fn matches(p: &[char], k: &[char]) -> bool {
    match p.first() {
        None => k.is_empty(),
        Some('*') if p.get(1) == Some(&'*') => (0..=k.len()).any(|i| matches(&p[2..], &k[i..])),
        Some('*') => {
            let limit = k.iter().position(|c| *c == '/').unwrap_or(k.len());
            (0..=limit).any(|i| matches(&p[1..], &k[i..]))
        }
        Some('?') => !k.is_empty() && k[0] != '/' && matches(&p[1..], &k[1..]),
        Some(c) => k.first() == Some(c) && matches(&p[1..], &k[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_stop_at_slashes_and_double_stars_do_not() {
        assert!(glob_match("run7/*.arrow", "run7/a.arrow"));
        assert!(!glob_match("run7/*.arrow", "run7/x/a.arrow"));
        assert!(glob_match("run7/**.arrow", "run7/x/a.arrow"));
        assert!(glob_match("part-?.pq", "part-3.pq"));
        assert!(!glob_match("part-?.pq", "part-33.pq"));
        assert_eq!(literal_prefix("a/b/*.parquet"), "a/b/");
    }
}
