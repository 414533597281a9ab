//! The bank's planted bugs are real: each breaks the conservation of money in the
//! scenario it is planted for, on real processes. (The same scenarios without the bug are
//! the recovery tests, where money is conserved.)

mod bank_support;

use std::time::Duration;

use bank_support::{Bank, BankClient, BankConfig, Outcome, read_eventually, strings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_prepared_loses_a_commit_when_the_participant_crashes() {
    let config = BankConfig {
        coordinator_flags: strings("--pause-after-prepare-ms 300 --decision-attempts 1"),
        participant_flags: strings(
            "--in-doubt-after-ms 300 --resolve-interval-ms 50 --bug 2pc-forget-prepared",
        ),
        ..BankConfig::default()
    };
    let mut bank = Bank::start(config).await;
    let client = bank.client();
    let transfer = {
        let client = client.clone();
        tokio::spawn(async move { client.transfer("t1", "a0", "a1", 5).await })
    };
    bank.wait_prepared(1, "t1", Duration::from_secs(10)).await;
    bank.kill_participant(1);
    assert_eq!(transfer.await.unwrap(), Outcome::Ok);
    bank.start_participant(1, &[]).await;
    assert_eq!(
        bank.prepared_at(1).await.unwrap(),
        Vec::<String>::new(),
        "forgotten"
    );
    assert_the_credit_of_5_is_lost(&bank, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_without_all_votes_commits_past_a_dead_participant() {
    let config = BankConfig {
        coordinator_flags: strings("--bug 2pc-commit-without-all-votes --decision-attempts 1"),
        ..BankConfig::default()
    };
    let mut bank = Bank::start(config).await;
    let client = bank.client();
    bank.kill_participant(1);
    // Without the bug this is a definite abort (`vote-missing`).
    assert_eq!(client.transfer("t1", "a0", "a1", 5).await, Outcome::Ok);
    bank.start_participant(1, &[]).await;
    assert_the_credit_of_5_is_lost(&bank, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_bug_a_dead_participant_aborts_the_transfer() {
    let mut bank = Bank::start(BankConfig::default()).await;
    let client = bank.client();
    bank.kill_participant(1);
    let outcome = client.transfer("t1", "a0", "a1", 5).await;
    assert!(
        matches!(&outcome, Outcome::Fail(body) if body.contains("vote-missing")),
        "{outcome:?}"
    );
    bank.start_participant(1, &[]).await;
    let balances = read_eventually(&client, Duration::from_secs(5)).await;
    assert_eq!((balances["a0"], balances["a1"]), (100, 100));
}

/// t1 moved 5 from a0 to a1: the debit was applied, the credit never was.
async fn assert_the_credit_of_5_is_lost(bank: &Bank, client: &BankClient) {
    let balances = read_eventually(client, Duration::from_secs(5)).await;
    assert_eq!(
        (balances["a0"], balances["a1"]),
        (95, 100),
        "the credit is lost"
    );
    assert_eq!(balances.values().sum::<i64>(), bank.total() - 5);
}
