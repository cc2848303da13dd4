//! `site-build`: Parley's release site, as `cargo leptos build --release
//! --split` (cargo-leptos 0.3.11) makes it, without building cargo-leptos.
//!
//! Run from the workspace root (scripts/build-site.sh does). The steps, each
//! as cargo-leptos does it (the file in its source is named):
//!
//! 1. empties the site root (`command/build.rs`);
//! 2. builds the server (`compile/server.rs`) and the wasm
//!    (`compile/front.rs`) with cargo, at once, with the `LEPTOS_*`
//!    variables cargo-leptos sets (`config/project.rs` `to_envs`);
//! 3. splits the wasm into lazily loaded chunks (`wasm_split_tools`);
//! 4. runs wasm-bindgen on the main module, with the flags cargo-leptos
//!    gives the wasm-bindgen CLI, and renames `<name>_bg.wasm` to
//!    `<name>.wasm`;
//! 5. runs `wasm-opt` (from PATH) on every wasm file, with the
//!    `wasm-opt-features` flags;
//! 6. turns the style file into `<pkg>/<name>.css` with Lightning CSS
//!    (`compile/style.rs`: minified, for the `browserquery` browsers);
//! 7. copies the assets directory into the site root (`compile/assets.rs`).
//!
//! Not done: cargo-leptos minifies `<name>.js` with swc in release builds.
//! The minified script behaves exactly like wasm-bindgen's; it is only
//! smaller (and gzip-compressed, the difference is small). Building swc is
//! most of what makes cargo-leptos slow to install.
//!
//! Settings come from `[[workspace.metadata.leptos]]` (the first entry) and
//! the same `LEPTOS_*` environment variables cargo-leptos reads
//! (`LEPTOS_SITE_ROOT`, `LEPTOS_SITE_PKG_DIR`, ...). A setting this tool does
//! not implement is an error, not silently ignored.

mod lock;

use anyhow::{anyhow, bail, Context, Result};
use lock::lock_version;
use serde_json::Value;
use std::{
    collections::BTreeSet,
    env, fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Mutex,
    time::Instant,
};

/// The wasm-bindgen (cli-support) version this tool was built with.
const WASM_BINDGEN_VERSION: &str = env!("SITE_BUILD_WASM_BINDGEN_VERSION");

/// Settings of `[[workspace.metadata.leptos]]` this tool implements, or that
/// do not affect a release build (dev profiles, `cargo leptos watch`/`serve`
/// and `end-to-end` settings).
const KNOWN_KEYS: &[&str] = &[
    "name",
    "output-name",
    "bin-package",
    "lib-package",
    "lib-profile-release",
    "bin-profile-release",
    "lib-profile-dev",
    "bin-profile-dev",
    "wasm-opt-features",
    "site-root",
    "site-pkg-dir",
    "style-file",
    "assets-dir",
    "site-addr",
    "reload-port",
    "end2end-cmd",
    "end2end-dir",
    "browserquery",
    "bin-features",
    "bin-default-features",
    "lib-features",
    "lib-default-features",
    "features",
    "hash-files",
    "js-minify",
    "env",
    "watch-additional-files",
    "graceful-shutdown",
    "graceful-shutdown-timeout-secs",
    "graceful-shutdown-unix-signal",
    "disable-erase-components",
];

fn main() {
    if let Err(err) = run() {
        eprintln!("site-build: error: {err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--version"] => {
            println!(
                "site-build {} (wasm-bindgen {WASM_BINDGEN_VERSION})",
                env!("CARGO_PKG_VERSION")
            );
            Ok(())
        }
        ["--wasm-bindgen-version"] => {
            println!("{WASM_BINDGEN_VERSION}");
            Ok(())
        }
        [] | ["build"] => build(),
        _ => bail!(
            "usage: site-build [build | --version | --wasm-bindgen-version]\n\
             (run from the workspace root; builds like `cargo leptos build --release --split`)"
        ),
    }
}

fn log(msg: impl AsRef<str>) {
    eprintln!("\x1b[1;32m{:>12}\x1b[0m {}", "site-build", msg.as_ref());
}

/// What `cargo metadata` and the leptos settings say, resolved.
struct Project {
    output_name: String,
    site_root: PathBuf,
    pkg_dir: PathBuf,
    site_addr: String,
    reload_port: String,
    hash_files: bool,
    js_minify: bool,
    browserquery: String,
    style_file: Option<PathBuf>,
    assets_dir: Option<PathBuf>,
    wasm_opt_features: Vec<String>,
    lib: Package,
    bin: Package,
    /// Cargo's target directory for the wasm (`<target>/front`) and the
    /// wasm it writes there, relative to the workspace root when inside it
    /// (as cargo-leptos names them).
    front_target_dir: PathBuf,
    wasm_source: PathBuf,
    exe_file: PathBuf,
}

struct Package {
    name: String,
    /// Directory relative to the workspace root (`LEPTOS_LIB_DIR`/`_BIN_DIR`).
    rel_dir: String,
    /// The cdylib target's name (lib) or the bin target's name (bin).
    target: String,
    features: Vec<String>,
    default_features: bool,
    /// `--release` or `--profile=NAME`, and the directory cargo writes to.
    profile_arg: String,
    profile_dir: String,
}

fn profile(name: Option<&str>) -> (String, String) {
    match name {
        None | Some("release") => ("--release".into(), "release".into()),
        Some(name) => {
            let dir = match name {
                "dev" | "test" => "debug",
                "bench" => "release",
                other => other,
            };
            (format!("--profile={name}"), dir.into())
        }
    }
}

fn str_list(value: Option<&Value>) -> Result<Vec<String>> {
    match value {
        None => Ok(vec![]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("not a string: {v}"))
            })
            .collect(),
        Some(other) => bail!("expected a list of strings, found {other}"),
    }
}

fn relative(path: &Path, base: &Path) -> PathBuf {
    path.strip_prefix(base)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

impl Project {
    fn load() -> Result<Project> {
        let out = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["metadata", "--format-version=1", "--no-deps"])
            .stderr(Stdio::inherit())
            .output()
            .context("running cargo metadata")?;
        if !out.status.success() {
            bail!("cargo metadata failed");
        }
        let meta: Value = serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
        let root = PathBuf::from(
            meta["workspace_root"]
                .as_str()
                .context("no workspace_root")?,
        );
        let cwd = env::current_dir()?;
        if fs::canonicalize(&root)? != fs::canonicalize(&cwd)? {
            bail!("run from the workspace root ({})", root.display());
        }
        let target_dir = PathBuf::from(
            meta["target_directory"]
                .as_str()
                .context("no target_directory")?,
        );
        let rel_target = relative(&target_dir, &root);

        let conf = match &meta["metadata"]["leptos"] {
            Value::Array(projects) if !projects.is_empty() => projects[0].clone(),
            _ => bail!("no [[workspace.metadata.leptos]] in the root Cargo.toml"),
        };
        let conf = conf
            .as_object()
            .context("[[workspace.metadata.leptos]] is not a table")?;
        for key in conf.keys() {
            if !KNOWN_KEYS.contains(&key.as_str()) {
                bail!(
                    "workspace.metadata.leptos `{key}` is not implemented by tools/site-build; \
                     build with `cargo leptos build --release --split` or teach the tool"
                );
            }
        }
        let get_str = |key: &str| conf.get(key).and_then(Value::as_str).map(str::to_owned);
        let get_bool = |key: &str| conf.get(key).and_then(Value::as_bool);
        let env_or = |var: &str, value: Option<String>| env::var(var).ok().or(value);

        // The environment variables cargo-leptos reads (config/dotenvs.rs).
        // (cargo-leptos also reads a .env file: this project has none.)
        for var in [
            "LEPTOS_STYLE_BUNDLE",
            "LEPTOS_BIN_TARGET",
            "LEPTOS_BIN_TARGET_TRIPLE",
            "LEPTOS_BIN_TARGET_DIR",
            "LEPTOS_BIN_CARGO_COMMAND",
            "LEPTOS_BIN_EXE_NAME",
            "LEPTOS_HASH_FILE_NAME",
            "SERVER_FN_PREFIX",
            "DISABLE_SERVER_FN_HASH",
            "SERVER_FN_MOD_PATH",
        ] {
            if env::var_os(var).is_some() {
                bail!("{var} is set: not implemented by tools/site-build");
            }
        }
        if root.join(".env").exists() {
            bail!(".env files are not implemented by tools/site-build");
        }
        // cargo-leptos folds rustflags from cargo's config files into the
        // RUSTFLAGS it sets for the wasm (which would otherwise hide them);
        // this tool only knows the RUSTFLAGS variable.
        for config in [".cargo/config.toml", ".cargo/config"] {
            if fs::read_to_string(root.join(config)).is_ok_and(|c| c.contains("rustflags")) {
                bail!("rustflags in {config} are not implemented by tools/site-build");
            }
        }
        let output_name = env_or("LEPTOS_OUTPUT_NAME", get_str("output-name"))
            .filter(|s| !s.is_empty())
            .or_else(|| get_str("lib-package").map(|s| s.replace('-', "_")))
            .context("no output-name")?;
        let site_root = PathBuf::from(
            env_or("LEPTOS_SITE_ROOT", get_str("site-root")).unwrap_or("target/site".into()),
        );
        let pkg_dir = PathBuf::from(
            env_or("LEPTOS_SITE_PKG_DIR", get_str("site-pkg-dir")).unwrap_or("pkg".into()),
        );
        let site_addr =
            env_or("LEPTOS_SITE_ADDR", get_str("site-addr")).unwrap_or("127.0.0.1:3000".into());
        let reload_port = env::var("LEPTOS_RELOAD_PORT")
            .ok()
            .or_else(|| {
                conf.get("reload-port")
                    .and_then(Value::as_u64)
                    .map(|p| p.to_string())
            })
            .unwrap_or("3001".into());
        let hash_files = match env::var("LEPTOS_HASH_FILES") {
            Ok(v) => v.parse().context("LEPTOS_HASH_FILES")?,
            Err(_) => get_bool("hash-files").unwrap_or(false),
        };
        if hash_files {
            bail!("hash-files is not implemented by tools/site-build");
        }
        // A release build: cargo-leptos minifies the JS unless js-minify is
        // false. (This tool never does; the value is passed on to cargo as
        // cargo-leptos does.)
        let js_minify = match env::var("LEPTOS_JS_MINIFY") {
            Ok(v) => v.parse().context("LEPTOS_JS_MINIFY")?,
            Err(_) => get_bool("js-minify").unwrap_or(true),
        };
        let browserquery =
            env_or("LEPTOS_BROWSERQUERY", get_str("browserquery")).unwrap_or("defaults".into());
        let style_file = env_or("LEPTOS_STYLE_FILE", get_str("style-file")).map(PathBuf::from);
        if let Some(style) = &style_file {
            if style.extension().and_then(|e| e.to_str()) != Some("css") {
                bail!(
                    "style-file {}: only plain CSS is implemented by tools/site-build",
                    style.display()
                );
            }
        }
        let assets_dir = env_or("LEPTOS_ASSETS_DIR", get_str("assets-dir")).map(PathBuf::from);
        let wasm_opt_features = match env::var("LEPTOS_WASM_OPT_FEATURES") {
            Ok(v) => v.split(',').map(|s| s.trim().to_owned()).collect(),
            Err(_) => match conf.get("wasm-opt-features") {
                // cargo-leptos's default flags.
                None => vec![
                    "-Oz".into(),
                    "--enable-bulk-memory".into(),
                    "--enable-nontrapping-float-to-int".into(),
                ],
                Some(list) => {
                    // A set in cargo-leptos: duplicates go, the order does not matter.
                    let mut seen = BTreeSet::new();
                    str_list(Some(list))?
                        .into_iter()
                        .filter(|f| seen.insert(f.clone()))
                        .collect()
                }
            },
        };
        let common_features = str_list(conf.get("features"))?;

        let packages = meta["packages"].as_array().context("no packages")?;
        let find = |key: &str| -> Result<(&Value, String)> {
            let name = get_str(key).with_context(|| format!("no {key}"))?;
            let package = packages
                .iter()
                .find(|p| p["name"] == name.as_str())
                .with_context(|| format!("{key} {name} is not a workspace package"))?;
            let manifest = PathBuf::from(
                package["manifest_path"]
                    .as_str()
                    .context("no manifest_path")?,
            );
            let dir = relative(manifest.parent().unwrap(), &root);
            Ok((package, dir.to_string_lossy().into_owned()))
        };
        let targets = |package: &Value, kind: &str| -> Vec<String> {
            package["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| {
                    t["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == kind))
                })
                .filter_map(|t| t["name"].as_str().map(str::to_owned))
                .collect()
        };

        let (lib_pkg, lib_dir) = find("lib-package")?;
        let lib_target = targets(lib_pkg, "cdylib")
            .into_iter()
            .next()
            .context("the lib-package has no cdylib target")?;
        let mut lib_features = str_list(conf.get("lib-features"))?;
        lib_features.extend(common_features.clone());
        let (lib_profile_arg, lib_profile_dir) = profile(get_str("lib-profile-release").as_deref());
        let lib = Package {
            name: get_str("lib-package").unwrap(),
            rel_dir: lib_dir,
            target: lib_target,
            features: lib_features,
            default_features: get_bool("lib-default-features").unwrap_or(false),
            profile_arg: lib_profile_arg,
            profile_dir: lib_profile_dir,
        };

        let (bin_pkg, bin_dir) = find("bin-package")?;
        let bin_targets = targets(bin_pkg, "bin");
        let [bin_target] = bin_targets.as_slice() else {
            bail!("the bin-package needs exactly one bin target (found {bin_targets:?})");
        };
        let mut bin_features = str_list(conf.get("bin-features"))?;
        bin_features.extend(common_features);
        let (bin_profile_arg, bin_profile_dir) = profile(get_str("bin-profile-release").as_deref());
        let bin = Package {
            name: get_str("bin-package").unwrap(),
            rel_dir: bin_dir,
            target: bin_target.clone(),
            features: bin_features,
            default_features: get_bool("bin-default-features").unwrap_or(false),
            profile_arg: bin_profile_arg,
            profile_dir: bin_profile_dir,
        };

        let front_target_dir = rel_target.join("front");
        let wasm_source = front_target_dir
            .join("wasm32-unknown-unknown")
            .join(&lib.profile_dir)
            .join(&lib.target)
            .with_extension("wasm");
        let exe_file = rel_target.join(&bin.profile_dir).join(&bin.name);

        Ok(Project {
            output_name,
            site_root,
            pkg_dir,
            site_addr,
            reload_port,
            hash_files,
            js_minify,
            browserquery,
            style_file,
            assets_dir,
            wasm_opt_features,
            lib,
            bin,
            front_target_dir,
            wasm_source,
            exe_file,
        })
    }

    fn pkg(&self) -> PathBuf {
        self.site_root.join(&self.pkg_dir)
    }

    /// `Project::to_envs` in cargo-leptos, for a release `--split` build.
    fn envs(&self, wasm: bool) -> Vec<(&'static str, String)> {
        let mut envs = vec![
            ("LEPTOS_OUTPUT_NAME", self.output_name.clone()),
            (
                "LEPTOS_SITE_ROOT",
                self.site_root.to_string_lossy().into_owned(),
            ),
            (
                "LEPTOS_SITE_PKG_DIR",
                self.pkg_dir.to_string_lossy().into_owned(),
            ),
            ("LEPTOS_SITE_ADDR", self.site_addr.clone()),
            ("LEPTOS_RELOAD_PORT", self.reload_port.clone()),
            ("LEPTOS_LIB_DIR", self.lib.rel_dir.clone()),
            ("LEPTOS_BIN_DIR", self.bin.rel_dir.clone()),
            ("LEPTOS_JS_MINIFY", self.js_minify.to_string()),
            ("LEPTOS_HASH_FILES", self.hash_files.to_string()),
        ];
        // Only the wasm gets extra flags: the relocations wasm-split reads.
        // (A release build does not erase components.) cargo-leptos adds
        // them to the RUSTFLAGS cargo would otherwise use.
        if wasm {
            let flags = "-Clink-args=--emit-relocs";
            let rustflags = match env::var("RUSTFLAGS") {
                Ok(existing) if !existing.trim().is_empty() => format!("{existing} {flags}"),
                _ => flags.to_string(),
            };
            envs.push(("RUSTFLAGS", rustflags));
        }
        envs
    }
}

fn cargo_build(proj: &Project, wasm: bool) -> Result<Child> {
    let package = if wasm { &proj.lib } else { &proj.bin };
    let mut args = vec!["build".to_string(), format!("--package={}", package.name)];
    if wasm {
        args.push("--lib".into());
        args.push(format!("--target-dir={}", proj.front_target_dir.display()));
        args.push("--target=wasm32-unknown-unknown".into());
    } else {
        args.push(format!("--bin={}", package.target));
    }
    if !package.default_features {
        args.push("--no-default-features".into());
    }
    if !package.features.is_empty() {
        args.push(format!("--features={}", package.features.join(",")));
    }
    args.push(package.profile_arg.clone());
    let envs = proj.envs(wasm);
    log(format!(
        "{} {}cargo {}",
        if wasm { "front:" } else { "server:" },
        envs.iter()
            .map(|(k, v)| format!("{k}={v} "))
            .collect::<String>(),
        args.join(" ")
    ));
    let mut cmd = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(&args).envs(envs);
    if wasm {
        // Not inherited from a caller's build of something else.
        cmd.env_remove("CARGO_ENCODED_RUSTFLAGS");
    }
    cmd.spawn().context("starting cargo")
}

fn wait(mut child: Child, what: &str) -> Result<()> {
    let status = child.wait()?;
    if !status.success() {
        bail!("cargo build of the {what} failed ({status})");
    }
    Ok(())
}

/// Empties `dir`, keeping `dir` itself (cargo-leptos `rm_dir_content`).
fn empty_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()));
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            fs::remove_dir_all(entry.path())?;
        } else {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

fn build() -> Result<()> {
    let started = Instant::now();
    let proj = Project::load()?;

    let lock = fs::read_to_string("Cargo.lock").context("reading Cargo.lock")?;
    let pinned = lock_version(&lock, "wasm-bindgen").context("no wasm-bindgen in Cargo.lock")?;
    if pinned != WASM_BINDGEN_VERSION {
        bail!(
            "Cargo.lock pins wasm-bindgen {pinned}, but tools/site-build is built with \
             wasm-bindgen-cli-support {WASM_BINDGEN_VERSION}: set the same version in \
             tools/site-build/Cargo.toml (`wasm-bindgen-cli-support = \"={pinned}\"`) \
             and run `cargo update -p wasm-bindgen-cli-support` there"
        );
    }
    let canonical_root = fs::canonicalize(".")?;
    if proj.site_root.as_os_str().is_empty()
        || fs::canonicalize(&proj.site_root).is_ok_and(|s| canonical_root.starts_with(&s))
    {
        bail!("refusing to empty site root {}", proj.site_root.display());
    }

    empty_dir(&proj.site_root)?;
    fs::create_dir_all(proj.pkg())?;

    // Both builds at once, as cargo-leptos runs them.
    let server = cargo_build(&proj, false)?;
    let front = cargo_build(&proj, true)?;
    let front_result = wait(front, "wasm (front)");
    if let Err(err) = front_result {
        // Let the server build finish or fail on its own terms first.
        let _ = wait(server, "server");
        return Err(err);
    }
    // The wasm post-processing overlaps the rest of the server build.
    let front = front_site(&proj);
    let server = wait(server, "server");
    front?;
    server?;
    log(format!(
        "built {} and {} in {:.0?}",
        proj.exe_file.display(),
        proj.site_root.display(),
        started.elapsed()
    ));
    Ok(())
}

/// Everything after cargo's wasm: split, bindgen, wasm-opt, style, assets.
fn front_site(proj: &Project) -> Result<()> {
    let pkg = proj.pkg();
    let input = fs::read(&proj.wasm_source)
        .with_context(|| format!("reading {}", proj.wasm_source.display()))?;

    // (3) wasm_split_tools::wasm_split
    let t = Instant::now();
    let stem = proj
        .wasm_source
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let main_out = proj
        .wasm_source
        .with_file_name(format!("{stem}_split.wasm"));
    let main_module = format!("./{}.js", proj.output_name);
    let split = wasm_split_cli_support::transform({
        let mut opts = wasm_split_cli_support::Options::new(&input);
        opts.output_dir = &pkg;
        opts.main_out_path = &main_out;
        opts.main_module = &main_module;
        opts.link_name = "./__wasm_split.______________________.js";
        opts.verbose = false;
        opts
    })
    .map_err(|e| anyhow!("wasm-split: {e:?}"))?;
    fs::write(
        pkg.join("__wasm_split_manifest.json"),
        serde_json::to_string_pretty(&split.prefetch_map)?,
    )?;
    drop(input);
    log(format!(
        "split the wasm into {} chunks in {:.1?}",
        split.split_modules.len(),
        t.elapsed()
    ));

    // (4) wasm-bindgen, with exactly what `wasm-bindgen --target=web
    // --keep-lld-exports --no-demangle --out-name=NAME --out-dir=PKG`
    // sets (wasm-bindgen-cli's `rmain`, the other flags at their CLI
    // defaults, some of which differ from `Bindgen::new()`'s).
    let t = Instant::now();
    #[allow(deprecated)]
    {
        let mut b = wasm_bindgen_cli_support::Bindgen::new();
        b.web(true)?;
        b.input_path(&main_out)
            .nodejs(false)?
            .web(false)?
            .browser(false)?
            .no_modules(false)?
            .debug(false)
            .demangle(false)
            .keep_lld_exports(true)
            .keep_debug(false)
            .split_debug_info(false)
            .remove_name_section(false)
            .remove_producers_section(false)
            .typescript(true)
            .omit_imports(false)
            .omit_default_module_path(false)
            .split_linked_modules(false)
            .js_string_builtins(false)
            .ts_typed_array_buffers(false)
            .reference_types(false)
            .reset_state_function(false)
            .force_enable_abort_handler(false);
        b.out_name(&proj.output_name);
        b.generate(&pkg).context("wasm-bindgen")?;
    }
    let wasm_dest = pkg.join(format!("{}.wasm", proj.output_name));
    fs::rename(
        pkg.join(format!("{}_bg.wasm", proj.output_name)),
        &wasm_dest,
    )?;
    log(format!(
        "wasm-bindgen {WASM_BINDGEN_VERSION} in {:.1?}",
        t.elapsed()
    ));

    // (5) wasm-opt on the main module and every chunk, in parallel.
    let t = Instant::now();
    let mut files = vec![wasm_dest];
    files.extend(split.split_modules);
    wasm_opt_all(&files, &proj.wasm_opt_features)?;
    log(format!(
        "wasm-opt {} on {} files in {:.1?}",
        proj.wasm_opt_features.join(" "),
        files.len(),
        t.elapsed()
    ));

    // (6) style
    if let Some(style) = &proj.style_file {
        let css =
            fs::read_to_string(style).with_context(|| format!("reading {}", style.display()))?;
        let out = process_css(&format!("{css}\n"), style, &proj.browserquery)?;
        fs::write(pkg.join(format!("{}.css", proj.output_name)), out)?;
    }

    // (7) assets
    if let Some(assets) = &proj.assets_dir {
        if assets.exists() {
            for reserved in [assets.join("index.html"), assets.join(&proj.pkg_dir)] {
                if reserved.exists() {
                    bail!(
                        "{} is reserved for Leptos; move it out of the assets",
                        reserved.display()
                    );
                }
            }
            copy_dir(assets, &proj.site_root)?;
        } else {
            log(format!(
                "assets dir {} does not exist, skipping",
                assets.display()
            ));
        }
    }
    Ok(())
}

fn wasm_opt_all(files: &[PathBuf], flags: &[String]) -> Result<()> {
    let wasm_opt = env::var("WASM_OPT").unwrap_or_else(|_| "wasm-opt".into());
    let parallelism = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let queue = Mutex::new(files.iter());
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..parallelism.min(files.len()) {
            s.spawn(|| loop {
                let Some(file) = queue.lock().unwrap().next() else {
                    break;
                };
                let out = Command::new(&wasm_opt)
                    .args(flags)
                    .arg(file)
                    .arg("-o")
                    .arg(file)
                    .output();
                let err = match out {
                    Ok(o) if o.status.success() => continue,
                    Ok(o) => format!("{}: {}", file.display(), String::from_utf8_lossy(&o.stderr)),
                    Err(e) => format!("running {wasm_opt}: {e} (is binaryen's wasm-opt on PATH?)"),
                };
                errors.lock().unwrap().push(err);
            });
        }
    });
    let errors = errors.into_inner().unwrap();
    if !errors.is_empty() {
        bail!("wasm-opt failed:\n{}", errors.join("\n"));
    }
    Ok(())
}

/// cargo-leptos's `process_css` (compile/style.rs) for a release build.
fn process_css(css: &str, file: &Path, browserquery: &str) -> Result<String> {
    use lightningcss::{
        stylesheet::{MinifyOptions, ParserOptions, PrinterOptions, StyleSheet},
        targets::{Browsers, Targets},
    };
    let browsers = Browsers::from_browserslist([browserquery])
        .map_err(|e| anyhow!("browserquery {browserquery:?}: {e}"))?;
    let targets = Targets::from(browsers);
    let options = ParserOptions {
        filename: file.to_string_lossy().into_owned(),
        ..Default::default()
    };
    match StyleSheet::parse(css, options) {
        Ok(mut sheet) => {
            sheet
                .minify(MinifyOptions {
                    targets,
                    ..Default::default()
                })
                .map_err(|e| anyhow!("{e}"))?;
            let printed = sheet
                .to_css(PrinterOptions {
                    targets,
                    minify: true,
                    ..Default::default()
                })
                .map_err(|e| anyhow!("{e}"))?;
            Ok(printed.code)
        }
        // As cargo-leptos: a sheet Lightning CSS cannot parse is served as written.
        Err(e) => {
            log(format!(
                "warning: {}: {e}; copying it unprocessed",
                file.display()
            ));
            Ok(css.to_string())
        }
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            fs::copy(entry.path(), &dest)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}
