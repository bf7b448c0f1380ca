//! REM-2: referral customer data at rest. The customer, its contact, the title, the problem
//! statement and the partner's contact note of each referral are sealed (ChaCha20-Poly1305) under a data key of their own,
//! kept in `referral_keys` apart from the document. Revocation deletes the key (crypto-
//! shredding): the ciphertext that remains in the row, in old WAL frames or in a backup taken
//! later can no longer be read by anyone. Everything else in the referral (ids, status,
//! deadlines) stays readable: it is the deletion record.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use ace_domain::referral::{Referral, ReferralContact, ReferralCustomer};

use crate::{StoreError, StoreResult};

/// The part of a referral that is sealed.
#[derive(Serialize, Deserialize)]
struct Secret {
    customer: ReferralCustomer,
    contact: ReferralContact,
    title: Option<String>,
    problem: Option<String>,
    /// The partner's note on its contact with the customer (REF-2).
    #[serde(default)]
    contact_note: Option<String>,
}

pub fn new_data_key() -> String {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    STANDARD.encode(key)
}

fn cipher(key: &str) -> StoreResult<ChaCha20Poly1305> {
    let bytes = STANDARD.decode(key).map_err(|e| StoreError::Other(format!("referral data key: {e}")))?;
    if bytes.len() != 32 {
        return Err(StoreError::Other("referral data key: not 32 bytes".into()));
    }
    Ok(ChaCha20Poly1305::new(Key::from_slice(&bytes)))
}

/// The stored document: the blanked referral plus `sealed` (nonce ‖ ciphertext, base64).
pub fn seal(r: &Referral, key: &str) -> StoreResult<String> {
    let secret = Secret {
        customer: r.customer.clone(),
        contact: r.contact.clone(),
        title: r.title.clone(),
        problem: r.problem.clone(),
        contact_note: r.contact_record.as_ref().and_then(|c| c.note.clone()),
    };
    let plain = serde_json::to_vec(&secret).map_err(|e| StoreError::Other(e.to_string()))?;
    let mut nonce = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut nonce);
    let sealed = cipher(key)?
        .encrypt(Nonce::from_slice(&nonce), plain.as_slice())
        .map_err(|_| StoreError::Other("sealing failed".into()))?;
    let mut bytes = nonce.to_vec();
    bytes.extend(sealed);
    let mut doc = serde_json::to_value(Referral { data_deleted: false, ..r.without_customer_data() })
        .map_err(|e| StoreError::Other(e.to_string()))?;
    doc["sealed"] = Value::String(STANDARD.encode(bytes));
    Ok(doc.to_string())
}

/// Reads a stored document. With its key the sealed fields come back; without it (shredded)
/// they stay blank and `data_deleted` is set. Documents written before sealing existed are
/// returned as they are.
pub fn open(doc: &str, key: Option<&str>) -> StoreResult<Referral> {
    let mut value: Value = serde_json::from_str(doc).map_err(|e| StoreError::Other(format!("referral document: {e}")))?;
    let sealed = value.as_object_mut().and_then(|o| o.remove("sealed"));
    let mut referral: Referral =
        serde_json::from_value(value).map_err(|e| StoreError::Other(format!("referral document: {e}")))?;
    let Some(sealed) = sealed.as_ref().and_then(Value::as_str) else { return Ok(referral) };
    let Some(key) = key else {
        referral.data_deleted = true;
        return Ok(referral);
    };
    let bytes = STANDARD.decode(sealed).map_err(|e| StoreError::Other(format!("sealed referral data: {e}")))?;
    if bytes.len() < 12 {
        return Err(StoreError::Other("sealed referral data is truncated".into()));
    }
    let plain = cipher(key)?
        .decrypt(Nonce::from_slice(&bytes[..12]), &bytes[12..])
        .map_err(|_| StoreError::Other(format!("referral {}: sealed data does not open with its key", referral.id)))?;
    let secret: Secret = serde_json::from_slice(&plain).map_err(|e| StoreError::Other(e.to_string()))?;
    referral.customer = secret.customer;
    referral.contact = secret.contact;
    referral.title = secret.title;
    referral.problem = secret.problem;
    if let Some(record) = referral.contact_record.as_mut() {
        record.note = secret.contact_note;
    }
    Ok(referral)
}
