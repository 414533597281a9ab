//! `faultline plan` as a user runs it: the timeline of every shipped schedule
//! (`chaos/schedules/*.yaml`, and the clock bug's) pinned line for line in
//! `tests/plan_expected/<name>.txt`, a bad file refused with exit 65 and its
//! `file:line:column`, and a seedless file refused without `--seed` (exit 64).
//!
//! After a deliberate change to the plan or its wording, regenerate the expected files with
//! `FAULTLINE_BLESS_PLANS=1 cargo test -p chaos --test plan_cli` and review the diff.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("chaos sits in the workspace")
        .to_path_buf()
}

/// `faultline plan ARGS...`, run from the workspace root (so paths print as a user types
/// them there).
fn plan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("plan")
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("running faultline plan")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The shipped schedules whose plans are pinned, relative to the workspace root, with the
/// seed given on the command line (`None`: the file's own).
fn pinned() -> Vec<(String, Option<u64>)> {
    let mut files: Vec<(String, Option<u64>)> =
        std::fs::read_dir(workspace_root().join("chaos/schedules"))
            .expect("chaos/schedules")
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
            .map(|path| {
                let name = path
                    .file_name()
                    .expect("a file")
                    .to_string_lossy()
                    .into_owned();
                // nightly.yaml has no seed of its own: a campaign gives each run one.
                let seed = (name == "nightly.yaml").then_some(7);
                (format!("chaos/schedules/{name}"), seed)
            })
            .collect();
    files.push((
        "chaos/schedules/bugs/wall-clock-lease.yaml".to_string(),
        None,
    ));
    files.sort();
    files
}

#[test]
fn the_shipped_schedules_plans_are_pinned() {
    let bless = std::env::var_os("FAULTLINE_BLESS_PLANS").is_some();
    let expected_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plan_expected");
    let files = pinned();
    assert!(files.len() >= 10, "the shipped schedules: {files:?}");
    let mut mismatches = Vec::new();
    for (file, seed) in &files {
        let seed_arg = seed.map(|s| s.to_string());
        let mut args = vec![file.as_str()];
        if let Some(seed) = &seed_arg {
            args.extend(["--seed", seed.as_str()]);
        }
        let output = plan(&args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{file}: {}",
            text(&output.stderr)
        );
        let stdout = text(&output.stdout);
        let stem = Path::new(file)
            .file_stem()
            .expect("a name")
            .to_string_lossy();
        let expected_path = expected_dir.join(format!("{stem}.txt"));
        if bless {
            std::fs::create_dir_all(&expected_dir).expect("the expected dir");
            std::fs::write(&expected_path, &stdout).expect("writing the expected plan");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (FAULTLINE_BLESS_PLANS=1 writes it)",
                expected_path.display()
            )
        });
        if stdout != expected {
            mismatches.push(format!(
                "{file}:\n--- expected\n{expected}--- got\n{stdout}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn a_plan_names_every_fault_with_its_window_and_leaves_the_leader_open() {
    let output = plan(&["chaos/schedules/bugs/wall-clock-lease.yaml", "--seed", "9"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with(
            "schedule wall-clock-lease (chaos/schedules/bugs/wall-clock-lease.yaml), seed 9\n"
        ),
        "{stdout}"
    );
    // Two bumps and two leader partitions, in start order, with their schedule lines.
    let faults: Vec<&str> = stdout.lines().filter(|l| l.starts_with("  #")).collect();
    assert_eq!(faults.len(), 4, "{stdout}");
    assert!(
        faults[0].contains("1s .. 3s")
            && faults[0].contains("clock leader (resolved at start) { bump: 3s }"),
        "{}",
        faults[0]
    );
    assert!(
        faults[1].contains("3s .. 5s")
            && faults[1].contains("isolate the leader (resolved at start)"),
        "{}",
        faults[1]
    );
    assert!(faults[2].contains("6s .. 8s"), "{}", faults[2]);
    assert!(faults[3].contains("8s .. 10s"), "{}", faults[3]);
    // A seed draws random targets: the same seed, the same plan; another seed, another.
    let random = "chaos/schedules/pause.yaml";
    let once = text(&plan(&[random, "--seed", "1"]).stdout);
    assert_eq!(once, text(&plan(&[random, "--seed", "1"]).stdout));
    let seeds: std::collections::BTreeSet<String> = (1..6)
        .map(|seed| text(&plan(&[random, "--seed", &seed.to_string()]).stdout))
        .collect();
    assert!(seeds.len() > 1, "the seed changes nothing: {once}");
}

#[test]
fn a_bad_schedule_is_refused_with_its_position_and_nothing_is_printed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "name: t\nseed: 1\nsystem: { kind: raft, nodes: 3 }\nduration: 10s\nworkload: { kind: register }\nnemesis:\n  - at: 1s\n    clock: { bump: 5s }\n    for: 1s\n",
    )
    .unwrap();
    let output = plan(&[file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(65), "{}", text(&output.stderr));
    assert!(output.stdout.is_empty(), "{}", text(&output.stdout));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:8:12: expected `target` with `clock`",
            file.display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_seedless_schedule_needs_a_seed() {
    let output = plan(&["chaos/schedules/nightly.yaml"]);
    assert_eq!(output.status.code(), Some(64), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("give --seed N"),
        "{}",
        text(&output.stderr)
    );
}
