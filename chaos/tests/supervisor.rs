//! The local supervisor with ordinary programs (`sh`, `sleep`): kill, restart, pause, resume,
//! logs, process groups, and that a node forked from a short-lived thread survives it.

use std::path::Path;
use std::time::Duration;

use chaos::supervisor::{NodeControl, NodeSpec, NodeState, Supervisor};

/// The state letter of /proc/<pid>/stat (R, S, T, Z...), or None if the process is gone.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the command name, which is in parentheses.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

fn wait_for_state(pid: u32, wanted: Option<char>) -> bool {
    for _ in 0..500 {
        if proc_state(pid) == wanted {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn shell_node(dir: &Path, id: &str, script: &str) -> NodeSpec {
    NodeSpec {
        id: id.to_string(),
        program: "sh".into(),
        args: vec!["-c".into(), script.into()],
        log_path: dir.join("nodes").join(format!("{id}.log")),
        netns: None,
    }
}

#[test]
fn kill_restart_pause_resume_and_logs_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut supervisor = Supervisor::new().unwrap();
    let spec = shell_node(
        dir.path(),
        "n1",
        "echo started; echo oops >&2; exec sleep 30",
    );
    supervisor.start(spec.clone()).unwrap();
    let pid = supervisor.pid("n1").unwrap();
    assert_eq!(supervisor.state("n1").unwrap(), NodeState::Running);
    // Its own process group.
    assert_eq!(
        nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(pid as i32)))
            .unwrap()
            .as_raw(),
        pid as i32
    );

    supervisor.pause("n1").unwrap();
    assert!(
        wait_for_state(pid, Some('T')),
        "paused node is not stopped: {:?}",
        proc_state(pid)
    );
    assert_eq!(supervisor.state("n1").unwrap(), NodeState::Paused);
    supervisor.resume("n1").unwrap();
    assert!(
        wait_for_state(pid, Some('S')),
        "resumed node is not sleeping: {:?}",
        proc_state(pid)
    );

    // Kill while paused: nothing may stay stopped, and the process is reaped (gone, not zombie).
    supervisor.pause("n1").unwrap();
    supervisor.kill("n1").unwrap();
    assert_eq!(proc_state(pid), None);
    assert_eq!(supervisor.state("n1").unwrap(), NodeState::Down);
    assert!(supervisor.pause("n1").is_err());

    supervisor.restart("n1").unwrap();
    let second_pid = supervisor.pid("n1").unwrap();
    assert_ne!(second_pid, pid);
    assert!(
        supervisor.start(spec).is_err(),
        "starting a running node must fail"
    );
    // Let the restarted shell write its lines before checking that the log kept both runs.
    let log_path = dir.path().join("nodes/n1.log");
    let mut log = String::new();
    for _ in 0..500 {
        log = std::fs::read_to_string(&log_path).unwrap();
        if log.matches("oops").count() == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(supervisor);
    assert_eq!(proc_state(second_pid), None, "drop must kill and reap");
    assert_eq!(log.matches("started").count(), 2, "log: {log}");
    assert_eq!(
        log.matches("oops").count(),
        2,
        "stderr goes to the log too: {log}"
    );
}

#[test]
fn kill_reaches_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut supervisor = Supervisor::new().unwrap();
    let pid_file = dir.path().join("grandchild.pid");
    let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
    supervisor
        .start(shell_node(dir.path(), "n1", &script))
        .unwrap();
    let mut grandchild = None;
    for _ in 0..500 {
        if let Ok(text) = std::fs::read_to_string(&pid_file)
            && let Ok(pid) = text.trim().parse::<u32>()
        {
            grandchild = Some(pid);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let grandchild = grandchild.expect("the shell wrote its child's pid");
    supervisor.kill("n1").unwrap();
    // The grandchild is not ours to reap; it dies and is reaped by init (or is a zombie).
    assert!(
        wait_for_state(grandchild, None) || proc_state(grandchild) == Some('Z'),
        "grandchild survived: {:?}",
        proc_state(grandchild)
    );
}

#[test]
fn a_node_that_exits_by_itself_is_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let mut supervisor = Supervisor::new().unwrap();
    supervisor
        .start(shell_node(dir.path(), "n1", "exit 3"))
        .unwrap();
    let mut state = NodeState::Running;
    for _ in 0..500 {
        state = supervisor.state("n1").unwrap();
        if state != NodeState::Running {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(state, NodeState::Exited(Some(3)));
    // It can be started again.
    supervisor.restart("n1").unwrap();
}

#[test]
fn nodes_survive_the_thread_that_asked_for_them() {
    // PR_SET_PDEATHSIG fires when the forking *thread* exits: requests from a short-lived
    // thread must still be forked by the supervisor's own long-lived thread.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let supervisor = std::thread::spawn(move || {
        let mut supervisor = Supervisor::new().unwrap();
        supervisor
            .start(shell_node(&path, "n1", "exec sleep 30"))
            .unwrap();
        supervisor
    })
    .join()
    .unwrap();
    let pid = supervisor.pid("n1").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        proc_state(pid),
        Some('S'),
        "node died with the requesting thread"
    );
    drop(supervisor);
    assert_eq!(proc_state(pid), None);
}

#[test]
fn unknown_program_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut supervisor = Supervisor::new().unwrap();
    let mut spec = shell_node(dir.path(), "n1", "");
    spec.program = "/nonexistent/raft-node".into();
    let error = supervisor.start(spec).unwrap_err().to_string();
    assert!(error.contains("cannot start node \"n1\""), "{error}");
    assert!(error.contains("/nonexistent/raft-node"), "{error}");
}
