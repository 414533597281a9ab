//! Where the external reference histories are: Porcupine's `test_data` with the verdicts
//! Porcupine computed (`porcupine/EXPECTED.tsv`), kept beside the repository, not in it.
//!
//! One setting finds them: the environment variable [`ENV_VAR`]
//! (`FAULTLINE_REFERENCE_HISTORIES`), a directory, absolute or relative to the workspace
//! root; unset, `../shared/reference-histories` relative to the workspace root. Only the
//! tests and benchmarks that compare against that corpus use it; the project's other tests
//! make their histories themselves. When the corpus is absent those tests print why and
//! skip, except under CI (`CI=true`), where the corpus is always present and its absence
//! is a failure ([`porcupine_or_skip`]).

use std::path::{Path, PathBuf};

/// The environment variable naming the reference-histories directory.
pub const ENV_VAR: &str = "FAULTLINE_REFERENCE_HISTORIES";

/// The default, relative to the workspace root.
pub const DEFAULT_DIR: &str = "../shared/reference-histories";

/// The workspace root this crate was built in (the parent of `checker/`).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("checker/ has a parent directory")
        .to_path_buf()
}

/// The reference-histories directory the setting names (it may not exist).
pub fn reference_dir() -> PathBuf {
    let setting = std::env::var_os(ENV_VAR)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_DIR), PathBuf::from);
    workspace_root().join(setting)
}

/// Porcupine's histories (`<reference dir>/porcupine`, holding `EXPECTED.tsv`), or why
/// they cannot be used.
pub fn porcupine_dir() -> Result<PathBuf, String> {
    let dir = reference_dir().join("porcupine");
    if dir.join("EXPECTED.tsv").is_file() {
        Ok(dir)
    } else {
        Err(format!(
            "no reference histories: {} does not exist (set {ENV_VAR} to the \
             reference-histories directory; default {DEFAULT_DIR} relative to the workspace root)",
            dir.join("EXPECTED.tsv").display()
        ))
    }
}

/// For a test or benchmark that needs Porcupine's histories: their directory, or `None`
/// after printing why the caller skips. Under CI (`CI=true`) a missing corpus panics.
pub fn porcupine_or_skip() -> Option<PathBuf> {
    match porcupine_dir() {
        Ok(dir) => Some(dir),
        Err(reason) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true and {reason}"
            );
            eprintln!("skipped: {reason}");
            None
        }
    }
}
