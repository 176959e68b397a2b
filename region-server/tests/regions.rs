//! Three regions as separate processes on loopback (issue 3, "Tests").

mod common;

use std::time::Duration;

use automerge::ReadDoc;
use common::{dev_token, doc_id, heads_at, Cluster, Deadline, TestClient};

const CONVERGE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_acknowledged_in_one_region_is_readable_in_the_others() {
    let cluster = Cluster::start(&["us", "eu", "ap"], &[]).await;
    let [us, eu, ap] = [0, 1, 2].map(|i| cluster.regions[i].url());
    let token = dev_token(&us, "alice", &[], &["*"]).await;
    let doc = doc_id("board-1");
    let mut alice = TestClient::new(token.clone(), 1);
    alice.put(&doc, "title", "hello");
    alice.sync(&us, std::slice::from_ref(&doc)).await.unwrap();

    for url in [&eu, &ap] {
        let mut reader = TestClient::new(token.clone(), 2);
        let deadline = Deadline::after(CONVERGE);
        while !(reader.sync(url, std::slice::from_ref(&doc)).await.is_ok()
            && reader.get(&doc, "title").as_deref() == Some("hello"))
        {
            assert!(deadline.tick().await, "{url} never served the write");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_of_one_field_in_two_regions_both_survive() {
    let cluster = Cluster::start(&["us", "eu"], &[]).await;
    let [us, eu] = [0, 1].map(|i| cluster.regions[i].url());
    let token = dev_token(&us, "team", &[], &["*"]).await;
    let doc = doc_id("shared");
    let mut base = TestClient::new(token.clone(), 1);
    base.put(&doc, "seed", "x");
    base.sync(&us, std::slice::from_ref(&doc)).await.unwrap();

    // Two clients start from the same state and edit the same field offline...
    let mut a = TestClient::new(token.clone(), 2);
    let mut b = TestClient::new(token.clone(), 3);
    a.docs.insert(doc.clone(), (base.doc(&doc).fork(), Default::default()));
    b.docs.insert(doc.clone(), (base.doc(&doc).fork(), Default::default()));
    a.put(&doc, "color", "red");
    b.put(&doc, "color", "blue");
    // ...then each reaches a different region.
    a.sync(&us, std::slice::from_ref(&doc)).await.unwrap();
    b.sync(&eu, std::slice::from_ref(&doc)).await.unwrap();
    let (ha, hb) = (a.heads(&doc), b.heads(&doc));

    for url in [&us, &eu] {
        let mut reader = TestClient::new(token.clone(), 4);
        let deadline = Deadline::after(CONVERGE);
        loop {
            if reader.sync(url, std::slice::from_ref(&doc)).await.is_ok() {
                let d = reader.doc(&doc);
                if ha.iter().chain(&hb).all(|h| d.get_change_by_hash(h).is_some()) {
                    break;
                }
            }
            assert!(deadline.tick().await, "{url} lacks one of the concurrent writes");
        }
        let values: Vec<String> = reader
            .doc(&doc)
            .get_all(automerge::ROOT, "color")
            .unwrap()
            .into_iter()
            .filter_map(|(v, _)| v.into_string().ok())
            .collect();
        let mut sorted = values.clone();
        sorted.sort();
        assert_eq!(sorted, vec!["blue".to_string(), "red".to_string()], "both writes are kept as a conflict");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_killed_during_replication_converges_after_restart() {
    let mut cluster = Cluster::start(&["us", "eu", "ap"], &[]).await;
    let urls: Vec<String> = cluster.regions.iter().map(|r| r.url()).collect();
    let token = dev_token(&urls[0], "writer", &[], &["*"]).await;
    let docs: Vec<_> = (0..30).map(|i| doc_id(&format!("doc-{i}"))).collect();
    let mut writer = TestClient::new(token.clone(), 1);
    for (i, doc) in docs.iter().enumerate() {
        writer.put(doc, "v", &format!("first-{i}"));
    }
    writer.sync(&urls[0], &docs).await.unwrap();
    // Kill eu while us is replicating to it, keep writing elsewhere.
    cluster.regions[1].kill();
    for (i, doc) in docs.iter().enumerate() {
        writer.put(doc, "w", &format!("second-{i}"));
    }
    writer.sync(&urls[2], &docs).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.regions[1].start().await;

    let expected: Vec<_> = docs.iter().map(|d| writer.heads(d)).collect();
    for url in &urls {
        let deadline = Deadline::after(CONVERGE);
        for (doc, heads) in docs.iter().zip(&expected) {
            while heads_at(url, &token, doc).await.as_ref() != Ok(heads) {
                assert!(deadline.tick().await, "{url} did not converge on {doc}:\n{}", cluster.regions[1].log_tail());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_data_survives_sigkill_and_sigterm() {
    let mut cluster = Cluster::start(&["solo"], &[]).await;
    let url = cluster.regions[0].url();
    let token = dev_token(&url, "w", &[], &["*"]).await;
    let doc = doc_id("durable");
    let mut writer = TestClient::new(token.clone(), 1);
    writer.put(&doc, "a", "1");
    writer.sync(&url, std::slice::from_ref(&doc)).await.unwrap();
    // Acknowledged means durable: SIGKILL right after the answer loses nothing.
    cluster.regions[0].kill();
    cluster.regions[0].start().await;
    assert_eq!(heads_at(&url, &token, &doc).await.unwrap(), writer.heads(&doc));

    writer.put(&doc, "b", "2");
    writer.sync(&url, std::slice::from_ref(&doc)).await.unwrap();
    let status = cluster.regions[0].terminate().await;
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    cluster.regions[0].start().await;
    let mut reader = TestClient::new(token, 2);
    reader.sync(&url, std::slice::from_ref(&doc)).await.unwrap();
    assert_eq!(reader.get(&doc, "a").as_deref(), Some("1"));
    assert_eq!(reader.get(&doc, "b").as_deref(), Some("2"));
}
