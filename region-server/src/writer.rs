//! Group commit: one thread owns all writes and batches whatever accumulated while
//! the previous commit was syncing into the next transaction, so durability costs
//! one fsync per batch rather than one per round.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::metrics::Metrics;
use crate::store::{Store, WriteOp};

/// Most writes folded into one transaction.
const MAX_BATCH_OPS: usize = 2048;

pub type CommitResult = Result<(), String>;

/// Writes that commit together, and what to do once they have (or have failed).
pub struct Submission {
    pub ops: Vec<WriteOp>,
    pub done: Box<dyn FnOnce(&CommitResult) + Send>,
}

#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Submission>,
}

#[derive(Debug, thiserror::Error)]
#[error("the storage writer has stopped")]
pub struct WriterStopped;

impl WriterHandle {
    pub fn submit(&self, submission: Submission) -> Result<(), WriterStopped> {
        self.tx.send(submission).map_err(|_| WriterStopped)
    }
}

pub struct Writer {
    handle: Option<JoinHandle<()>>,
}

impl Writer {
    pub fn start(store: Arc<dyn Store>, metrics: Arc<Metrics>) -> (Self, WriterHandle) {
        let (tx, rx) = mpsc::channel::<Submission>();
        let handle = std::thread::Builder::new()
            .name("storage-writer".into())
            .spawn(move || run(&*store, &metrics, rx))
            .ok();
        (Self { handle }, WriterHandle { tx })
    }

    /// Waits until every submission made before all handles were dropped is committed.
    pub fn join(mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn run(store: &dyn Store, metrics: &Metrics, rx: mpsc::Receiver<Submission>) {
    let mut batch: Vec<Submission> = Vec::new();
    let mut ops: Vec<WriteOp> = Vec::new();
    // `recv` fails only when every handle is gone and the queue is drained.
    while let Ok(first) = rx.recv() {
        batch.push(first);
        let mut op_count = batch[0].ops.len();
        while op_count < MAX_BATCH_OPS {
            match rx.try_recv() {
                Ok(next) => {
                    op_count += next.ops.len();
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        for submission in &mut batch {
            ops.append(&mut submission.ops);
        }
        let started = Instant::now();
        let result = store.commit(&ops).map_err(|e| e.to_string());
        metrics.commit_seconds.observe(started.elapsed().as_secs_f64());
        metrics.commit_batches.inc();
        metrics.commit_ops.inc_by(ops.len() as u64);
        if let Err(e) = &result {
            metrics.commit_failures.inc();
            tracing::error!(error = %e, ops = ops.len(), "group commit failed");
        }
        ops.clear();
        for submission in batch.drain(..) {
            (submission.done)(&result);
        }
    }
}
