//! Records the wasm-bindgen version this tool is built with (from its own
//! Cargo.lock), so the tool can refuse a project that pins another one.
use std::{env, fs, path::Path};

fn main() {
    let lock = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = fs::read_to_string(&lock).unwrap_or_default();
    let version = lock_version(&text, "wasm-bindgen-cli-support").unwrap_or_default();
    println!("cargo:rustc-env=SITE_BUILD_WASM_BINDGEN_VERSION={version}");
}

fn lock_version(lock: &str, name: &str) -> Option<String> {
    let mut lines = lock.lines();
    let want = format!("name = \"{name}\"");
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
