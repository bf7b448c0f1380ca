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
    fn opportunity_numbers() {
        assert_eq!(opportunity_number("O123"), Some(123));
        assert_eq!(opportunity_number("O"), None);
        assert_eq!(opportunity_number("X1"), None);
        assert_eq!(opportunity_number("O12a"), None);
    }
}
