//! `corrupt` and `truncate`: damage to a stopped node's files, as Jepsen's file faults do.
//!
//! Both pick their files by a shell glob relative to the node's data dir ([`matching_files`]):
//! a pattern with a `/` is matched against the whole relative path (`*` does not cross a
//! `/`, so `member/wal/*.wal` is etcd's WAL segments), one without against each file's name
//! at any depth (`wal*` is the Raft store's `wal.log`, `*.wal` etcd's WAL segments). The glob
//! crate (rust-lang's own) does the matching. Files are visited in path order, so the
//! damage is a function of the directory's contents and the seed alone.
//!
//! Every change is written through the data dir (the faultfs mount when there is one) and
//! fsynced, so it is durable: a later `lose_unfsynced` does not undo it.
//!
//! `bitflip: p` flips each bit with probability p, drawn per file as `floor(bits * p)`
//! distinct bit positions plus one more with probability `frac(bits * p)` (the expected
//! count is exact; the spread is smaller than a binomial's), at uniformly random positions,
//! from ChaCha20 seeded with the fault's seed (drawn from the schedule's seed when the plan
//! is made). At most [`MAX_FLIPS_PER_FILE`] flips per file.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

use super::{Corrupt, DiskError, Truncate, io_error};

/// Deepest directory level searched for matching files.
const MAX_DEPTH: usize = 16;
/// Most files one pattern may match.
const MAX_FILES: usize = 100_000;
/// Most bits flipped in one file.
pub const MAX_FLIPS_PER_FILE: usize = 1 << 20;

/// What a disk fault did to one file (in the nemesis event's `files`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDamage {
    /// Relative to the data dir.
    pub path: String,
    pub size_before: u64,
    pub size_after: u64,
    /// `corrupt` only: bits flipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bits_flipped: Option<u64>,
}

/// Checks a file pattern as a schedule gives it: not empty, relative, no `..`, a valid glob.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("a file pattern, found an empty one".into());
    }
    if pattern.starts_with('/') {
        return Err(format!(
            "a pattern relative to the node's data dir, found the absolute `{pattern}`"
        ));
    }
    if Path::new(pattern)
        .components()
        .any(|c| c.as_os_str() == "..")
    {
        return Err(format!(
            "a pattern inside the node's data dir, found `..` in `{pattern}`"
        ));
    }
    glob::Pattern::new(pattern)
        .map(|_| ())
        .map_err(|e| format!("a shell glob (`*`, `?`, `[...]`), found `{pattern}` ({e})"))
}

/// The regular files under `data_dir` matching `pattern` (see the module docs), as paths
/// relative to `data_dir`, sorted.
pub fn matching_files(data_dir: &Path, pattern: &str) -> Result<Vec<PathBuf>, DiskError> {
    let glob = glob::Pattern::new(pattern).map_err(|e| DiskError::Pattern {
        pattern: pattern.to_string(),
        detail: e.to_string(),
    })?;
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let whole_path = pattern.contains('/');
    let mut found = Vec::new();
    let mut pending = vec![(PathBuf::new(), 0usize)];
    while let Some((relative, depth)) = pending.pop() {
        let dir = data_dir.join(&relative);
        let entries =
            std::fs::read_dir(&dir).map_err(io_error(format!("listing {}", dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(io_error(format!("listing {}", dir.display())))?;
            let kind = entry
                .file_type()
                .map_err(io_error(format!("stat {}", entry.path().display())))?;
            let path = relative.join(entry.file_name());
            if kind.is_dir() && depth + 1 < MAX_DEPTH {
                pending.push((path, depth + 1));
            } else if kind.is_file() {
                let subject = if whole_path {
                    path.to_string_lossy().into_owned()
                } else {
                    entry.file_name().to_string_lossy().into_owned()
                };
                if glob.matches_with(&subject, options) {
                    found.push(path);
                    assert!(found.len() <= MAX_FILES, "bounded by MAX_FILES");
                    if found.len() == MAX_FILES {
                        pending.clear();
                        break;
                    }
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Flips bits of the files under `data_dir` that match `corrupt.file` (see the module
/// docs), each file fsynced afterwards.
pub fn corrupt_files(
    data_dir: &Path,
    corrupt: &Corrupt,
    seed: u64,
) -> Result<Vec<FileDamage>, DiskError> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut damage = Vec::new();
    for relative in matching_files(data_dir, &corrupt.file)? {
        let path = data_dir.join(&relative);
        let context = |what: &str| format!("{what} {}", path.display());
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_error(context("opening")))?;
        let size = file.metadata().map_err(io_error(context("stat")))?.len();
        let bits = usize::try_from(size.saturating_mul(8)).unwrap_or(usize::MAX);
        let expected = bits as f64 * corrupt.bitflip.0;
        let extra = usize::from(rng.random::<f64>() < expected.fract());
        let flips = (expected.floor() as usize + extra)
            .min(bits)
            .min(MAX_FLIPS_PER_FILE);
        let mut positions = rand::seq::index::sample(&mut rng, bits.max(1), flips).into_vec();
        positions.sort_unstable();
        for bit in &positions {
            let offset = (*bit / 8) as u64;
            let mut byte = [0u8; 1];
            file.read_exact_at(&mut byte, offset)
                .map_err(io_error(context("reading")))?;
            byte[0] ^= 1 << (bit % 8);
            file.write_all_at(&byte, offset)
                .map_err(io_error(context("writing")))?;
        }
        file.sync_all().map_err(io_error(context("fsync")))?;
        damage.push(FileDamage {
            path: relative.to_string_lossy().into_owned(),
            size_before: size,
            size_after: size,
            bits_flipped: Some(positions.len() as u64),
        });
    }
    Ok(damage)
}

/// Cuts the last `truncate.bytes` bytes off every file under `data_dir` that matches
/// `truncate.file`, each file fsynced afterwards.
pub fn truncate_files(data_dir: &Path, truncate: &Truncate) -> Result<Vec<FileDamage>, DiskError> {
    let mut damage = Vec::new();
    for relative in matching_files(data_dir, &truncate.file)? {
        let path = data_dir.join(&relative);
        let context = |what: &str| format!("{what} {}", path.display());
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io_error(context("opening")))?;
        let size = file.metadata().map_err(io_error(context("stat")))?.len();
        let size_after = size.saturating_sub(truncate.bytes);
        file.set_len(size_after)
            .map_err(io_error(context("truncating")))?;
        file.sync_all().map_err(io_error(context("fsync")))?;
        damage.push(FileDamage {
            path: relative.to_string_lossy().into_owned(),
            size_before: size,
            size_after,
            bits_flipped: None,
        });
    }
    Ok(damage)
}

#[cfg(test)]
mod tests {
    use super::super::Probability;
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("member/wal")).unwrap();
        std::fs::write(dir.path().join("wal.log"), vec![0u8; 1000]).unwrap();
        std::fs::write(dir.path().join("snapshot.bin"), vec![0u8; 10]).unwrap();
        std::fs::write(dir.path().join("member/wal/0001.wal"), vec![0u8; 50]).unwrap();
        dir
    }

    #[test]
    fn patterns_match_names_at_any_depth_or_whole_paths() {
        let dir = tree();
        let names = |p: &str| -> Vec<String> {
            matching_files(dir.path(), p)
                .unwrap()
                .iter()
                .map(|p| p.display().to_string())
                .collect()
        };
        assert_eq!(names("wal*"), ["wal.log"]);
        assert_eq!(names("*.wal"), ["member/wal/0001.wal"]);
        assert_eq!(names("member/wal/*.wal"), ["member/wal/0001.wal"]);
        assert_eq!(names("member/*"), Vec::<String>::new(), "* stops at /");
        assert_eq!(names("*.bin"), ["snapshot.bin"]);
        assert_eq!(names("nothing*"), Vec::<String>::new());
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(check_pattern("wal*").is_ok());
        for bad in ["", "/etc/passwd", "../x", "a/../../b", "[unclosed"] {
            assert!(check_pattern(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn truncation_cuts_the_tail_and_never_below_zero() {
        let dir = tree();
        let cut = Truncate {
            file: "*".into(),
            bytes: 100,
        };
        let damage = truncate_files(dir.path(), &cut).unwrap();
        let sizes: Vec<(String, u64, u64)> = damage
            .iter()
            .map(|d| (d.path.clone(), d.size_before, d.size_after))
            .collect();
        assert_eq!(
            sizes,
            [
                ("member/wal/0001.wal".to_string(), 50, 0),
                ("snapshot.bin".to_string(), 10, 0),
                ("wal.log".to_string(), 1000, 900)
            ]
        );
        assert_eq!(
            std::fs::metadata(dir.path().join("wal.log")).unwrap().len(),
            900
        );
    }

    #[test]
    fn bitflips_are_the_expected_count_and_a_function_of_the_seed() {
        let flip = |seed: u64| {
            let dir = tree();
            let corrupt = Corrupt {
                file: "wal.log".into(),
                bitflip: Probability(0.01),
            };
            let damage = corrupt_files(dir.path(), &corrupt, seed).unwrap();
            (damage, std::fs::read(dir.path().join("wal.log")).unwrap())
        };
        let (damage, bytes) = flip(7);
        // 8000 bits at 1%: exactly 80 flips, each a distinct bit.
        assert_eq!(damage[0].bits_flipped, Some(80));
        let ones: u32 = bytes.iter().map(|b| b.count_ones()).sum();
        assert_eq!(ones, 80);
        assert_eq!(flip(7).1, bytes, "same seed, same flips");
        assert_ne!(flip(8).1, bytes, "another seed, other flips");
    }
}
