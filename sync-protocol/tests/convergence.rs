//! Property tests of the protocol as the SDK and regions use it: clients with
//! `ClientSync`, regions answering with the stateless `serve_round`, replies
//! routed to arbitrary regions. Checks convergence and the round-trip counts
//! promised in PROTOCOL.md.

use automerge::sync::Message;
use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ReadDoc, ROOT};
use proptest::prelude::*;
use sync_protocol::{serve_round, ClientSync, RoundAccess};

/// One client round: request (through the wire encoding) → region → reply.
/// Returns false when the client had nothing to send.
fn round(client: &mut Automerge, sync: &mut ClientSync, region: &mut Automerge) -> bool {
    let Some(request) = sync.next_request_bytes(client) else {
        return false;
    };
    let request = Message::decode(&request).expect("client messages decode");
    let result = serve_round(region, request, RoundAccess::ReadWrite).expect("round succeeds");
    assert!(!result.requester_in_sync || result.heads_after == client.get_heads());
    let outcome = sync.receive_reply_bytes(client, &result.reply.encode()).expect("reply applies");
    for head in &outcome.acknowledged {
        assert!(region.get_change_meta_by_hash(head).is_some(), "acknowledged heads are held by the server");
    }
    true
}

/// Rounds until the client has nothing to send; returns how many it took.
fn sync_until_quiet(client: &mut Automerge, sync: &mut ClientSync, region: &mut Automerge) -> usize {
    let mut rounds = 0;
    while round(client, sync, region) {
        rounds += 1;
        assert!(rounds <= 10, "sync did not settle in 10 rounds");
    }
    rounds
}

/// Commits one edit. The timestamp is fixed so that, with fixed actors, change
/// hashes (and so bloom filter false positives, which cost automerge one extra
/// round about 1% of the time) are deterministic.
fn edit(doc: &mut Automerge, key: &str, value: i64) {
    let mut tx = doc.transaction();
    tx.put(ROOT, key, value).expect("put");
    tx.commit_with(automerge::transaction::CommitOptions::default().with_time(0));
}

fn new_doc(actor_byte: u8) -> Automerge {
    Automerge::new().with_actor(automerge::ActorId::from(vec![actor_byte; 16]))
}

fn doc_with_history(actor_byte: u8, edits: usize) -> Automerge {
    let mut doc = new_doc(actor_byte);
    for i in 0..edits {
        edit(&mut doc, &format!("k{}", i % 7), i as i64);
    }
    doc
}

fn fork(doc: &Automerge, actor_byte: u8) -> Automerge {
    doc.fork().with_actor(automerge::ActorId::from(vec![actor_byte; 16]))
}

fn heads(doc: &Automerge) -> Vec<ChangeHash> {
    doc.get_heads()
}

#[test]
fn fresh_client_opening_an_existing_document_takes_one_round() {
    let mut region = doc_with_history(1, 50);
    let mut client = new_doc(2);
    let mut sync = ClientSync::new();
    assert!(round(&mut client, &mut sync, &mut region));
    assert_eq!(heads(&client), heads(&region));
    assert_eq!(sync_until_quiet(&mut client, &mut sync, &mut region), 0);
}

#[test]
fn client_with_local_changes_first_round_after_start_takes_two() {
    let mut region = doc_with_history(1, 20);
    let mut client = fork(&region, 2);
    edit(&mut client, "mine", 1);
    let mut sync = ClientSync::new();
    assert_eq!(sync_until_quiet(&mut client, &mut sync, &mut region), 2);
    assert_eq!(heads(&client), heads(&region));
    assert!(sync.unacknowledged_changes(&mut client).is_empty());
}

#[test]
fn in_session_cases_take_one_round() {
    let mut region = doc_with_history(1, 20);
    let mut client = new_doc(2);
    let mut sync = ClientSync::new();
    sync_until_quiet(&mut client, &mut sync, &mut region);

    // New local changes, synced before in this session: one round, acknowledged.
    edit(&mut client, "mine", 1);
    assert_eq!(sync.unacknowledged_changes(&mut client).len(), 1);
    assert_eq!(sync_until_quiet(&mut client, &mut sync, &mut region), 1);
    assert_eq!(heads(&client), heads(&region));
    assert!(sync.unacknowledged_changes(&mut client).is_empty());

    // Behind without local changes (a watch said so): one forced round.
    edit(&mut region, "theirs", 2);
    assert_eq!(sync.next_request(&mut client), None, "looks in sync until told otherwise");
    sync.request_round();
    assert_eq!(sync_until_quiet(&mut client, &mut sync, &mut region), 1);
    assert_eq!(heads(&client), heads(&region));
}

#[test]
fn a_reply_from_a_region_that_lacks_changes_costs_one_extra_round() {
    let mut us = doc_with_history(1, 20);
    let mut eu = fork(&us, 3);
    edit(&mut us, "only-in-us", 1);
    let mut client = new_doc(2);
    let mut sync = ClientSync::new();
    sync_until_quiet(&mut client, &mut sync, &mut us);

    edit(&mut client, "mine", 7);
    // The edge now routes to eu, which lacks a change the client's last_sync names.
    let rounds = sync_until_quiet(&mut client, &mut sync, &mut eu);
    assert!(rounds <= 2, "took {rounds} rounds");
    assert_eq!(heads(&client), heads(&eu));
    assert_eq!(eu.get(ROOT, "only-in-us").unwrap().map(|(v, _)| v.to_string()), Some("1".to_string()));
    assert!(sync.unacknowledged_changes(&mut client).is_empty());
}

#[test]
fn failed_requests_are_resent() {
    let mut region = doc_with_history(1, 5);
    let mut client = new_doc(2);
    let mut sync = ClientSync::new();
    sync_until_quiet(&mut client, &mut sync, &mut region);
    edit(&mut client, "mine", 1);
    let lost = sync.next_request(&mut client).expect("has a change to send");
    assert!(!lost.changes.is_empty());
    assert_eq!(sync.next_request(&mut client), None, "in flight");
    sync.request_failed();
    let again = sync.next_request(&mut client).expect("resent after failure");
    assert_eq!(again.changes, lost.changes);
}

#[test]
fn read_only_access_ignores_changes_and_does_not_loop() {
    let mut region = doc_with_history(1, 5);
    let mut client = fork(&region, 2);
    edit(&mut client, "mine", 1);
    let mut sync = ClientSync::new();
    let mut rounds = 0;
    while let Some(request) = sync.next_request(&mut client) {
        let result = serve_round(&mut region, request, RoundAccess::ReadOnly).unwrap();
        assert!(result.applied.is_empty());
        let outcome = sync.receive_reply(&mut client, result.reply).unwrap();
        rounds += 1;
        assert!(rounds < 5, "looped");
        if !outcome.needs_another_round {
            assert!(outcome.server_read_only);
            break;
        }
    }
    assert_eq!(region.get(ROOT, "mine").unwrap(), None);
    assert_eq!(sync.unacknowledged_changes(&mut client).len(), 1);
}

#[test]
fn saved_state_round_trips_and_rejects_garbage() {
    let mut region = doc_with_history(1, 5);
    let mut client = new_doc(2);
    let mut sync = ClientSync::new();
    sync_until_quiet(&mut client, &mut sync, &mut region);
    let saved = sync.save();
    let mut restored = ClientSync::load(&saved).unwrap();
    assert_eq!(restored.acknowledged_heads(), sync.acknowledged_heads());
    assert_eq!(restored.save(), saved);
    // A restarted client with a change syncs in at most two rounds.
    edit(&mut client, "after-restart", 1);
    assert!(sync_until_quiet(&mut client, &mut restored, &mut region) <= 2);
    assert_eq!(heads(&client), heads(&region));
    for bad in [&b""[..], b"\x02", b"\x01\x05", b"\x01\x00\x00\x00"] {
        assert!(ClientSync::load(bad).is_err());
    }
}

/// A peer in the model: its document and its sync state towards the regions.
struct Peer {
    doc: Automerge,
    sync: ClientSync,
}

#[derive(Debug, Clone)]
enum Step {
    ClientEdit { client: usize, key: u8, value: i64 },
    RegionEdit { region: usize, key: u8, value: i64 },
    Sync { client: usize, region: usize },
    Replicate { from: usize, to: usize },
    FailRequest { client: usize },
}

fn step_strategy(clients: usize, regions: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..clients, 0u8..6, any::<i64>()).prop_map(|(client, key, value)| Step::ClientEdit { client, key, value }),
        (0..regions, 0u8..6, any::<i64>()).prop_map(|(region, key, value)| Step::RegionEdit { region, key, value }),
        (0..clients, 0..regions).prop_map(|(client, region)| Step::Sync { client, region }),
        (0..clients, 0..regions).prop_map(|(client, region)| Step::Sync { client, region }),
        (0..regions, 0..regions).prop_map(|(from, to)| Step::Replicate { from, to }),
        (0..clients).prop_map(|client| Step::FailRequest { client }),
    ]
}

/// Region-to-region replication as the server does it: a `ClientSync` per peer.
fn replicate(regions: &mut [Automerge], syncs: &mut [Vec<ClientSync>], from: usize, to: usize) {
    if from == to {
        return;
    }
    let (a, b) = if from < to {
        let (left, right) = regions.split_at_mut(to);
        (&mut left[from], &mut right[0])
    } else {
        let (left, right) = regions.split_at_mut(from);
        (&mut right[0], &mut left[to])
    };
    let sync = &mut syncs[from][to];
    for _ in 0..10 {
        let Some(request) = sync.next_request(a) else { return };
        let result = serve_round(b, request, RoundAccess::ReadWrite).unwrap();
        let outcome = sync.receive_reply(a, result.reply).unwrap();
        if !outcome.needs_another_round {
            return;
        }
    }
    panic!("replication did not settle in 10 rounds");
}

fn check_model(clients: usize, regions: usize, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let mut peers: Vec<Peer> = (0..clients)
        .map(|i| Peer {
            doc: new_doc(10 + i as u8),
            sync: ClientSync::new(),
        })
        .collect();
    let mut region_docs: Vec<Automerge> =
        (0..regions).map(|i| new_doc(100 + i as u8)).collect();
    let mut repl: Vec<Vec<ClientSync>> = (0..regions).map(|_| (0..regions).map(|_| ClientSync::new()).collect()).collect();

    for step in steps {
        match step {
            Step::ClientEdit { client, key, value } => edit(&mut peers[client].doc, &format!("k{key}"), value),
            Step::RegionEdit { region, key, value } => edit(&mut region_docs[region], &format!("k{key}"), value),
            Step::Sync { client, region } => {
                let peer = &mut peers[client];
                round(&mut peer.doc, &mut peer.sync, &mut region_docs[region]);
            }
            Step::Replicate { from, to } => replicate(&mut region_docs, &mut repl, from, to),
            Step::FailRequest { client } => {
                let peer = &mut peers[client];
                if peer.sync.next_request(&mut peer.doc).is_some() {
                    peer.sync.request_failed();
                }
            }
        }
    }

    // Heal: every client syncs with a random-ish region, regions replicate all-to-all.
    for (i, peer) in peers.iter_mut().enumerate() {
        peer.sync.request_round();
        sync_until_quiet(&mut peer.doc, &mut peer.sync, &mut region_docs[i % regions]);
        prop_assert!(peer.sync.unacknowledged_changes(&mut peer.doc).is_empty());
    }
    for _ in 0..2 {
        for from in 0..regions {
            for to in 0..regions {
                replicate(&mut region_docs, &mut repl, from, to);
            }
        }
    }
    for (i, peer) in peers.iter_mut().enumerate() {
        peer.sync.request_round();
        let rounds = sync_until_quiet(&mut peer.doc, &mut peer.sync, &mut region_docs[(i + 1) % regions]);
        prop_assert!(rounds <= 2, "a converged client needed {} rounds", rounds);
    }
    let expected = heads(&region_docs[0]);
    for region in &region_docs {
        prop_assert_eq!(heads(region), expected.clone());
    }
    for peer in &peers {
        prop_assert_eq!(heads(&peer.doc), expected.clone());
        prop_assert_eq!(peer.doc.get(ROOT, "k0").unwrap().map(|(v, _)| v.to_string()),
            region_docs[0].get(ROOT, "k0").unwrap().map(|(v, _)| v.to_string()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn two_clients_two_regions_converge(steps in proptest::collection::vec(step_strategy(2, 2), 0..40)) {
        check_model(2, 2, steps)?;
    }

    #[test]
    fn three_clients_three_regions_converge(steps in proptest::collection::vec(step_strategy(3, 3), 0..60)) {
        check_model(3, 3, steps)?;
    }

    /// Local edits reach the region in one round once the session is warm, except
    /// when automerge's bloom filter reports a false positive (one extra round).
    #[test]
    fn warm_client_changes_take_one_round(edits in 1usize..20, seed in any::<i64>()) {
        let mut region = doc_with_history(1, 10);
        let mut client = new_doc(2);
        let mut sync = ClientSync::new();
        sync_until_quiet(&mut client, &mut sync, &mut region);
        for i in 0..edits {
            edit(&mut client, "k", seed.wrapping_add(i as i64));
        }
        prop_assert!(sync_until_quiet(&mut client, &mut sync, &mut region) <= 2);
        prop_assert_eq!(heads(&client), heads(&region));
    }
}

proptest! {
    /// Untrusted bytes never panic the decoder or a round: they are typed errors,
    /// or (when they happen to decode) a round that leaves the document loadable.
    #[test]
    fn garbage_messages_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), prefix in prop_oneof![Just(0x42u8), Just(0x43u8)]) {
        let mut region = doc_with_history(1, 3);
        let mut framed = vec![prefix];
        framed.extend_from_slice(&bytes);
        for candidate in [&bytes[..], &framed[..]] {
            if let Ok(message) = sync_protocol::decode_message(candidate) {
                let _ = serve_round(&mut region, message, RoundAccess::ReadWrite);
            }
        }
        prop_assert!(Automerge::load(&region.save()).is_ok());
    }
}

/// Found by fuzzing: a bloom filter with entries but no bits made automerge
/// divide by zero while answering. It is now a typed error.
#[test]
fn degenerate_bloom_filters_are_refused() {
    let crash = [
        0x42, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x05, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00,
    ];
    let err = sync_protocol::decode_message(&crash).unwrap_err();
    assert_eq!(err.code, sync_protocol::ErrorCode::MalformedMessage);
    // A normal message still decodes.
    let mut sync = ClientSync::new();
    let first = sync.next_request_bytes(&mut doc_with_history(1, 3)).unwrap();
    assert!(sync_protocol::decode_message(&first).is_ok());
}
