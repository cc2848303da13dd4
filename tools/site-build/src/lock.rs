//! Reading a Cargo.lock; shared with `build.rs`.

/// The version of `name` in a Cargo.lock.
pub fn lock_version(lock: &str, name: &str) -> Option<String> {
    let want = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == want {
            let version = lines.next()?;
            return Some(
                version
                    .strip_prefix("version = ")?
                    .trim_matches('"')
                    .to_string(),
            );
        }
    }
    None
}
