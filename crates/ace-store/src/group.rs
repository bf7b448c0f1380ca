//! Group commit for SQLite. SQLite has one writer, and with `synchronous=FULL` each commit
//! waits for an fsync, so one transaction per request caps writes at the disk's sync rate.
//! Here concurrent batches queue; one drainer task takes everything queued (up to
//! [`GROUP_MAX`]) and writes it in one transaction — first optimistically, without
//! savepoints and with the full-text index's writes last; if a batch fails (a conflict), the
//! whole transaction is rolled back and the group written again with each batch inside its own
//! savepoint, so the failing one is rolled back alone and answered alone. One fsync then
//! acknowledges the whole group; meanwhile the next group queues. Nothing
//! is acknowledged before the commit that holds it returned.
//!
//! REM-2's scrub after a deletion (a WAL checkpoint) runs once the queue is empty, or once a
//! second while groups keep coming: a burst of deletions (a deadline sweep revoking thousands
//! of referrals) pays for one checkpoint a second, not one a group.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::sealing::KeyWrap;
use crate::sql::{Database, Tx};
use crate::write::{apply_batch, scrub, wants_scrub};
use crate::{BatchOutcome, StoreError, StoreResult, WriteBatch};

/// Batches in one transaction at most (bounds the time a group holds the writer).
pub const GROUP_MAX: usize = 256;

/// While groups keep coming, deleted data is scrubbed at least this often.
const SCRUB_AT_LEAST_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

static TRANSACTIONS: AtomicU64 = AtomicU64::new(0);
static BATCHES: AtomicU64 = AtomicU64::new(0);

/// `(transactions, batches)` committed through groups by this process so far: their ratio is
/// how many requests shared each fsync.
pub fn stats() -> (u64, u64) {
    (TRANSACTIONS.load(Ordering::Relaxed), BATCHES.load(Ordering::Relaxed))
}

struct Pending {
    batch: WriteBatch,
    reply: oneshot::Sender<StoreResult<BatchOutcome>>,
}

#[derive(Default)]
struct Queue {
    pending: Vec<Pending>,
    /// A drainer task is running: it takes what is queued until the queue is empty.
    draining: bool,
}

#[derive(Default)]
pub struct GroupCommit {
    queue: Arc<Mutex<Queue>>,
    /// What the referral data keys are sealed under.
    pub(crate) wrap: Option<KeyWrap>,
}

impl GroupCommit {
    /// Queues the batch and waits for its answer. The first batch into an idle queue starts a
    /// drainer task; the work never runs on the caller's future, so a caller that goes away
    /// (a client that disconnected) neither abandons other batches nor leaves its own queued:
    /// it is committed or refused like any other, promptly.
    pub async fn commit(&self, db: Arc<dyn Database>, batch: WriteBatch) -> StoreResult<BatchOutcome> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queue = self.queue.lock().expect("group queue");
            queue.pending.push(Pending { batch, reply });
            !std::mem::replace(&mut queue.draining, true)
        };
        if start {
            tokio::spawn(drain(self.queue.clone(), db, self.wrap.clone()));
        }
        answer.await.unwrap_or_else(|_| Err(StoreError::Unavailable("the commit group was abandoned".into())))
    }
}

async fn drain(queue: Arc<Mutex<Queue>>, db: Arc<dyn Database>, wrap: Option<KeyWrap>) {
    // A scrub owed by groups this drainer committed: the drainer does not exit while one is.
    let mut owed = false;
    let mut last_scrub = std::time::Instant::now();
    loop {
        let group: Vec<Pending> = {
            let mut queue = queue.lock().expect("group queue");
            let n = queue.pending.len().min(GROUP_MAX);
            metrics::gauge!("ace_store_commit_queue_depth").set(queue.pending.len() as f64);
            if n == 0 && !owed {
                queue.draining = false;
                return;
            }
            queue.pending.drain(..n).collect()
        };
        if owed && (group.is_empty() || last_scrub.elapsed() >= SCRUB_AT_LEAST_EVERY) {
            // In a task of its own too, so a panic cannot stop the drainer (and every write
            // with it). A scrub that did not finish stays owed in the database (`scrub_owed`),
            // and the next group's commit asks for it again.
            let db = db.clone();
            if let Err(e) = tokio::spawn(async move { scrub(db.as_ref()).await }).await {
                tracing::error!(error = %e, "a scrub after a deletion failed");
            }
            owed = false;
            last_scrub = std::time::Instant::now();
        }
        if group.is_empty() {
            continue;
        }
        // In a task of its own: a panic there drops the group's replies (each caller is told
        // the group was abandoned, never that it committed) and the drainer carries on.
        match tokio::spawn(run(db.clone(), group, wrap.clone())).await {
            Ok(deleted) => owed |= deleted,
            Err(e) => {
                tracing::error!(error = %e, "a commit group failed");
                owed = true;
            }
        }
    }
}

/// One savepointed batch. The outer error means the transaction itself is in doubt.
async fn apply_in_savepoint(
    tx: &mut Box<dyn Tx>,
    batch: &WriteBatch,
    wrap: Option<&KeyWrap>,
) -> StoreResult<StoreResult<BatchOutcome>> {
    tx.exec("SAVEPOINT ace_batch", &[]).await?;
    match apply_batch(tx, batch, wrap).await {
        Ok(outcome) => {
            tx.exec("RELEASE ace_batch", &[]).await?;
            Ok(Ok(outcome))
        }
        Err(e) => {
            tx.exec("ROLLBACK TO ace_batch", &[]).await?;
            tx.exec("RELEASE ace_batch", &[]).await?;
            Ok(Err(e))
        }
    }
}

/// Commits one group and answers its callers; true when what it committed leaves deleted data
/// to scrub.
async fn run(db: Arc<dyn Database>, group: Vec<Pending>, wrap: Option<KeyWrap>) -> bool {
    let fail_all = |group: Vec<Pending>, e: StoreError| {
        for p in group {
            let _ = p.reply.send(Err(e.clone()));
        }
    };
    // First without savepoints: each one costs SQLite a sub-journal of every page the batch
    // touches and FTS5 a flush of its pending words (together a third of a bulk row's cost,
    // issue 20). Batches rarely fail; when one does, the whole group is rolled back and
    // written again, this time each batch in its own savepoint.
    let attempts: &[bool] = if group.len() > 1 { &[false, true] } else { &[true] };
    let mut outcomes = Vec::with_capacity(group.len());
    for &isolated in attempts {
        let mut tx = match db.begin().await {
            Ok(tx) => tx,
            Err(e) => {
                fail_all(group, e);
                return false;
            }
        };
        // Optimistic: the full-text index's writes go last, together (see `Tx::exec_deferred`).
        tx.set_deferring(!isolated);
        outcomes.clear();
        let mut failed = false;
        for p in &group {
            let applied = if isolated {
                apply_in_savepoint(&mut tx, &p.batch, wrap.as_ref()).await
            } else {
                Ok(apply_batch(&mut tx, &p.batch, wrap.as_ref()).await)
            };
            match applied {
                Ok(Err(_)) if !isolated => {
                    failed = true;
                    break;
                }
                Ok(outcome) => outcomes.push(outcome),
                Err(e) => {
                    drop(tx);
                    fail_all(group, e);
                    return false;
                }
            }
        }
        if !failed && !isolated {
            match tx.flush_deferred().await {
                Ok(()) => {}
                // A deferred write that fails is a batch's: which one is learnt in savepoints.
                Err(StoreError::Unavailable(e)) => {
                    drop(tx);
                    fail_all(group, StoreError::Unavailable(e));
                    return false;
                }
                Err(_) => failed = true,
            }
        }
        if failed {
            // Dropping the transaction rolls it back.
            drop(tx);
            metrics::counter!("ace_store_commit_groups_redone_total").increment(1);
            continue;
        }
        if let Err(e) = tx.commit().await {
            fail_all(group, e);
            return false;
        }
        break;
    }
    TRANSACTIONS.fetch_add(1, Ordering::Relaxed);
    BATCHES.fetch_add(group.len() as u64, Ordering::Relaxed);
    metrics::histogram!("ace_store_commit_group_batches").record(group.len() as f64);
    let (batches, replies): (Vec<WriteBatch>, Vec<_>) = group.into_iter().map(|p| (p.batch, p.reply)).unzip();
    // Answered first: the scrub after a deletion is housekeeping, not part of the write.
    let committed: Vec<WriteBatch> =
        batches.into_iter().zip(&outcomes).filter(|(_, o)| matches!(o, Ok(BatchOutcome::Committed))).map(|(b, _)| b).collect();
    for (reply, outcome) in replies.into_iter().zip(outcomes) {
        let _ = reply.send(outcome);
    }
    wants_scrub(db.as_ref(), &committed)
}
