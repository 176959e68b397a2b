//! The checker's view of each region: its documents pulled straight from the
//! region process (its own address: no edge, no simulated network) with a
//! read-only token, kept incrementally so a refresh costs one round per change.

use std::time::Duration;

use automerge::ActorId;
use sync_protocol::DocId;

use crate::sync_client::{Endpoint, LocalDoc, RoundError, doc_states, sync_until_quiet};
use crate::verify::Replica;

pub struct RegionReader {
    pub region: String,
    endpoint: Endpoint,
    docs: Vec<LocalDoc>,
    refreshes: u64,
}

impl RegionReader {
    /// `token` must grant read access to `doc_ids` and should grant nothing more.
    pub fn new(region: &str, url: &str, token: &str, http: reqwest::Client, doc_ids: &[DocId]) -> Self {
        let actor = ActorId::from(format!("checker-{region}").into_bytes());
        RegionReader {
            region: region.to_owned(),
            endpoint: Endpoint { http, base: url.to_owned(), token: token.to_owned(), timeout: Duration::from_secs(20) },
            docs: doc_ids.iter().map(|id| LocalDoc::new(id.clone(), actor.clone())).collect(),
            refreshes: 0,
        }
    }

    /// Pulls every change the region holds now.
    pub async fn refresh(&mut self) -> Result<(), RoundError> {
        self.refreshes += 1;
        let prefix = format!("checker-{}-{}", self.region, self.refreshes);
        sync_until_quiet(&self.endpoint, &mut self.docs, true, 16, &prefix).await.map(drop)
    }

    pub fn replica(&self) -> Replica {
        Replica {
            name: self.region.clone(),
            docs: doc_states(&self.docs),
            pending: 0,
        }
    }
}
