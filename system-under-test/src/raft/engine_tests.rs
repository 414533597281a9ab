//! Unit tests of the engine without sockets or disks, each named after the Raft paper
//! (or thesis) section whose rule it checks. Messages are carried by hand.

use serde_json::json;

use super::engine::{Action, Engine, EngineConfig, InitialState, Input, Role};
use super::types::{Entry, HardState, Message, Payload};
use crate::bug::Bug;
use crate::state_machine::Command;

const IDS: [&str; 3] = ["n1", "n2", "n3"];

pub(crate) fn config(id: &str, bug: Option<Bug>) -> EngineConfig {
    EngineConfig {
        id: id.into(),
        peers: IDS
            .iter()
            .filter(|p| **p != id)
            .map(|p| p.to_string())
            .collect(),
        election_timeout_min_ms: 150,
        election_timeout_max_ms: 300,
        heartbeat_ms: 50,
        max_entries_per_message: 100,
        max_inflight_messages: 8,
        log_retain_entries: 0,
        bug,
        seed: 1,
    }
}

pub(crate) fn entries(terms: &[u64]) -> Vec<Entry> {
    terms
        .iter()
        .enumerate()
        .map(|(i, &term)| Entry {
            term,
            index: i as u64 + 1,
            payload: Payload::Noop,
        })
        .collect()
}

fn engine(id: &str, term: u64, log_terms: &[u64], bug: Option<Bug>) -> Engine {
    let initial = InitialState {
        hard_state: HardState {
            term,
            voted_for: None,
        },
        entries: entries(log_terms),
        ..InitialState::default()
    };
    Engine::new(config(id, bug), initial, 0)
}

fn sends(actions: &[Action]) -> Vec<(String, Message, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send {
                to,
                message,
                after_persist,
            } => Some((to.clone(), message.clone(), *after_persist)),
            _ => None,
        })
        .collect()
}

fn write(value: u64) -> Command {
    Command::Write {
        key: "k".into(),
        value: json!(value),
        request: None,
    }
}

/// Makes `n1` leader of `term + 1` by hand and returns it (votes from n2).
fn elected_leader(term: u64, log_terms: &[u64], bug: Option<Bug>) -> Engine {
    let mut leader = engine("n1", term, log_terms, bug);
    leader.step(Input::Tick { now_ms: 1000 });
    let pre_votes = sends(&leader.drain_actions());
    assert!(matches!(pre_votes[0].1, Message::PreVote { .. }));
    leader.step(Input::Receive {
        from: "n2".into(),
        message: Message::PreVoteResponse {
            term: term + 1,
            granted: true,
        },
    });
    leader.drain_actions();
    leader.step(Input::Receive {
        from: "n2".into(),
        message: Message::RequestVoteResponse {
            term: term + 1,
            granted: true,
        },
    });
    assert_eq!(leader.role(), Role::Leader);
    leader.drain_actions();
    leader
}

fn append_ok(term: u64, match_index: u64, read_seq: u64) -> Message {
    Message::AppendEntriesResponse {
        term,
        success: true,
        match_index,
        prev_log_index: 0,
        conflict_index: 0,
        conflict_term: None,
        read_seq,
    }
}

#[test]
fn election_5_2_timeout_starts_pre_vote_without_raising_term() {
    let mut node = engine("n1", 3, &[], None);
    node.step(Input::Tick { now_ms: 1000 });
    assert_eq!(node.term(), 3, "PreVote must not bump the term");
    let sent = sends(&node.drain_actions());
    assert_eq!(sent.len(), 2);
    assert!(
        sent.iter()
            .all(|(_, m, _)| matches!(m, Message::PreVote { term: 4, .. }))
    );
}

#[test]
fn election_5_2_majority_of_votes_makes_leader_with_noop_9_6() {
    let leader = elected_leader(3, &[1], None);
    assert_eq!(leader.term(), 4);
    assert_eq!(leader.hard_state().voted_for.as_deref(), Some("n1"));
    assert_eq!(
        leader.last_log_index(),
        2,
        "a no-op is appended on election"
    );
    assert_eq!(leader.term_at(2), Some(4));
}

#[test]
fn election_5_2_vote_is_persisted_before_the_reply_leaves() {
    let mut node = engine("n2", 1, &[], None);
    node.step(Input::Receive {
        from: "n1".into(),
        message: Message::RequestVote {
            term: 2,
            last_log_index: 0,
            last_log_term: 0,
        },
    });
    let actions = node.drain_actions();
    let persist = actions
        .iter()
        .position(
            |a| matches!(a, Action::PersistHardState(h) if h.voted_for.as_deref() == Some("n1")),
        )
        .expect("vote persisted");
    let reply = actions
        .iter()
        .position(|a| {
            matches!(
                a,
                Action::Send {
                    message: Message::RequestVoteResponse { granted: true, .. },
                    after_persist: true,
                    ..
                }
            )
        })
        .expect("vote granted after persistence");
    assert!(persist < reply);
}

#[test]
fn election_5_2_one_vote_per_term() {
    let mut node = engine("n3", 1, &[], None);
    for (candidate, expect) in [("n1", true), ("n2", false)] {
        node.step(Input::Receive {
            from: candidate.into(),
            message: Message::RequestVote {
                term: 2,
                last_log_index: 0,
                last_log_term: 0,
            },
        });
        let sent = sends(&node.drain_actions());
        assert!(
            matches!(sent[0].1, Message::RequestVoteResponse { granted, .. } if granted == expect)
        );
    }
}

#[test]
fn election_restriction_5_4_1_refuses_a_less_up_to_date_log() {
    for (last_index, last_term, granted) in
        [(5, 1, false), (1, 2, false), (2, 2, true), (1, 3, true)]
    {
        let mut node = engine("n2", 2, &[1, 2], None);
        node.step(Input::Receive {
            from: "n1".into(),
            message: Message::RequestVote {
                term: 3,
                last_log_index: last_index,
                last_log_term: last_term,
            },
        });
        let sent = sends(&node.drain_actions());
        assert!(
            matches!(sent[0].1, Message::RequestVoteResponse { granted: g, .. } if g == granted),
            "candidate ({last_index}, {last_term}) granted should be {granted}"
        );
    }
}

#[test]
fn election_restriction_5_4_1_is_skipped_by_the_planted_bug() {
    let mut node = engine("n2", 2, &[1, 2], Some(Bug::VoteWithoutLogCheck));
    node.step(Input::Receive {
        from: "n1".into(),
        message: Message::RequestVote {
            term: 3,
            last_log_index: 0,
            last_log_term: 0,
        },
    });
    let sent = sends(&node.drain_actions());
    assert!(matches!(
        sent[0].1,
        Message::RequestVoteResponse { granted: true, .. }
    ));
}

#[test]
fn pre_vote_9_6_follower_with_live_leader_ignores_votes_and_keeps_term() {
    let mut node = engine("n2", 2, &[], None);
    node.step(Input::Tick { now_ms: 10 });
    node.step(Input::Receive {
        from: "n1".into(),
        message: Message::AppendEntries {
            term: 2,
            prev_log_index: 0,
            prev_log_term: 0,
            entries: vec![],
            leader_commit: 0,
            read_seq: 0,
        },
    });
    node.drain_actions();
    node.step(Input::Receive {
        from: "n3".into(),
        message: Message::RequestVote {
            term: 9,
            last_log_index: 10,
            last_log_term: 8,
        },
    });
    assert_eq!(
        node.term(),
        2,
        "a disruptive candidate must not raise our term"
    );
    assert!(sends(&node.drain_actions()).is_empty());
    node.step(Input::Receive {
        from: "n3".into(),
        message: Message::PreVote {
            term: 3,
            last_log_index: 10,
            last_log_term: 8,
        },
    });
    let sent = sends(&node.drain_actions());
    assert!(matches!(
        sent[0].1,
        Message::PreVoteResponse { granted: false, .. }
    ));
}

#[test]
fn log_matching_5_3_refuses_mismatched_prev_with_conflict_term_hint() {
    let mut node = engine("n2", 3, &[1, 2, 2, 2], None);
    node.step(Input::Receive {
        from: "n1".into(),
        message: Message::AppendEntries {
            term: 3,
            prev_log_index: 4,
            prev_log_term: 3,
            entries: vec![],
            leader_commit: 0,
            read_seq: 0,
        },
    });
    let sent = sends(&node.drain_actions());
    match &sent[0].1 {
        Message::AppendEntriesResponse {
            success,
            conflict_index,
            conflict_term,
            ..
        } => {
            assert!(!success);
            assert_eq!((*conflict_index, *conflict_term), (2, Some(2)));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn log_matching_5_3_truncates_conflicting_suffix_and_appends() {
    let mut node = engine("n2", 3, &[1, 2, 2], None);
    let new_entries = vec![Entry {
        term: 3,
        index: 2,
        payload: Payload::Noop,
    }];
    node.step(Input::Receive {
        from: "n1".into(),
        message: Message::AppendEntries {
            term: 3,
            prev_log_index: 1,
            prev_log_term: 1,
            entries: new_entries.clone(),
            leader_commit: 2,
            read_seq: 0,
        },
    });
    assert_eq!(node.last_log_index(), 2);
    assert_eq!(node.term_at(2), Some(3));
    assert_eq!(node.commit_index(), 2);
    let actions = node.drain_actions();
    assert!(actions.contains(&Action::AppendLog {
        entries: new_entries
    }));
    let ack = actions.iter().any(|a| {
        matches!(
            a,
            Action::Send {
                message: Message::AppendEntriesResponse {
                    success: true,
                    match_index: 2,
                    ..
                },
                after_persist: true,
                ..
            }
        )
    });
    assert!(ack, "acknowledged only after persistence: {actions:?}");
}

#[test]
fn skip_prev_check_bug_accepts_mismatched_prev() {
    let mut node = engine("n2", 3, &[1, 2, 2, 2], Some(Bug::SkipPrevCheck));
    node.step(Input::Receive {
        from: "n1".into(),
        message: Message::AppendEntries {
            term: 3,
            prev_log_index: 4,
            prev_log_term: 3,
            entries: vec![],
            leader_commit: 0,
            read_seq: 0,
        },
    });
    let sent = sends(&node.drain_actions());
    assert!(matches!(
        sent[0].1,
        Message::AppendEntriesResponse { success: true, .. }
    ));
}

#[test]
fn log_replication_5_3_leader_backs_off_by_conflicting_term() {
    // Leader log terms [1,1,1,4,4]; after election its no-op is at 6 (term 5).
    let mut leader = elected_leader(4, &[1, 1, 1, 4, 4], None);
    leader.step(Input::Receive {
        from: "n2".into(),
        message: Message::AppendEntriesResponse {
            term: 5,
            success: false,
            match_index: 0,
            prev_log_index: 5,
            conflict_index: 2,
            conflict_term: Some(2),
            read_seq: 0,
        },
    });
    let sent = sends(&leader.drain_actions());
    // The leader has no term-2 entry, so it jumps to the follower's conflict index.
    assert!(
        sent.iter().any(|(to, m, after)| to == "n2"
            && !after
            && matches!(
                m,
                Message::AppendEntries {
                    prev_log_index: 1,
                    ..
                }
            )),
        "{sent:?}"
    );
}

#[test]
fn commitment_5_4_2_leader_counts_itself_only_after_its_own_fsync() {
    let mut leader = elected_leader(1, &[], None);
    leader.step(Input::Receive {
        from: "n2".into(),
        message: append_ok(2, 1, 0),
    });
    assert_eq!(
        leader.commit_index(),
        0,
        "one follower alone is no majority"
    );
    leader.step(Input::LogPersisted { index: 1, term: 2 });
    assert_eq!(leader.commit_index(), 1);
    let applied = leader.drain_actions();
    assert!(
        applied
            .iter()
            .any(|a| matches!(a, Action::Apply { entries } if entries.len() == 1))
    );
}

#[test]
fn ack_before_write_bug_counts_the_leader_before_fsync() {
    let mut leader = elected_leader(1, &[], Some(Bug::AckBeforeWrite));
    leader.step(Input::Receive {
        from: "n2".into(),
        message: append_ok(2, 1, 0),
    });
    assert_eq!(leader.commit_index(), 1);
}

#[test]
fn commitment_5_4_2_old_term_entries_commit_only_with_a_current_term_entry() {
    // Figure 8: an entry of term 2 replicated on a majority must not commit by counting.
    let mut leader = elected_leader(3, &[1, 2], None);
    leader.step(Input::LogPersisted { index: 2, term: 2 });
    leader.step(Input::Receive {
        from: "n2".into(),
        message: append_ok(4, 2, 0),
    });
    assert_eq!(leader.commit_index(), 0);
    leader.step(Input::LogPersisted { index: 3, term: 4 });
    leader.step(Input::Receive {
        from: "n2".into(),
        message: append_ok(4, 3, 0),
    });
    assert_eq!(
        leader.commit_index(),
        3,
        "the current-term no-op commits everything before it"
    );

    let mut buggy = elected_leader(3, &[1, 2], Some(Bug::CommitOldTerm));
    assert_eq!(
        buggy.last_log_index(),
        2,
        "the planted bug appends no term-start no-op"
    );
    buggy.step(Input::LogPersisted { index: 2, term: 2 });
    buggy.step(Input::Receive {
        from: "n2".into(),
        message: append_ok(4, 2, 0),
    });
    assert_eq!(
        buggy.commit_index(),
        2,
        "the planted bug commits by counting old-term replicas"
    );
}

#[test]
fn check_quorum_leader_without_a_majority_steps_down() {
    let mut leader = elected_leader(1, &[], None);
    let mut lost = false;
    for now_ms in (1000..3000).step_by(50) {
        leader.step(Input::Tick { now_ms });
        lost |= leader
            .drain_actions()
            .iter()
            .any(|a| matches!(a, Action::LeadershipLost { .. }));
    }
    assert_ne!(leader.role(), Role::Leader);
    assert!(lost);
}

#[test]
fn check_quorum_leader_hearing_from_a_majority_stays() {
    let mut leader = elected_leader(1, &[], None);
    for now_ms in (1000..3000).step_by(50) {
        leader.step(Input::Tick { now_ms });
        leader.step(Input::Receive {
            from: "n3".into(),
            message: append_ok(2, 0, 0),
        });
        leader.drain_actions();
    }
    assert_eq!(leader.role(), Role::Leader);
}

fn read_ready(actions: &[Action], token: u64) -> Option<u64> {
    actions.iter().find_map(|a| match a {
        Action::ReadReady { token: t, index } if *t == token => Some(*index),
        _ => None,
    })
}

#[test]
fn read_index_6_4_waits_for_a_heartbeat_round_from_a_majority() {
    let mut leader = elected_leader(1, &[], None);
    leader.step(Input::Read { token: 7 });
    assert_eq!(
        read_ready(&leader.drain_actions(), 7),
        None,
        "no commit in this term yet"
    );
    leader.step(Input::LogPersisted { index: 1, term: 2 });
    leader.step(Input::Receive {
        from: "n2".into(),
        message: append_ok(2, 1, 0),
    });
    let actions = leader.drain_actions();
    assert_eq!(
        read_ready(&actions, 7),
        None,
        "the round has not been confirmed"
    );
    let round = sends(&actions)
        .iter()
        .find_map(|(_, m, _)| match m {
            Message::AppendEntries { read_seq, .. } if *read_seq > 0 => Some(*read_seq),
            _ => None,
        })
        .expect("a heartbeat round carries the read");
    leader.step(Input::Receive {
        from: "n3".into(),
        message: append_ok(2, 1, round),
    });
    assert_eq!(read_ready(&leader.drain_actions(), 7), Some(1));
}

#[test]
fn stale_read_bug_answers_without_confirmation() {
    let mut leader = elected_leader(1, &[], Some(Bug::StaleRead));
    leader.step(Input::Read { token: 7 });
    assert!(read_ready(&leader.drain_actions(), 7).is_some());
}

/// The planted stale-read leader trusts an unchecked lease: cut off from everyone, it
/// stays leader (no CheckQuorum) and keeps answering reads, until it sees a higher term.
#[test]
fn stale_read_bug_isolated_leader_keeps_serving_until_it_sees_a_higher_term() {
    let mut leader = elected_leader(1, &[], Some(Bug::StaleRead));
    for now_ms in (1000..5000).step_by(50) {
        leader.step(Input::Tick { now_ms });
        assert!(
            !leader
                .drain_actions()
                .iter()
                .any(|a| matches!(a, Action::LeadershipLost { .. }))
        );
    }
    assert_eq!(leader.role(), Role::Leader);
    leader.step(Input::Read { token: 9 });
    assert_eq!(read_ready(&leader.drain_actions(), 9), Some(0));
    leader.step(Input::Receive {
        from: "n2".into(),
        message: append_ok(5, 0, 0),
    });
    assert_eq!(leader.role(), Role::Follower);
    leader.step(Input::Read { token: 10 });
    assert!(leader.drain_actions().contains(&Action::ReadRefused {
        token: 10,
        leader: None
    }));
}

#[test]
fn followers_refuse_proposals_and_reads_naming_the_leader() {
    let mut node = engine("n2", 2, &[], None);
    node.step(Input::Receive {
        from: "n1".into(),
        message: Message::AppendEntries {
            term: 2,
            prev_log_index: 0,
            prev_log_term: 0,
            entries: vec![],
            leader_commit: 0,
            read_seq: 0,
        },
    });
    node.step(Input::Propose {
        token: 1,
        command: write(1),
    });
    node.step(Input::Read { token: 2 });
    let actions = node.drain_actions();
    let leader = Some("n1".to_string());
    assert!(actions.contains(&Action::ProposalRefused {
        token: 1,
        leader: leader.clone()
    }));
    assert!(actions.contains(&Action::ReadRefused { token: 2, leader }));
}

#[test]
fn pipelining_proposals_in_one_batch_travel_in_one_append() {
    let mut leader = elected_leader(1, &[], None);
    leader.step(Input::Receive {
        from: "n2".into(),
        message: append_ok(2, 1, 0),
    });
    leader.drain_actions();
    for token in 0..5 {
        leader.step(Input::Propose {
            token,
            command: write(token),
        });
    }
    let actions = leader.drain_actions();
    let to_n2: Vec<_> = sends(&actions)
        .into_iter()
        .filter(|(to, _, _)| to == "n2")
        .collect();
    assert_eq!(to_n2.len(), 1, "{to_n2:?}");
    assert!(matches!(&to_n2[0].1, Message::AppendEntries { entries, .. } if entries.len() == 5));
    assert!(
        !to_n2[0].2,
        "leader replication does not wait for its own fsync"
    );
}

#[test]
fn snapshot_7_follower_behind_the_compacted_log_gets_install_snapshot() {
    let mut leader = elected_leader(1, &[1, 1, 1], None);
    leader.step(Input::LogPersisted { index: 4, term: 2 });
    leader.step(Input::Receive {
        from: "n2".into(),
        message: append_ok(2, 4, 0),
    });
    assert_eq!(leader.commit_index(), 4);
    leader.step(Input::SnapshotPersisted {
        meta: super::types::SnapshotMeta { index: 4, term: 2 },
    });
    let actions = leader.drain_actions();
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::CompactLog { offset: 4, .. }))
    );
    // n3 refuses: it has nothing, so the leader must fall back to a snapshot.
    leader.step(Input::Receive {
        from: "n3".into(),
        message: Message::AppendEntriesResponse {
            term: 2,
            success: false,
            match_index: 0,
            prev_log_index: 4,
            conflict_index: 1,
            conflict_term: None,
            read_seq: 0,
        },
    });
    let actions = leader.drain_actions();
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::SendSnapshot { to, .. } if to == "n3")),
        "{actions:?}"
    );
}

#[test]
fn snapshot_7_follower_installs_snapshot_and_resets_its_log() {
    let mut node = engine("n3", 2, &[1], None);
    node.step(Input::Receive {
        from: "n1".into(),
        message: Message::InstallSnapshot {
            term: 2,
            meta: super::types::SnapshotMeta { index: 10, term: 2 },
            data: "{}".into(),
            read_seq: 0,
        },
    });
    assert_eq!(node.commit_index(), 10);
    assert_eq!(node.last_log_index(), 10);
    let actions = node.drain_actions();
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::InstallSnapshot { .. }))
    );
}

/// A delayed (or duplicated) InstallSnapshot that arrives after the follower already
/// acknowledged entries beyond the snapshot must not wipe them: the leader counts them.
#[test]
fn snapshot_7_delayed_install_snapshot_keeps_acknowledged_entries_after_it() {
    let mut node = engine("n3", 2, &[], None);
    node.step(Input::Receive {
        from: "n1".into(),
        message: Message::AppendEntries {
            term: 2,
            prev_log_index: 0,
            prev_log_term: 0,
            entries: entries(&[2, 2, 2, 2, 2]),
            leader_commit: 0,
            read_seq: 0,
        },
    });
    let acked = sends(&node.drain_actions());
    assert!(matches!(
        acked[0].1,
        Message::AppendEntriesResponse {
            success: true,
            match_index: 5,
            ..
        }
    ));
    node.step(Input::Receive {
        from: "n1".into(),
        message: Message::InstallSnapshot {
            term: 2,
            meta: super::types::SnapshotMeta { index: 3, term: 2 },
            data: "{}".into(),
            read_seq: 0,
        },
    });
    assert_eq!(
        node.last_log_index(),
        5,
        "acknowledged entries were dropped"
    );
    assert_eq!(node.commit_index(), 3);
    let actions = node.drain_actions();
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::InstallSnapshot { .. })),
        "{actions:?}"
    );
    let applied: Vec<u64> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Apply { entries } => Some(entries.iter().map(|e| e.index)),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(applied, vec![1, 2, 3]);
    assert!(
        sends(&actions)
            .iter()
            .any(|(_, m, after_persist)| *after_persist
                && matches!(m, Message::InstallSnapshotResponse { match_index: 3, .. }))
    );
}

/// An AppendEntries from `from` in `term` carrying `entries` after (`prev`, `prev_term`).
fn append(term: u64, prev: u64, prev_term: u64, entries: Vec<Entry>, commit: u64) -> Message {
    Message::AppendEntries {
        term,
        prev_log_index: prev,
        prev_log_term: prev_term,
        entries,
        leader_commit: commit,
        read_seq: 0,
    }
}

fn noop_entry(term: u64, index: u64) -> Entry {
    Entry {
        term,
        index,
        payload: Payload::Noop,
    }
}

/// A follower n2 with log terms [1, 1], both committed by n1 in term 1.
fn follower_with_two_committed(bug: Option<Bug>) -> Engine {
    let mut node = engine("n2", 1, &[1, 1], bug);
    node.step(Input::Receive {
        from: "n1".into(),
        message: append(1, 2, 1, vec![], 2),
    });
    assert_eq!(node.commit_index(), 2);
    node.drain_actions();
    node
}

/// State Machine Safety (section 5.4.3) as the engine's own assertion: a correct leader
/// never sends an entry that conflicts with a committed one (Leader Completeness), so a
/// follower asked to cut a committed entry stops instead of obeying: no action leaves,
/// and every later input is ignored.
#[test]
fn state_machine_safety_5_4_a_follower_asked_to_cut_a_committed_entry_stops() {
    let mut node = follower_with_two_committed(None);
    node.step(Input::Receive {
        from: "n3".into(),
        message: append(2, 1, 1, vec![noop_entry(2, 2)], 2),
    });
    let violation = node.violation().expect("the engine stopped").to_string();
    assert!(
        violation.contains("leader overwrites a committed entry") && violation.contains("n2"),
        "{violation}"
    );
    assert!(node.drain_actions().is_empty(), "nothing may leave");
    assert_eq!(node.term_at(2), Some(1), "the committed entry is kept");
    node.step(Input::Tick { now_ms: 10_000 });
    assert!(
        node.drain_actions().is_empty(),
        "a stopped engine ignores inputs"
    );
    assert_eq!(node.role(), Role::Follower);
}

/// With a planted bug on, the same impossible request is obeyed (the bugs exist to break
/// these rules, and faultline must see the damage from outside).
#[test]
fn with_a_planted_bug_the_invariant_checks_log_and_carry_on() {
    let mut node = follower_with_two_committed(Some(Bug::VoteWithoutLogCheck));
    node.step(Input::Receive {
        from: "n3".into(),
        message: append(2, 1, 1, vec![noop_entry(2, 2)], 2),
    });
    assert!(node.violation().is_none());
    assert_eq!(
        node.term_at(2),
        Some(2),
        "the committed entry was overwritten"
    );
    let actions = node.drain_actions();
    assert!(
        actions.contains(&Action::AppendLog {
            entries: vec![noop_entry(2, 2)]
        }),
        "{actions:?}"
    );
}

/// Election Safety (section 5.2): a leader that hears AppendEntries (or InstallSnapshot)
/// of its own term from another node has met a second leader of its term, and stops.
#[test]
fn election_safety_5_2_a_leader_hearing_another_leader_of_its_term_stops() {
    let mut leader = elected_leader(1, &[1], None);
    assert_eq!(leader.term(), 2);
    leader.step(Input::Receive {
        from: "n3".into(),
        message: append(2, 1, 1, vec![], 0),
    });
    let violation = leader.violation().expect("stopped").to_string();
    assert!(
        violation.contains("second leader in the same term"),
        "{violation}"
    );
    assert!(leader.drain_actions().is_empty());
}

/// The cheap checks also run on what a node recovers: a log entry of a term above the
/// current term can only come from a corrupt or hand-edited disk, and the node must not
/// start on it.
#[test]
fn a_recovered_log_entry_above_the_current_term_stops_the_engine() {
    let node = engine("n1", 1, &[1, 3], None);
    let violation = node.violation().expect("stopped at start").to_string();
    assert!(
        violation.contains("term 3, above the current term 1"),
        "{violation}"
    );
    // A consistent disk starts normally.
    assert!(engine("n1", 3, &[1, 3], None).violation().is_none());
}
