//! Records the wasm-bindgen version this tool is built with (from its own
//! Cargo.lock), so the tool can refuse a project that pins another one.
use std::{env, fs, path::Path};

#[path = "src/lock.rs"]
mod lock;
use lock::lock_version;

fn main() {
    let lock = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = fs::read_to_string(&lock).unwrap_or_default();
    let version = lock_version(&text, "wasm-bindgen-cli-support").unwrap_or_default();
    println!("cargo:rustc-env=SITE_BUILD_WASM_BINDGEN_VERSION={version}");
}
