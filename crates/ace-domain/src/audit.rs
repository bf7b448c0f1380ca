//! The audit log (REF-1, USE-4, REM-1, MOD-2): append-only and hash-chained. Each entry commits
//! to the hash of the one before it, so altering, removing or reordering any stored row breaks
//! the chain at that row, and [`verify`] names it. The chain's head (last sequence number and
//! hash) is kept beside the entries, so removing the newest rows is caught as well; an operator
//! who writes the head down elsewhere (`ace audit verify` prints it) can detect even a rewrite
//! of the whole table.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::time::Instant;

/// The hash the first entry commits to.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Action names (stable: scripts filter on them).
pub mod action {
    pub const PARTNER_WRITE: &str = "partner.write";
    pub const CONTACT_READ: &str = "referral.contact-read";
    pub const AUTH_FAILURE: &str = "auth.failure";
    pub const AUTH_LOCKOUT: &str = "auth.lockout";
    pub const PROBE_BLOCKED: &str = "security.probe-blocked";
    pub const TERMS_PUBLISHED: &str = "terms.published";
    pub const TERMS_ACCEPTED: &str = "terms.accepted";
    pub const PROGRAM_TERMINATION: &str = "program.termination";
    pub const SUPPORT_CONTACT: &str = "program.support-contact";
    pub const OPERATOR: &str = "operator.action";
    pub const PARTNER_REMOVED: &str = "partner.removed";
    pub const PARTNER_REINSTATED: &str = "partner.reinstated";
    /// REM-2: the deletion record of revoked referral data (what, when, why, retention honoured).
    pub const DATA_DELETED: &str = "referral.data-deleted";
}

/// One thing that happened, before it is placed in the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: Instant,
    /// Who: `operator:<token name>`, `partner:<id>/<user>`, `client:<address>`, `system`.
    pub actor: String,
    pub action: String,
    pub partner_id: Option<String>,
    pub referral_id: Option<String>,
    /// What exactly (operation, ids, reason …); never customer contact data.
    pub detail: Value,
}

impl AuditEntry {
    pub fn new(at: Instant, actor: impl Into<String>, action: &str, detail: Value) -> AuditEntry {
        AuditEntry { at, actor: actor.into(), action: action.to_string(), partner_id: None, referral_id: None, detail }
    }

    pub fn partner(mut self, partner_id: &str) -> AuditEntry {
        self.partner_id = Some(partner_id.to_string());
        self
    }

    pub fn referral(mut self, referral_id: &str) -> AuditEntry {
        self.referral_id = Some(referral_id.to_string());
        self
    }

    /// The entry with one more member in its detail (an id the action created, say).
    pub fn detail_with(mut self, name: &str, value: impl Serialize) -> AuditEntry {
        if let (Value::Object(detail), Ok(value)) = (&mut self.detail, serde_json::to_value(value)) {
            detail.insert(name.to_string(), value);
        }
        self
    }
}

/// An entry as stored: its place in the chain and the hashes that hold it there. The fields
/// are the stored columns exactly (`detail` as its stored JSON text), so verification hashes
/// what is on disk, not a re-serialisation of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAuditEntry {
    pub seq: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub partner_id: Option<String>,
    pub referral_id: Option<String>,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl StoredAuditEntry {
    /// Places `entry` after the entry numbered `seq - 1` whose hash is `prev_hash`.
    pub fn chain(seq: i64, prev_hash: &str, entry: &AuditEntry) -> StoredAuditEntry {
        let mut stored = StoredAuditEntry {
            seq,
            at_ms: entry.at.timestamp_millis(),
            actor: entry.actor.clone(),
            action: entry.action.clone(),
            partner_id: entry.partner_id.clone(),
            referral_id: entry.referral_id.clone(),
            detail: entry.detail.to_string(),
            prev_hash: prev_hash.to_string(),
            hash: String::new(),
        };
        stored.hash = stored.computed_hash();
        stored
    }

    /// SHA-256 over every field but `hash`, each length-prefixed so no two different entries
    /// share an encoding.
    pub fn computed_hash(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        field(&self.seq.to_be_bytes());
        field(self.prev_hash.as_bytes());
        field(&self.at_ms.to_be_bytes());
        field(self.actor.as_bytes());
        field(self.action.as_bytes());
        for optional in [&self.partner_id, &self.referral_id] {
            match optional {
                Some(v) => field(format!("+{v}").as_bytes()),
                None => field(b"-"),
            }
        }
        field(self.detail.as_bytes());
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Where and why the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The sequence number of the first entry that does not hold (or that is missing).
    pub seq: i64,
    pub reason: String,
}

/// Checks a chain entry by entry, in sequence order, so a long log can be read in pages.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_seq: i64,
    prev_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier { expected_seq: 1, prev_hash: GENESIS_HASH.to_string() }
    }
}

impl ChainVerifier {
    /// How many entries held so far.
    pub fn count(&self) -> u64 {
        (self.expected_seq - 1) as u64
    }

    pub fn push(&mut self, e: &StoredAuditEntry) -> Result<(), ChainBreak> {
        let expected_seq = self.expected_seq;
        if e.seq != expected_seq {
            let reason = if e.seq > expected_seq {
                format!("entry {expected_seq} is missing (the next stored entry is {})", e.seq)
            } else {
                format!("entry {} appears out of order after entry {}", e.seq, expected_seq - 1)
            };
            return Err(ChainBreak { seq: expected_seq.min(e.seq), reason });
        }
        if e.prev_hash != self.prev_hash {
            return Err(ChainBreak {
                seq: e.seq,
                reason: format!("entry {} does not follow entry {}: its previous-hash differs", e.seq, e.seq - 1),
            });
        }
        if e.computed_hash() != e.hash {
            return Err(ChainBreak {
                seq: e.seq,
                reason: format!("entry {} was altered: its content no longer matches its hash", e.seq),
            });
        }
        self.prev_hash = e.hash.clone();
        self.expected_seq += 1;
        Ok(())
    }

    /// Checks the end of the log against the stored head `(seq, hash)`.
    pub fn finish(self, head: (i64, &str)) -> Result<u64, ChainBreak> {
        let last = self.expected_seq - 1;
        let (head_seq, head_hash) = head;
        if head_seq != last {
            return Err(ChainBreak {
                seq: last + 1,
                reason: format!("the log ends at entry {last} but its head records entry {head_seq}: entries were removed"),
            });
        }
        if head_hash != self.prev_hash {
            return Err(ChainBreak {
                seq: head_seq,
                reason: format!("entry {head_seq} does not match the hash the head recorded for it"),
            });
        }
        Ok(last as u64)
    }
}

/// Checks entries read in sequence order against each other and against the stored head
/// `(seq, hash)`. Returns how many entries hold.
pub fn verify<'a>(entries: impl IntoIterator<Item = &'a StoredAuditEntry>, head: (i64, &str)) -> Result<u64, ChainBreak> {
    let mut verifier = ChainVerifier::default();
    for e in entries {
        verifier.push(e)?;
    }
    verifier.finish(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::from_millis;
    use serde_json::json;

    fn chain(n: i64) -> Vec<StoredAuditEntry> {
        let mut out: Vec<StoredAuditEntry> = Vec::new();
        for seq in 1..=n {
            let prev = out.last().map_or(GENESIS_HASH.to_string(), |e| e.hash.clone());
            let entry =
                AuditEntry::new(from_millis(seq * 1000), "operator:admin", action::OPERATOR, json!({"n": seq})).partner("P1");
            out.push(StoredAuditEntry::chain(seq, &prev, &entry));
        }
        out
    }

    fn head(entries: &[StoredAuditEntry]) -> (i64, String) {
        entries.last().map_or((0, GENESIS_HASH.to_string()), |e| (e.seq, e.hash.clone()))
    }

    #[test]
    fn audit_chain_verifies_and_empty_log_holds() {
        assert_eq!(verify(&[], (0, GENESIS_HASH)), Ok(0));
        let entries = chain(5);
        let (s, h) = head(&entries);
        assert_eq!(verify(&entries, (s, &h)), Ok(5));
    }

    #[test]
    fn audit_chain_names_the_first_altered_entry() {
        let mut entries = chain(5);
        let (s, h) = head(&entries);
        entries[2].detail = json!({"n": 99}).to_string();
        let broken = verify(&entries, (s, &h)).unwrap_err();
        assert_eq!(broken.seq, 3, "{broken:?}");
        assert!(broken.reason.contains("altered"));
        // Recomputing the altered row's own hash moves the break to the row after it.
        entries[2].hash = entries[2].computed_hash();
        assert_eq!(verify(&entries, (s, &h)).unwrap_err().seq, 4);
    }

    #[test]
    fn audit_chain_detects_removal_reorder_and_truncation() {
        let entries = chain(5);
        let (s, h) = head(&entries);
        let mut removed = entries.clone();
        removed.remove(1);
        assert_eq!(verify(&removed, (s, &h)).unwrap_err().seq, 2);

        let mut reordered = entries.clone();
        reordered.swap(1, 2);
        assert_eq!(verify(&reordered, (s, &h)).unwrap_err().seq, 2);

        let truncated = &entries[..4];
        let broken = verify(truncated, (s, &h)).unwrap_err();
        assert!(broken.reason.contains("removed"), "{broken:?}");
    }

    #[test]
    fn audit_hash_separates_fields() {
        let a = StoredAuditEntry::chain(1, GENESIS_HASH, &AuditEntry::new(from_millis(0), "ab", "c", json!(null)));
        let b = StoredAuditEntry::chain(1, GENESIS_HASH, &AuditEntry::new(from_millis(0), "a", "bc", json!(null)));
        assert_ne!(a.hash, b.hash);
        let none = StoredAuditEntry::chain(1, GENESIS_HASH, &AuditEntry::new(from_millis(0), "a", "b", json!(null)));
        let some = StoredAuditEntry::chain(1, GENESIS_HASH, &AuditEntry::new(from_millis(0), "a", "b", json!(null)).partner("-"));
        assert_ne!(none.hash, some.hash);
    }
}
