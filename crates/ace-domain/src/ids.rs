//! Catalogs, identifiers and ARNs in the formats Partner Central uses (digest §2.1).

use std::fmt;

/// `AWS` and `Sandbox` are fully isolated data spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Catalog {
    Aws,
    Sandbox,
}

impl Catalog {
    pub fn parse(s: &str) -> Option<Catalog> {
        match s {
            "AWS" => Some(Catalog::Aws),
            "Sandbox" => Some(Catalog::Sandbox),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Catalog::Aws => "AWS",
            Catalog::Sandbox => "Sandbox",
        }
    }
}

impl fmt::Display for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The only region this service answers in, as Partner Central.
pub const REGION: &str = "us-east-1";

/// The solution every partner sees in the Sandbox catalog (digest §3.5).
pub const SANDBOX_SOLUTION_ID: &str = "S-1234567";

pub fn opportunity_id(number: i64) -> String {
    format!("O{number}")
}

/// USE-4: opportunity numbers that carry no order across partners. The store hands out one
/// sequence for every partner; a partner that saw `O1041` and then `O1107` would learn that
/// other partners created 65 opportunities in between. Each sequence number is therefore
/// mapped by a keyed permutation of `[0, 10^12)` (a Feistel network over 40 bits with cycle
/// walking): distinct numbers stay distinct, ids keep the model's pattern (`O` and at most 12
/// digits), and without the key neither order nor gaps can be read from them.
#[derive(Clone)]
pub struct OpportunityNumbers {
    key: [u8; 32],
}

impl OpportunityNumbers {
    const DOMAIN: u64 = 1_000_000_000_000;
    const HALF_BITS: u32 = 20;
    const ROUNDS: u8 = 8;

    pub fn new(key: [u8; 32]) -> OpportunityNumbers {
        OpportunityNumbers { key }
    }

    /// The opportunity number of sequence number `sequence` (in `[0, 10^12)`).
    pub fn number(&self, sequence: i64) -> i64 {
        let mut x = sequence.rem_euclid(Self::DOMAIN as i64) as u64;
        loop {
            x = self.feistel(x);
            if x < Self::DOMAIN {
                return x as i64;
            }
        }
    }

    fn feistel(&self, x: u64) -> u64 {
        use sha2::{Digest, Sha256};
        let mask = (1u64 << Self::HALF_BITS) - 1;
        let (mut left, mut right) = (x >> Self::HALF_BITS, x & mask);
        for round in 0..Self::ROUNDS {
            let digest = Sha256::new().chain_update(self.key).chain_update([round]).chain_update(right.to_le_bytes()).finalize();
            let f = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes")) & mask;
            (left, right) = (right, left ^ f);
        }
        (left << Self::HALF_BITS) | right
    }
}

/// The number of an `O…` id, when it is one.
pub fn opportunity_number(id: &str) -> Option<i64> {
    let digits = id.strip_prefix('O')?;
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The number of an `S-…` id, when it is one.
pub fn solution_number(id: &str) -> Option<i64> {
    let digits = id.strip_prefix("S-")?;
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub fn solution_id(number: i64) -> String {
    format!("S-{number:07}")
}

pub fn opportunity_arn(account_id: &str, catalog: Catalog, id: &str) -> String {
    format!("arn:aws:partnercentral:{REGION}:{account_id}:catalog/{catalog}/opportunity/{id}")
}

pub fn solution_arn(account_id: &str, catalog: Catalog, id: &str) -> String {
    format!("arn:aws:partnercentral:{REGION}:{account_id}:catalog/{catalog}/solution/{id}")
}

/// Task ARNs have an empty account field, as in production (digest §5 #7).
pub fn task_arn(catalog: Catalog, kind: &str, id: &str) -> String {
    format!("arn:aws:partnercentral:{REGION}::catalog/{catalog}/{kind}/{id}")
}

/// A taggable resource ARN, parsed: `arn:aws:partnercentral:<region>:<account>:catalog/<Catalog>/<type>/<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceArn {
    pub account_id: String,
    pub catalog: Catalog,
    pub resource_type: String,
    pub resource_id: String,
}

impl ResourceArn {
    pub fn parse(arn: &str) -> Option<ResourceArn> {
        let mut parts = arn.splitn(6, ':');
        let (arn_lit, _partition, service, _region, account, rest) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if arn_lit != "arn" || service != "partnercentral" {
            return None;
        }
        let mut path = rest.split('/');
        if path.next()? != "catalog" {
            return None;
        }
        let catalog = Catalog::parse(path.next()?)?;
        let resource_type = path.next()?.to_string();
        let resource_id = path.next()?.to_string();
        if path.next().is_some() {
            return None;
        }
        Some(ResourceArn { account_id: account.to_string(), catalog, resource_type, resource_id })
    }
}

/// A random identifier body of `len` characters of `[0-9a-z]`, from caller-supplied random bytes.
pub fn base36(random: &[u8], len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    random.iter().cycle().take(len).map(|b| ALPHABET[(*b as usize) % 36] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_round_trip() {
        let arn = opportunity_arn("123456789012", Catalog::Sandbox, "O42");
        assert_eq!(arn, "arn:aws:partnercentral:us-east-1:123456789012:catalog/Sandbox/opportunity/O42");
        let parsed = ResourceArn::parse(&arn).unwrap();
        assert_eq!(parsed.account_id, "123456789012");
        assert_eq!(parsed.catalog, Catalog::Sandbox);
        assert_eq!(parsed.resource_type, "opportunity");
        assert_eq!(parsed.resource_id, "O42");
        assert!(ResourceArn::parse("arn:aws:s3:::bucket").is_none());
        assert!(ResourceArn::parse("arn:aws:partnercentral:us-east-1:1:catalog/Nope/opportunity/O1").is_none());
    }

    #[test]
    fn use_4_opportunity_numbers_are_distinct_and_carry_no_order() {
        let numbers = OpportunityNumbers::new([7; 32]);
        let mapped: Vec<i64> = (1..=20_000).map(|n| numbers.number(n)).collect();
        let distinct: std::collections::HashSet<i64> = mapped.iter().copied().collect();
        assert_eq!(distinct.len(), mapped.len(), "a permutation: no two sequence numbers share an id");
        assert!(mapped.iter().all(|n| (0..1_000_000_000_000).contains(n)), "at most 12 digits");
        let ascending = mapped.windows(2).filter(|w| w[0] < w[1]).count();
        assert!((8_000..12_000).contains(&ascending), "about half the neighbours ascend: {ascending}");
        let consecutive_gaps = mapped.windows(2).filter(|w| (w[1] - w[0]).abs() < 1_000).count();
        assert!(consecutive_gaps < 5, "consecutive creates are not near each other: {consecutive_gaps}");
        assert_ne!(OpportunityNumbers::new([8; 32]).number(1), numbers.number(1), "another key, other ids");
        assert_eq!(numbers.number(42), OpportunityNumbers::new([7; 32]).number(42), "the same key, the same ids");
    }

    #[test]
    fn opportunity_numbers() {
        assert_eq!(opportunity_number("O123"), Some(123));
        assert_eq!(opportunity_number("O"), None);
        assert_eq!(opportunity_number("X1"), None);
        assert_eq!(opportunity_number("O12a"), None);
    }
}
