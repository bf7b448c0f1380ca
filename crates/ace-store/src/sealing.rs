//! REM-2: referral customer data at rest. The customer, its contact, the title, the problem
//! statement, the Sandbox simulator's payload and the partner's contact note of each referral
//! are sealed (ChaCha20-Poly1305) under a data key of their own, kept in `referral_keys` apart
//! from the document. Revocation deletes the key (crypto-
//! shredding): the ciphertext that remains in the row, in old WAL frames or in a backup taken
//! later can no longer be read by anyone. Everything else in the referral (ids, status,
//! deadlines) stays readable: it is the deletion record.
//!
//! The data keys themselves are stored sealed under a key the server holds and the database
//! does not ([`KeyWrap`], derived from the server key): someone holding the database file, a
//! backup or PostgreSQL's WAL without the server key reads no referral's data either.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
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
    /// The Sandbox simulator's whole payload (issue 22).
    #[serde(default)]
    simulated: Option<serde_json::Map<String, Value>>,
}

/// The key the referral data keys are sealed under (issue 21).
#[derive(Clone)]
pub struct KeyWrap(ChaCha20Poly1305);

impl KeyWrap {
    pub fn new(key: [u8; 32]) -> KeyWrap {
        KeyWrap(ChaCha20Poly1305::new(Key::from_slice(&key)))
    }
}

/// How a sealed data key is marked in `referral_keys.data_key`.
const WRAPPED: &str = "sealed:";

/// The stored form of `referral_id`'s data key: sealed under `wrap` (bound to the referral, so
/// a key row copied to another referral does not open it), or as it is without one.
pub fn store_key(wrap: Option<&KeyWrap>, referral_id: &str, data_key: &str) -> StoreResult<String> {
    let Some(KeyWrap(cipher)) = wrap else { return Ok(data_key.to_string()) };
    let mut nonce = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: data_key.as_bytes(), aad: referral_id.as_bytes() })
        .map_err(|_| StoreError::Other("sealing a referral data key failed".into()))?;
    let mut bytes = nonce.to_vec();
    bytes.extend(sealed);
    Ok(format!("{WRAPPED}{}", STANDARD.encode(bytes)))
}

/// The data key from its stored form.
pub fn load_key(wrap: Option<&KeyWrap>, referral_id: &str, stored: &str) -> StoreResult<String> {
    let Some(sealed) = stored.strip_prefix(WRAPPED) else { return Ok(stored.to_string()) };
    let Some(KeyWrap(cipher)) = wrap else {
        return Err(StoreError::Other(format!(
            "referral {referral_id}: its data key is sealed under the server key, which this store was not given"
        )));
    };
    let bytes = STANDARD.decode(sealed).map_err(|e| StoreError::Other(format!("sealed data key: {e}")))?;
    if bytes.len() < 12 {
        return Err(StoreError::Other("sealed data key is truncated".into()));
    }
    let plain = cipher
        .decrypt(Nonce::from_slice(&bytes[..12]), Payload { msg: &bytes[12..], aad: referral_id.as_bytes() })
        .map_err(|_| StoreError::Other(format!("referral {referral_id}: its data key does not open with this server key")))?;
    String::from_utf8(plain).map_err(|_| StoreError::Other("sealed data key is not text".into()))
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
        simulated: r.simulated.clone(),
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
    referral.simulated = secret.simulated;
    if let Some(record) = referral.contact_record.as_mut() {
        record.note = secret.contact_note;
    }
    Ok(referral)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rem_2_data_keys_are_sealed_under_the_server_key_and_bound_to_their_referral() {
        let wrap = KeyWrap::new([3; 32]);
        let key = new_data_key();
        let stored = store_key(Some(&wrap), "engi-1", &key).unwrap();
        assert!(stored.starts_with(WRAPPED) && !stored.contains(&key), "{stored}");
        assert_eq!(load_key(Some(&wrap), "engi-1", &stored).unwrap(), key);
        assert!(load_key(Some(&wrap), "engi-2", &stored).is_err(), "another referral's row does not open it");
        assert!(load_key(Some(&KeyWrap::new([4; 32])), "engi-1", &stored).is_err(), "another server key does not");
        assert!(load_key(None, "engi-1", &stored).is_err(), "nor no key");
        assert_eq!(store_key(None, "engi-1", &key).unwrap(), key, "a store given no server key keeps them as they are");
    }
}
