//! The Kubernetes manifests in `deploy/kubernetes/` (issue 15 §2), checked two ways:
//!
//! - Against the Kubernetes API schemas with `kubernetes-validate --strict` (PyPI's
//!   `kubernetes-validate`, which ships the schemas, so no network is needed; `.ci/run`
//!   installs it). Found as `$FAULTLINE_KUBERNETES_VALIDATE` or on `PATH`; missing, the test
//!   fails under CI and is skipped with a reason locally.
//! - Parsed here (serde-saphyr) for what a schema cannot know: the Jobs are Indexed, the N
//!   of `--shard $(JOB_COMPLETION_INDEX)/N` equals `completions`, every index's command line
//!   parses as `faultline campaign` and names shard I of N, the schedules it names are the
//!   ones the Dockerfile copies to `/schedules` and load, and the store mount is the claim
//!   of `pvc.yaml` mounted where `--store`/`--summary` point.

use std::path::{Path, PathBuf};
use std::process::Command;

use chaos::cli::{CampaignArgs, Cli, Command as Sub};
use clap::Parser;
use serde_json::Value;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

fn manifest(name: &str) -> Value {
    let path = deploy_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn manifests() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(deploy_dir())
        .expect("deploy/kubernetes")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    names.sort();
    names
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {value}"))
}

fn u64_at(value: &Value, pointer: &str) -> u64 {
    value
        .pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no number at {pointer} in {value}"))
}

/// The campaign's arguments as `faultline` parses them, with the container's `args`.
fn parse_campaign(args: &[String]) -> CampaignArgs {
    let cli = Cli::try_parse_from(std::iter::once("faultline".to_string()).chain(args.to_vec()))
        .unwrap_or_else(|e| panic!("{args:?} does not parse: {e}"));
    match cli.command {
        Sub::Campaign(campaign) => campaign,
        other => panic!("{args:?} is not a campaign: {other:?}"),
    }
}

fn container_args(pod: &Value) -> Vec<String> {
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .expect("containers");
    assert_eq!(containers.len(), 1, "{pod}");
    containers[0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string args").to_string())
        .collect()
}

/// The schedules as the image holds them: `/schedules/X` is `chaos/schedules/X`.
fn check_schedules(campaign: &CampaignArgs) {
    let dockerfile = std::fs::read_to_string(deploy_dir().join("Dockerfile")).unwrap();
    assert!(
        dockerfile
            .lines()
            .any(|l| l.trim() == "COPY chaos/schedules /schedules"),
        "the Dockerfile copies the schedules to /schedules"
    );
    assert!(!campaign.schedules.is_empty());
    for schedule in &campaign.schedules {
        let rel = schedule
            .strip_prefix("/schedules")
            .unwrap_or_else(|_| panic!("{schedule:?} is not under /schedules"));
        let local = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("schedules")
            .join(rel);
        chaos::schedule::load_schedule(&local).unwrap_or_else(|e| panic!("{local:?}: {e}"));
    }
}

/// The pod's store volume: the claim of pvc.yaml, and where it is mounted.
fn store_mount(pod: &Value) -> String {
    let claim = str_at(&manifest("pvc.yaml"), "/metadata/name").to_string();
    let volumes = pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .unwrap();
    let volume = volumes
        .iter()
        .find(|v| {
            v.pointer("/persistentVolumeClaim/claimName") == Some(&Value::from(claim.clone()))
        })
        .unwrap_or_else(|| panic!("no volume of claim {claim}: {pod}"));
    let name = str_at(volume, "/name");
    let mounts = pod
        .pointer("/spec/containers/0/volumeMounts")
        .and_then(Value::as_array)
        .unwrap();
    let mount = mounts
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("volume {name} is not mounted: {pod}"));
    str_at(mount, "/mountPath").to_string()
}

/// An Indexed Job spec: every index's command line is shard I of `completions`.
fn check_indexed_job(spec: &Value, what: &str) {
    assert_eq!(str_at(spec, "/completionMode"), "Indexed", "{what}");
    let completions = u64_at(spec, "/completions");
    assert!(u64_at(spec, "/parallelism") <= completions, "{what}");
    let pod = &spec["template"];
    assert_eq!(str_at(pod, "/spec/restartPolicy"), "Never", "{what}");
    let args = container_args(pod);
    let shard = format!("$(JOB_COMPLETION_INDEX)/{completions}");
    assert!(args.contains(&shard), "{what}: args {args:?} lack {shard}");
    let mount = store_mount(pod);
    for index in 0..completions {
        let expanded: Vec<String> = args
            .iter()
            .map(|a| a.replace("$(JOB_COMPLETION_INDEX)", &index.to_string()))
            .collect();
        let campaign = parse_campaign(&expanded);
        let parsed = campaign.shard.expect("a shard");
        assert_eq!((parsed.index, parsed.count), (index, completions), "{what}");
        assert_eq!(
            campaign.store,
            Path::new(&mount),
            "{what}: --store is the mount"
        );
        check_schedules(&campaign);
    }
}

#[test]
fn the_campaign_job_is_indexed_and_each_index_is_one_shard() {
    let job = manifest("campaign-job.yaml");
    assert_eq!(str_at(&job, "/kind"), "Job");
    check_indexed_job(&job["spec"], "campaign-job.yaml");
}

#[test]
fn the_nightly_cronjob_runs_the_same_indexed_job() {
    let cron = manifest("cronjob.yaml");
    assert_eq!(str_at(&cron, "/kind"), "CronJob");
    assert_eq!(str_at(&cron, "/spec/concurrencyPolicy"), "Forbid");
    assert_eq!(
        str_at(&cron, "/spec/schedule").split_whitespace().count(),
        5
    );
    check_indexed_job(&cron["spec"]["jobTemplate"]["spec"], "cronjob.yaml");
}

#[test]
fn the_summary_job_reads_the_campaigns_store() {
    let job = manifest("summary-job.yaml");
    let pod = &job["spec"]["template"];
    let summary = parse_campaign(&container_args(pod));
    assert_eq!(
        summary.summary.as_deref(),
        Some(Path::new(&store_mount(pod)))
    );
    check_schedules(&summary);
    // The summary covers the pairs the campaign Job runs.
    let campaign_args = container_args(&manifest("campaign-job.yaml")["spec"]["template"]);
    let campaign = parse_campaign(
        &campaign_args
            .iter()
            .map(|a| a.replace("$(JOB_COMPLETION_INDEX)", "0"))
            .collect::<Vec<_>>(),
    );
    assert_eq!(summary.schedules, campaign.schedules);
    assert_eq!(summary.seeds, campaign.seeds);
}

#[test]
fn the_manifests_pass_the_kubernetes_schemas() {
    let tool = std::env::var_os("FAULTLINE_KUBERNETES_VALIDATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("kubernetes-validate"));
    let mut command = Command::new(&tool);
    command.arg("--strict").current_dir(deploy_dir());
    command.args(manifests());
    let out = match command.output() {
        Ok(out) => out,
        Err(e) => {
            let reason = format!("{tool:?} cannot run ({e}): pip install kubernetes-validate");
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{reason}");
            eprintln!("skipped: {reason}");
            return;
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert_eq!(
        text.matches(" passed for resource ").count(),
        manifests().len(),
        "{text}"
    );
}
