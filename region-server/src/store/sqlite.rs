//! The embedded store: SQLite in WAL mode with `synchronous = FULL`, so a commit is
//! durable when it returns. One writer connection (the group-commit thread is its
//! only user) and a small pool of reader connections that WAL lets run alongside it.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use sync_protocol::DocId;

use super::{Store, StoreError, StoreStats, StoredDoc, WriteOp};

const SCHEMA_VERSION: i64 = 1;
const READERS: usize = 4;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS docs (
    doc_id TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL,
    snapshot BLOB,
    change_rows INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (
    doc_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (doc_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS peer_sync (
    peer TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (peer, doc_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS docs_by_change_rows ON docs (change_rows);
";

pub struct SqliteStore {
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    path: std::path::PathBuf,
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: the WAL is fsynced at every commit, so an acknowledged write survives power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let writer = open(path)?;
        let version: i64 = writer.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Corrupt(format!(
                "database schema version {version} is newer than this server ({SCHEMA_VERSION})"
            )));
        }
        writer.execute_batch(SCHEMA)?;
        writer.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        let readers = (0..READERS).map(|_| open(path)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { writer: Mutex::new(writer), readers: Mutex::new(readers), path: path.to_owned() })
    }

    /// Runs `f` on a pooled reader connection (opening an extra one if all are busy).
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open(&self.path)?,
        };
        let result = f(&conn);
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < READERS {
            pool.push(conn);
        }
        result
    }
}

fn parse_doc_id(raw: String) -> Result<DocId, StoreError> {
    DocId::try_from(raw).map_err(|e| StoreError::Corrupt(format!("stored document id: {e}")))
}

fn seq_to_sql(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

impl Store for SqliteStore {
    fn load(&self, doc: &DocId) -> Result<Option<StoredDoc>, StoreError> {
        self.read(|conn| {
            let head: Option<(i64, Option<Vec<u8>>)> = conn
                .prepare_cached("SELECT last_seq, snapshot FROM docs WHERE doc_id = ?1")?
                .query_row(params![doc.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            let Some((last_seq, snapshot)) = head else {
                return Ok(None);
            };
            let mut stmt = conn.prepare_cached("SELECT data FROM changes WHERE doc_id = ?1 ORDER BY seq")?;
            let changes = stmt
                .query_map(params![doc.as_str()], |row| row.get::<_, Vec<u8>>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(StoredDoc { snapshot, changes, last_seq: last_seq.max(0) as u64 }))
        })
    }

    fn commit(&self, ops: &[WriteOp]) -> Result<(), StoreError> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction()?;
        for op in ops {
            match op {
                WriteOp::AppendChanges { doc, seq, data } => {
                    tx.prepare_cached("INSERT OR REPLACE INTO changes (doc_id, seq, data) VALUES (?1, ?2, ?3)")?
                        .execute(params![doc.as_str(), seq_to_sql(*seq), data])?;
                    tx.prepare_cached(
                        "INSERT INTO docs (doc_id, last_seq, change_rows) VALUES (?1, ?2, 1)
                         ON CONFLICT (doc_id) DO UPDATE SET
                             last_seq = max(last_seq, excluded.last_seq),
                             change_rows = change_rows + 1",
                    )?
                    .execute(params![doc.as_str(), seq_to_sql(*seq)])?;
                }
                WriteOp::Compact { doc, snapshot, through_seq } => {
                    let removed = tx
                        .prepare_cached("DELETE FROM changes WHERE doc_id = ?1 AND seq <= ?2")?
                        .execute(params![doc.as_str(), seq_to_sql(*through_seq)])?;
                    tx.prepare_cached(
                        "UPDATE docs SET snapshot = ?2, change_rows = max(0, change_rows - ?3) WHERE doc_id = ?1",
                    )?
                    .execute(params![doc.as_str(), snapshot, removed as i64])?;
                }
                WriteOp::PeerSynced { peer, doc, seq } => {
                    tx.prepare_cached(
                        "INSERT INTO peer_sync (peer, doc_id, seq) VALUES (?1, ?2, ?3)
                         ON CONFLICT (peer, doc_id) DO UPDATE SET seq = max(seq, excluded.seq)",
                    )?
                    .execute(params![peer, doc.as_str(), seq_to_sql(*seq)])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn max_seq(&self) -> Result<u64, StoreError> {
        self.read(|conn| {
            let max: Option<i64> = conn.query_row("SELECT max(last_seq) FROM docs", [], |row| row.get(0))?;
            Ok(max.unwrap_or(0).max(0) as u64)
        })
    }

    fn docs_behind(&self, peer: &str) -> Result<Vec<(DocId, u64)>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT d.doc_id, d.last_seq FROM docs d
                 LEFT JOIN peer_sync p ON p.peer = ?1 AND p.doc_id = d.doc_id
                 WHERE d.last_seq > coalesce(p.seq, 0)
                 ORDER BY d.last_seq",
            )?;
            let rows = stmt
                .query_map(params![peer], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter().map(|(id, seq)| Ok((parse_doc_id(id)?, seq.max(0) as u64))).collect()
        })
    }

    fn docs_to_compact(&self, min_rows: u64, limit: usize) -> Result<Vec<DocId>, StoreError> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT doc_id FROM docs WHERE change_rows > ?1 ORDER BY change_rows DESC LIMIT ?2")?;
            let rows = stmt
                .query_map(params![seq_to_sql(min_rows), limit as i64], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter().map(parse_doc_id).collect()
        })
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        // A write transaction that takes the lock and touches the file, then rolls back.
        conn.execute_batch("BEGIN IMMEDIATE; UPDATE docs SET last_seq = last_seq WHERE 0; ROLLBACK;")?;
        Ok(())
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        self.read(|conn| {
            let (documents, change_rows): (i64, i64) = conn.query_row(
                "SELECT count(*), coalesce(sum(change_rows), 0) FROM docs",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            Ok(StoreStats { documents: documents.max(0) as u64, change_rows: change_rows.max(0) as u64 })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str) -> DocId {
        DocId::parse(id).unwrap()
    }

    #[test]
    fn writes_survive_reopening_and_compaction_drops_covered_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        {
            let store = SqliteStore::open(&path).unwrap();
            store.check_writable().unwrap();
            store
                .commit(&[
                    WriteOp::AppendChanges { doc: doc("a"), seq: 1, data: vec![1] },
                    WriteOp::AppendChanges { doc: doc("a"), seq: 3, data: vec![3] },
                    WriteOp::AppendChanges { doc: doc("b"), seq: 2, data: vec![2] },
                ])
                .unwrap();
            store.commit(&[WriteOp::PeerSynced { peer: "eu".into(), doc: doc("b"), seq: 2 }]).unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let a = store.load(&doc("a")).unwrap().unwrap();
        assert_eq!(a.changes, vec![vec![1], vec![3]]);
        assert_eq!(a.last_seq, 3);
        assert!(store.load(&doc("zzz")).unwrap().is_none());
        assert_eq!(store.max_seq().unwrap(), 3);
        assert_eq!(store.docs_behind("eu").unwrap(), vec![(doc("a"), 3)]);
        assert_eq!(store.docs_behind("us").unwrap().len(), 2);
        assert_eq!(store.docs_to_compact(1, 10).unwrap(), vec![doc("a")]);

        store.commit(&[WriteOp::Compact { doc: doc("a"), snapshot: vec![9], through_seq: 1 }]).unwrap();
        let a = store.load(&doc("a")).unwrap().unwrap();
        assert_eq!(a.snapshot, Some(vec![9]));
        assert_eq!(a.changes, vec![vec![3]]);
        assert_eq!(store.stats().unwrap().change_rows, 2);
    }

    #[test]
    fn a_failed_batch_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap();
        store.writer.lock().unwrap().execute_batch("CREATE TRIGGER boom BEFORE INSERT ON changes WHEN NEW.seq = 2 BEGIN SELECT RAISE(ABORT, 'boom'); END;").unwrap();
        let result = store.commit(&[
            WriteOp::AppendChanges { doc: doc("a"), seq: 1, data: vec![1] },
            WriteOp::AppendChanges { doc: doc("a"), seq: 2, data: vec![2] },
        ]);
        assert!(result.is_err());
        assert!(store.load(&doc("a")).unwrap().is_none());
    }
}
