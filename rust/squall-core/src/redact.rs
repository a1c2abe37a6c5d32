//! Store URLs as messages show them: a password in a URL (`redis://user:secret@host:6379/x`)
//! never reaches an error, a log or `explain()`.

/// `url` with its credentials, if any, replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn credentials_are_hidden_and_the_rest_kept() {
        assert_eq!(redact("redis://user:s3cret@cache:6379/p/k"), "redis://***@cache:6379/p/k");
        assert_eq!(redact("redis://:s3cret@cache:6379"), "redis://***@cache:6379");
        assert_eq!(redact("s3://bucket/a@b/key"), "s3://bucket/a@b/key", "an @ in a key is no password");
        assert_eq!(redact("file:///tmp/x"), "file:///tmp/x");
        assert_eq!(redact("no scheme"), "no scheme");
    }
}
