//! Regions that reach each other only through fault proxies: a partition while
//! every region takes writes, then healing; all regions converge on identical
//! heads holding every write (timing is measured by the benchmark, not here).

mod common;

use std::time::Duration;

use common::{dev_token, doc_id, heads_at, Deadline, Region, TestClient};
use local_world::{Fault, FaultProxy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regions_converge_after_a_partition_heals() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["us", "eu", "ap"];
    let mut regions: Vec<Region> = names.iter().map(|n| Region::new(n, dir.path().join(n))).collect();
    let mut proxies = Vec::new();
    for from in 0..names.len() {
        for to in 0..names.len() {
            if from == to {
                continue;
            }
            let upstream = format!("127.0.0.1:{}", regions[to].port).parse().unwrap();
            let proxy = FaultProxy::start("127.0.0.1:0".parse().unwrap(), upstream).await.unwrap();
            regions[from].peers.push((names[to].to_string(), proxy.url()));
            proxies.push(proxy);
        }
    }
    for region in &mut regions {
        region.start().await;
    }
    let urls: Vec<String> = regions.iter().map(|r| r.url()).collect();
    let token = dev_token(&urls[0], "p", &[], &["*"]).await;
    let docs: Vec<_> = (0..5).map(|i| doc_id(&format!("p-{i}"))).collect();

    for fault in [Fault::BlackHole, Fault::Refuse] {
        for proxy in &proxies {
            proxy.set_fault(fault);
        }
        // Every region takes a write to every document while cut off.
        let mut writers: Vec<TestClient> = (0..3).map(|i| TestClient::new(token.clone(), 10 + i)).collect();
        let mut own_writes = Vec::new();
        for (writer, url) in writers.iter_mut().zip(&urls) {
            for doc in &docs {
                writer.put(doc, "by", url);
                own_writes.push(writer.heads(doc));
            }
            writer.sync(url, &docs).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Still apart: the first region has not seen the others' writes.
        let before = heads_at(&urls[0], &token, &docs[0]).await.unwrap();
        let eu_write = &own_writes[docs.len()];
        assert!(eu_write.iter().all(|h| !before.contains(h)), "{fault:?} did not partition");

        for proxy in &proxies {
            proxy.set_fault(Fault::Pass);
        }
        let deadline = Deadline::after(Duration::from_secs(20));
        for (d, doc) in docs.iter().enumerate() {
            // own_writes is per writer, then per document.
            let all_writes: Vec<_> =
                (0..writers.len()).flat_map(|w| own_writes[w * docs.len() + d].iter().copied()).collect();
            for url in &urls {
                loop {
                    let mut reader = TestClient::new(token.clone(), 99);
                    let complete = reader.sync(url, std::slice::from_ref(doc)).await.is_ok()
                        && all_writes.iter().all(|h| reader.doc(doc).get_change_meta_by_hash(h).is_some());
                    if complete {
                        break;
                    }
                    assert!(deadline.tick().await, "{url} did not converge on {doc} after {fault:?}");
                }
            }
            // Every region now holds every write; once replication settles their heads are identical.
            let first = heads_at(&urls[0], &token, doc).await.unwrap();
            for url in &urls[1..] {
                while heads_at(url, &token, doc).await.unwrap() != first {
                    assert!(deadline.tick().await, "{url} heads differ on {doc}");
                }
            }
        }
    }
}
