//! The server key and what it protects: SigV4 secrets at rest (ChaCha20-Poly1305), NextToken
//! integrity (HMAC-SHA256); plus random credentials and token hashing.

use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

pub struct ServerKey {
    key: [u8; 32],
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(..)")
    }
}

impl ServerKey {
    /// From 64 hex characters (the `server_key` setting).
    pub fn from_hex(hex_key: &str) -> anyhow::Result<ServerKey> {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| anyhow::anyhow!("the server key must be 64 hex characters"))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| anyhow::anyhow!("the server key must be 64 hex characters"))?;
        Ok(ServerKey { key })
    }

    /// Reads `path`, or creates it (mode 0600) with a new random key.
    pub fn load_or_create(path: &Path) -> anyhow::Result<ServerKey> {
        if path.exists() {
            // Private whatever an earlier install left (issue 21).
            ace_store::files::make_private(path)?;
            let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            return ServerKey::from_hex(&text);
        }
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        write_private_file(path, &hex::encode(key))?;
        Ok(ServerKey { key })
    }

    pub fn random() -> ServerKey {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        ServerKey { key }
    }

    /// The key the store seals referral data keys under (REM-2; issue 21): the database alone
    /// no longer opens a referral's data.
    pub fn referral_key_wrap(&self) -> [u8; 32] {
        self.subkey("referral-data-keys")
    }

    /// The permutation opportunity numbers go through (USE-4).
    pub fn opportunity_numbers(&self) -> ace_domain::ids::OpportunityNumbers {
        ace_domain::ids::OpportunityNumbers::new(self.subkey("opportunity-numbers"))
    }

    fn subkey(&self, purpose: &str) -> [u8; 32] {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key).expect("any key length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub fn encrypt(&self, plaintext: &str) -> String {
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.subkey("secrets")));
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = cipher.encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes()).expect("encryption cannot fail");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        STANDARD.encode(out)
    }

    pub fn decrypt(&self, sealed: &str) -> Option<String> {
        let bytes = STANDARD.decode(sealed).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&self.subkey("secrets")));
        let plain = cipher.decrypt(Nonce::from_slice(&bytes[..12]), &bytes[12..]).ok()?;
        String::from_utf8(plain).ok()
    }

    /// A tamper-evident token: `payload.mac`, both base64url.
    pub fn seal_token(&self, payload: &[u8]) -> String {
        self.seal_for("next-token", payload)
    }

    /// The payload of a token this key sealed; `None` when it was altered or is not one.
    pub fn open_token(&self, token: &str) -> Option<Vec<u8>> {
        self.open_for("next-token", token)
    }

    /// A download link's signature (issue 20): sealed under its own key, so a page token is
    /// never a link nor a link a page token.
    pub fn seal_link(&self, payload: &[u8]) -> String {
        self.seal_for("download-links", payload)
    }

    pub fn open_link(&self, token: &str) -> Option<Vec<u8>> {
        self.open_for("download-links", token)
    }

    fn seal_for(&self, purpose: &str, payload: &[u8]) -> String {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.subkey(purpose)).expect("any key length");
        mac.update(payload);
        format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    fn open_for(&self, purpose: &str, token: &str) -> Option<Vec<u8>> {
        let (payload, tag) = token.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.subkey(purpose)).expect("any key length");
        mac.update(&payload);
        mac.verify_slice(&tag).ok()?;
        Some(payload)
    }
}

pub fn write_private_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    // Private before anything is written to it, whether it existed or not.
    ace_store::files::create_private_file(path)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Compares secrets without leaking, by timing, how much of them matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// An access key pair in AWS's format: `AKIA` + 16 upper-case characters, 40-character secret.
pub fn new_access_key_pair() -> (String, String) {
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = rand::thread_rng();
    let id: String = (0..16).map(|_| UPPER[rng.gen_range(0..UPPER.len())] as char).collect();
    let secret: String = (0..40).map(|_| SECRET[rng.gen_range(0..SECRET.len())] as char).collect();
    (format!("AKIA{id}"), secret)
}

/// A new operator bearer token.
pub fn new_operator_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("ace_op_{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

/// 12 random digits, not starting with 0.
pub fn new_account_id() -> String {
    let mut rng = rand::thread_rng();
    let first = rng.gen_range(1..10);
    let rest: String = (0..11).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect();
    format!("{first}{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_do_not_appear_in_the_clear() {
        let key = ServerKey::random();
        let sealed = key.encrypt("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        assert!(!sealed.contains("wJalr"));
        assert_eq!(key.decrypt(&sealed).as_deref(), Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"));
        assert_eq!(ServerKey::random().decrypt(&sealed), None, "another key cannot read it");
    }

    #[test]
    fn sealed_tokens_detect_tampering() {
        let key = ServerKey::random();
        let token = key.seal_token(b"{\"a\":1}");
        assert_eq!(key.open_token(&token).unwrap(), b"{\"a\":1}");
        let (payload, tag) = token.split_once('.').unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(b"{\"a\":2}"));
        assert_eq!(key.open_token(&forged), None);
        assert_eq!(key.open_token(payload), None);
        assert_eq!(key.open_token("garbage"), None);
    }

    #[test]
    fn access_keys_look_like_aws() {
        let (id, secret) = new_access_key_pair();
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("AKIA"));
        assert_eq!(secret.len(), 40);
        assert_eq!(new_account_id().len(), 12);
    }
}
