//! The checker's verdict: every acknowledged write present in every replica
//! (regions and clients), identical heads everywhere, nothing left pending.
//! Pure, so its rules are tested without a world.

use std::collections::BTreeMap;
use std::fmt;

/// A write a client was told is durable. Every chaos write sets one root key
/// of one document to a number, so presence is exact: the key with that value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AckedWrite {
    pub client: String,
    pub doc: String,
    pub key: String,
    pub value: i64,
}

/// What one replica holds of one document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocState {
    /// Sorted hex change hashes.
    pub heads: Vec<String>,
    pub values: BTreeMap<String, i64>,
}

/// One copy of the documents: a region's store or a client's local state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replica {
    pub name: String,
    pub docs: BTreeMap<String, DocState>,
    /// Local changes not yet acknowledged (0 for regions).
    pub pending: u64,
}

/// An acknowledged write missing somewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostWrite {
    pub write: AckedWrite,
    pub missing_in: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub lost: Vec<LostWrite>,
    /// Documents whose heads differ between replicas: doc -> replica -> heads.
    pub divergent: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Clients with unacknowledged changes: name -> count.
    pub pending: BTreeMap<String, u64>,
}

impl Verdict {
    pub fn converged(&self) -> bool {
        self.divergent.is_empty() && self.pending.is_empty()
    }

    pub fn passed(&self) -> bool {
        self.converged() && self.lost.is_empty()
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for lost in self.lost.iter().take(20) {
            let w = &lost.write;
            writeln!(
                f,
                "  LOST {}:{}={} by {} missing in {}",
                w.doc,
                w.key,
                w.value,
                w.client,
                lost.missing_in.join(", ")
            )?;
        }
        if self.lost.len() > 20 {
            writeln!(f, "  ... and {} more lost writes", self.lost.len() - 20)?;
        }
        for (doc, heads) in self.divergent.iter().take(5) {
            writeln!(f, "  heads differ for {doc}:")?;
            for (replica, h) in heads {
                writeln!(f, "    {replica:<16} {}", short_heads(h))?;
            }
        }
        if self.divergent.len() > 5 {
            writeln!(f, "  ... and {} more divergent documents", self.divergent.len() - 5)?;
        }
        for (client, n) in &self.pending {
            writeln!(f, "  {client} still has {n} unacknowledged changes")?;
        }
        Ok(())
    }
}

fn short_heads(heads: &[String]) -> String {
    let short: Vec<&str> = heads.iter().map(|h| &h[..h.len().min(12)]).collect();
    format!("[{}]", short.join(" "))
}

/// Checks `replicas` against every write in `acked` for the documents `docs`.
pub fn check(replicas: &[Replica], acked: &[AckedWrite], docs: &[String]) -> Verdict {
    let empty = DocState::default();
    let state = |replica: &'_ Replica, doc: &str| -> DocState {
        replica.docs.get(doc).cloned().unwrap_or_else(|| empty.clone())
    };
    let mut verdict = Verdict::default();
    for write in acked {
        let missing_in: Vec<String> = replicas
            .iter()
            .filter(|r| r.docs.get(&write.doc).and_then(|d| d.values.get(&write.key)) != Some(&write.value))
            .map(|r| r.name.clone())
            .collect();
        if !missing_in.is_empty() {
            verdict.lost.push(LostWrite { write: write.clone(), missing_in });
        }
    }
    for doc in docs {
        let heads: BTreeMap<String, Vec<String>> =
            replicas.iter().map(|r| (r.name.clone(), state(r, doc).heads)).collect();
        let mut distinct: Vec<&Vec<String>> = heads.values().collect();
        distinct.dedup();
        if distinct.len() > 1 {
            verdict.divergent.insert(doc.clone(), heads);
        }
    }
    verdict.pending = replicas.iter().filter(|r| r.pending > 0).map(|r| (r.name.clone(), r.pending)).collect();
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(heads: &[&str], values: &[(&str, i64)]) -> DocState {
        DocState {
            heads: heads.iter().map(|h| h.to_string()).collect(),
            values: values.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    fn replica(name: &str, d: DocState) -> Replica {
        Replica { name: name.into(), docs: BTreeMap::from([("d".to_string(), d)]), pending: 0 }
    }

    fn write(key: &str, value: i64) -> AckedWrite {
        AckedWrite { client: "n0".into(), doc: "d".into(), key: key.into(), value }
    }

    #[test]
    fn identical_replicas_holding_every_write_pass() {
        let d = doc(&["aa"], &[("n0-1", 1), ("n0-2", 2)]);
        let replicas = [replica("us-east", d.clone()), replica("n0", d)];
        let verdict = check(&replicas, &[write("n0-1", 1), write("n0-2", 2)], &["d".into()]);
        assert!(verdict.passed(), "{verdict}");
    }

    #[test]
    fn a_write_missing_or_changed_in_one_replica_is_lost_there() {
        let full = doc(&["aa"], &[("n0-1", 1), ("n0-2", 2)]);
        let missing = doc(&["aa"], &[("n0-1", 1)]);
        let changed = doc(&["aa"], &[("n0-1", 1), ("n0-2", 3)]);
        let replicas = [replica("us-east", full), replica("us-west", missing), replica("b0", changed)];
        let verdict = check(&replicas, &[write("n0-1", 1), write("n0-2", 2)], &["d".into()]);
        assert_eq!(verdict.lost.len(), 1);
        assert_eq!(verdict.lost[0].missing_in, ["us-west", "b0"]);
        assert!(verdict.converged(), "same heads, nothing pending");
        assert!(!verdict.passed());
        assert!(verdict.to_string().contains("LOST d:n0-2=2 by n0 missing in us-west, b0"));
    }

    #[test]
    fn differing_heads_or_a_missing_document_or_pending_changes_are_not_converged() {
        let verdict = check(
            &[replica("us-east", doc(&["aa"], &[])), replica("eu-west", doc(&["bb"], &[]))],
            &[],
            &["d".into()],
        );
        assert_eq!(verdict.divergent["d"]["eu-west"], ["bb"]);
        assert!(!verdict.converged());

        let absent = Replica { name: "n1".into(), ..Replica::default() };
        let verdict = check(&[replica("us-east", doc(&["aa"], &[])), absent], &[], &["d".into()]);
        assert_eq!(verdict.divergent["d"]["n1"], Vec::<String>::new());

        let mut busy = replica("n0", doc(&["aa"], &[]));
        busy.pending = 3;
        let verdict = check(&[replica("us-east", doc(&["aa"], &[])), busy], &[], &["d".into()]);
        assert_eq!(verdict.pending["n0"], 3);
        assert!(!verdict.converged());
        assert!(verdict.to_string().contains("n0 still has 3 unacknowledged changes"));
    }
}
