//! The bank with `--replicated-coordinator` on real processes: three `raft-node` decision
//! store nodes, several coordinators, three participants. kill -9 of a coordinator holding
//! prepared, undecided transactions (the others resolve them, without a restart), and
//! kill -9 of the decision store's Raft leader (transfers resume after the election). In
//! both, money is conserved in every read and the final balances are exactly the initial
//! ones plus the committed transfers. And a retry at another coordinator gets the stored
//! outcome without running the transfer again.

mod bank_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bank_support::{
    Attempt, Bank, BankClient, BankConfig, Outcome, assert_final_balances, check_read, count,
    read_eventually, read_until, run_transfers_through, settle_unknown, strings,
};
use serde_json::json;

/// A liveness bound for the tests' waits (not a speed assertion: the numbers are printed).
const LIVENESS: Duration = Duration::from_secs(20);

fn shard_of(bank: &Bank, account: &str) -> usize {
    account[1..].parse::<usize>().unwrap() % bank.config.participants
}

/// Transfers `amount` from `from` to `to` under fresh ids `{prefix}-{n}` until one
/// commits (accounts may still be locked for a moment); every attempt is recorded.
async fn transfer_until_ok(
    client: &BankClient,
    prefix: &str,
    (from, to, amount): (&str, &str, i64),
    attempts: &mut Vec<Attempt>,
) {
    for n in 0..200 {
        let txn = format!("{prefix}-{n}");
        let outcome = client.transfer(&txn, from, to, amount).await;
        let ok = outcome == Outcome::Ok;
        attempts.push(Attempt {
            txn,
            from: from.into(),
            to: to.into(),
            amount,
            outcome,
        });
        if ok {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no transfer {from} -> {to} committed in 200 attempts: {attempts:?}");
}

/// Starts one checking reader per coordinator (each falls over to the others).
fn start_readers(bank: &Bank, stop: &Arc<AtomicBool>) -> Vec<tokio::task::JoinHandle<usize>> {
    (0..bank.coordinator_ids.len())
        .map(|i| {
            tokio::spawn(read_until(
                bank.client_from(i),
                bank.config.accounts,
                bank.total(),
                stop.clone(),
            ))
        })
        .collect()
}

async fn stop_readers(stop: &AtomicBool, readers: Vec<tokio::task::JoinHandle<usize>>) -> usize {
    stop.store(true, Ordering::Relaxed);
    let mut reads = 0;
    for reader in readers {
        reads += reader
            .await
            .expect("reader task (a read broke an invariant?)");
    }
    reads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_replicated_coordinator_leaves_nothing_blocked_without_restarting_it() {
    let config = BankConfig {
        // Only c1 stalls between collecting its votes and storing its decision.
        first_coordinator_flags: strings("--pause-after-prepare-ms 10000"),
        ..BankConfig::replicated(3)
    };
    let mut bank = Bank::start(config).await;
    let accounts = bank.config.accounts;
    bank.wait_for_store_leader(None, LIVENESS).await;
    let through_survivors = [bank.client_from(1), bank.client_from(2)];

    // c1 runs three transfers that stall after their prepares (on accounts nothing has
    // touched yet, so every vote is yes); c2 and c3 run the ordinary load.
    let via_c1 = bank.client_of_only(0);
    let stuck = [
        ("stuck-1", "a0", "a1"),
        ("stuck-2", "a2", "a3"),
        ("stuck-3", "a4", "a5"),
    ];
    let in_flight: Vec<_> = stuck
        .iter()
        .map(|(txn, from, to)| {
            let (client, txn, from, to) = (via_c1.clone(), *txn, *from, *to);
            tokio::spawn(async move { client.transfer(txn, from, to, 10).await })
        })
        .collect();
    for (txn, from, to) in stuck {
        for account in [from, to] {
            bank.wait_prepared(shard_of(&bank, account), txn, LIVENESS)
                .await;
        }
    }
    // Readers start only now: a read locks every shard, so it would make these prepares
    // vote `locked`. (Until the stuck transactions are resolved every read is refused.)
    let stop = Arc::new(AtomicBool::new(false));
    let readers = start_readers(&bank, &stop);
    let load = {
        let through = through_survivors.clone();
        tokio::spawn(async move { run_transfers_through(&through, 4, 15, accounts, 2).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    bank.kill_coordinator_at(0);
    let killed_at = Instant::now();
    for transfer in in_flight {
        let outcome = transfer.await.unwrap();
        assert!(!outcome.is_definite(), "{outcome:?}");
    }

    let resolved = bank
        .wait_until_resolved(|txn| txn.starts_with("stuck-"), LIVENESS)
        .await
        .expect("the surviving coordinators resolve c1's prepared transactions");
    println!(
        "replicated coordinator crash: c1's prepared transactions resolved {} ms after the \
         kill, without restarting it",
        resolved.as_millis()
    );

    // The presumed abort is in the decision store, and a retry anywhere gets it.
    let leader = bank.wait_for_store_leader(None, LIVENESS).await;
    let leader_address = &bank
        .store_nodes
        .iter()
        .find(|(id, _)| *id == leader)
        .unwrap()
        .1;
    let stored = bank
        .http
        .post(
            leader_address,
            "/kv",
            &json!({"op": "read", "key": "txn/stuck-1"}),
        )
        .await
        .expect("decision store read");
    assert_eq!(stored.body["value"], "abort", "{}", stored.body);
    for (txn, from, to) in stuck {
        let retry = bank.client_from(1).transfer(txn, from, to, 10).await;
        assert!(
            matches!(&retry, Outcome::Fail(body) if body.contains("aborted")),
            "{txn}: {retry:?}"
        );
    }

    // Transfers keep succeeding through the others, also on the accounts c1 had locked.
    let mut after_kill = Vec::new();
    transfer_until_ok(
        &bank.client_from(2),
        "after",
        ("a0", "a1", 1),
        &mut after_kill,
    )
    .await;
    let first_ok_on_stuck_accounts = killed_at.elapsed();
    let mut attempts = load.await.unwrap();
    let unknown_during = count(&attempts, |o| !o.is_definite());
    settle_unknown(&bank.client_from(1), &mut attempts, 50).await;
    let ok_during = count(&attempts, |o| *o == Outcome::Ok);
    attempts.extend(after_kill);
    let after = run_transfers_through(&through_survivors, 2, 5, accounts, 3).await;
    assert!(count(&after, |o| *o == Outcome::Ok) > 0, "{after:?}");
    attempts.extend(after);
    println!(
        "transfers through c2 and c3 around c1's death: {ok_during} ok, {unknown_during} \
         unknown (settled by retry); first transfer on c1's locked accounts ok {} ms after \
         the kill",
        first_ok_on_stuck_accounts.as_millis()
    );
    assert!(ok_during > 0, "no transfer succeeded through c2 and c3");

    let reads = stop_readers(&stop, readers).await;
    assert!(reads > 0, "no read succeeded");
    bank.wait_until_nothing_prepared(LIVENESS)
        .await
        .expect("nothing left prepared");
    assert_final_balances(&bank, &bank.client(), &attempts, LIVENESS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_decision_store_leader_stalls_transfers_only_until_the_election() {
    let mut bank = Bank::start(BankConfig::replicated(2)).await;
    let accounts = bank.config.accounts;
    let old_leader = bank.wait_for_store_leader(None, LIVENESS).await;
    let stop = Arc::new(AtomicBool::new(false));
    let readers = start_readers(&bank, &stop);
    let through = [bank.client_from(0), bank.client_from(1)];
    let load = {
        let through = through.clone();
        tokio::spawn(async move { run_transfers_through(&through, 4, 25, accounts, 1).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    bank.kill_store_node(&old_leader);
    let killed_at = Instant::now();
    let new_leader = bank
        .wait_for_store_leader(Some(&old_leader), LIVENESS)
        .await;
    let elected_after = killed_at.elapsed();
    let mut attempts = Vec::new();
    transfer_until_ok(
        &bank.client_from(1),
        "after-election",
        ("a0", "a1", 1),
        &mut attempts,
    )
    .await;
    let first_ok_after = killed_at.elapsed();

    let mut load_attempts = load.await.unwrap();
    let unknown = count(&load_attempts, |o| !o.is_definite());
    settle_unknown(&bank.client(), &mut load_attempts, 50).await;
    println!(
        "decision store leader {old_leader} killed: {new_leader} elected after {} ms; first \
         transfer ok {} ms after the kill; load: {} ok, {} failed, {unknown} unknown (settled \
         by retry)",
        elected_after.as_millis(),
        first_ok_after.as_millis(),
        count(&load_attempts, |o| *o == Outcome::Ok),
        count(&load_attempts, |o| matches!(o, Outcome::Fail(_))),
    );
    attempts.extend(load_attempts);
    let after = run_transfers_through(&through, 2, 5, accounts, 2).await;
    assert!(count(&after, |o| *o == Outcome::Ok) > 0, "{after:?}");
    attempts.extend(after);

    let reads = stop_readers(&stop, readers).await;
    assert!(reads > 0, "no read succeeded");
    bank.wait_until_nothing_prepared(LIVENESS)
        .await
        .expect("nothing left prepared");
    assert_final_balances(&bank, &bank.client(), &attempts, LIVENESS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_at_another_coordinator_gets_the_stored_outcome_and_runs_nothing_again() {
    let bank = Bank::start(BankConfig::replicated(2)).await;
    bank.wait_for_store_leader(None, LIVENESS).await;
    let (c1, c2) = (bank.client_of_only(0), bank.client_of_only(1));
    for (index, id) in ["c1", "c2"].iter().enumerate() {
        let status = bank
            .http
            .get(&bank.coordinator_addresses[index], "/status")
            .await
            .expect("coordinator status")
            .body;
        assert_eq!(
            (&status["id"], &status["replicated"]),
            (&json!(id), &json!(true))
        );
        assert_eq!(status["decision_store"], json!(["r1", "r2", "r3"]));
    }

    let mut attempts = Vec::new();
    transfer_until_ok(&c1, "t", ("a0", "a1", 7), &mut attempts).await;
    let committed = attempts.last().unwrap().txn.clone();
    assert_eq!(c2.transfer(&committed, "a0", "a1", 7).await, Outcome::Ok);
    let overdraft = c1.transfer("big", "a2", "a3", 1000).await;
    assert!(
        matches!(&overdraft, Outcome::Fail(body) if body.contains("insufficient-funds")),
        "{overdraft:?}"
    );
    let retry = c2.transfer("big", "a2", "a3", 1000).await;
    assert!(
        matches!(&retry, Outcome::Fail(body) if body.contains("aborted-earlier")),
        "{retry:?}"
    );
    // Each applied once, whichever coordinator was asked.
    let balances = read_eventually(&c2, LIVENESS).await;
    check_read(&balances, bank.config.accounts, bank.total());
    assert_eq!((balances["a0"], balances["a1"]), (93, 107), "{balances:?}");
    assert_eq!((balances["a2"], balances["a3"]), (100, 100), "{balances:?}");
}
