//! The bank without faults: concurrent transfers and atomic reads on real processes, the
//! client API's refusals and the idempotence of retried transaction ids.

mod bank_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bank_support::{
    Bank, BankConfig, Outcome, assert_final_balances, check_read, count, read_eventually,
    read_until, run_transfers,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transfers_and_reads_keep_the_total_and_apply_exactly_the_ok_ones() {
    let bank = Bank::start(BankConfig::default()).await;
    let client = bank.client();
    let (accounts, total) = (bank.config.accounts, bank.total());
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| tokio::spawn(read_until(client.clone(), accounts, total, stop.clone())))
        .collect();

    let attempts = run_transfers(&client, 6, 40, accounts, 1).await;
    stop.store(true, Ordering::Relaxed);
    let mut reads = 0;
    for reader in readers {
        reads += reader.await.expect("reader task");
    }

    let ok = count(&attempts, |o| *o == Outcome::Ok);
    let failed = count(&attempts, |o| matches!(o, Outcome::Fail(_)));
    let unknown: Vec<_> = attempts
        .iter()
        .filter(|a| matches!(a.outcome, Outcome::Info(_)))
        .collect();
    println!(
        "transfers: {ok} ok, {failed} failed, {} unknown; {reads} reads",
        unknown.len()
    );
    assert!(
        unknown.is_empty(),
        "no fault, yet unknown outcomes: {unknown:?}"
    );
    assert!(ok > 0 && reads > 0, "the bank did no work");

    // Without faults every outcome is definite, so the final balances are exactly the
    // initial ones plus the committed transfers.
    assert_final_balances(&bank, &client, &attempts, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_definite_and_retries_get_the_first_outcome() {
    let bank = Bank::start(BankConfig::default()).await;
    let client = bank.client();
    let http = &bank.http;
    let coordinator = bank.coordinator_address();

    assert_eq!(client.transfer("t1", "a0", "a1", 7).await, Outcome::Ok);
    assert_eq!(
        client.transfer("t1", "a0", "a1", 7).await,
        Outcome::Ok,
        "retry"
    );
    let overdraft = client.transfer("t2", "a2", "a3", 1000).await;
    assert!(
        matches!(&overdraft, Outcome::Fail(body) if body.contains("insufficient-funds")),
        "{overdraft:?}"
    );
    let retry = client.transfer("t2", "a2", "a3", 1000).await;
    assert!(matches!(retry, Outcome::Fail(_)), "{retry:?}");
    let reused = client.transfer("t1", "a0", "a1", 8).await;
    assert!(matches!(reused, Outcome::Fail(_)), "{reused:?}");
    // Two accounts of the same participant (a0 and a3 with 3 participants).
    assert_eq!(client.transfer("t3", "a3", "a0", 2).await, Outcome::Ok);

    for bad in [
        json!({"txn": "b1", "from": "a0", "to": "a0", "amount": 1}),
        json!({"txn": "b2", "from": "a0", "to": "a99", "amount": 1}),
        json!({"txn": "b3", "from": "a0", "to": "a1", "amount": 0}),
        json!({"txn": "", "from": "a0", "to": "a1", "amount": 1}),
        json!({"txn": "b5", "from": "a0", "to": "a1", "amount": 1, "extra": 1}),
        json!({"from": "a0", "to": "a1", "amount": 1}),
    ] {
        let reply = http.post(coordinator, "/transfer", &bad).await.unwrap();
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
        assert_eq!(reply.body["error"], "bad-request", "{bad}");
    }
    let reply = http.get(coordinator, "/nowhere").await.unwrap();
    assert_eq!(
        (reply.status.as_u16(), reply.body["error"].clone()),
        (404, json!("not-found"))
    );
    let reply = http.get(coordinator, "/transfer").await.unwrap();
    assert_eq!(reply.status, 405);
    let participant = &bank.participant_addresses[0];
    let reply = http
        .post(participant, "/prepare", &json!({"txn": 3}))
        .await
        .unwrap();
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["error"], "bad-request");

    let status = http.get(coordinator, "/status").await.unwrap().body;
    assert_eq!(status["role"], "coordinator");
    assert_eq!(status["committed"], 2);
    let status = bank.participant_status(1).await.unwrap();
    assert_eq!(status["role"], "participant");
    assert_eq!(status["accounts"], json!(["a1", "a4", "a7"]));

    let balances = read_eventually(&client, Duration::from_secs(5)).await;
    assert_eq!(
        (balances["a0"], balances["a1"], balances["a3"]),
        (95, 107, 98)
    );
    check_read(&balances, bank.config.accounts, bank.total());
}
