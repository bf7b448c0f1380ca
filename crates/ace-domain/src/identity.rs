//! SUB-2: customer identity, normalised for conflict detection — the registrable web domain
//! (public-suffix aware), DUNS, and the company name without case, punctuation or legal
//! suffixes, with its country — and the matching of two identities.

use serde::{Deserialize, Serialize};

/// A customer's normalised identity.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CustomerIdentity {
    /// `example.co.uk` for `https://www.shop.example.co.uk/path`.
    pub domain: Option<String>,
    pub duns: Option<String>,
    /// `acme widgets` for `ACME Widgets, Inc.`.
    pub name: String,
    pub country: Option<String>,
}

/// Legal-form words dropped from company names (compared after lower-casing and removing
/// punctuation).
const LEGAL_SUFFIXES: [&str; 34] = [
    "inc",
    "incorporated",
    "llc",
    "llp",
    "lp",
    "ltd",
    "limited",
    "gmbh",
    "ag",
    "kg",
    "sa",
    "sas",
    "sarl",
    "srl",
    "spa",
    "bv",
    "nv",
    "plc",
    "corp",
    "corporation",
    "co",
    "company",
    "oy",
    "ab",
    "as",
    "aps",
    "pty",
    "pvt",
    "kk",
    "se",
    "sl",
    "ug",
    "mbh",
    "holdings",
];

/// Lower-case, punctuation to spaces, `&` to `and`, legal suffixes dropped, spaces collapsed.
pub fn normalise_company_name(name: &str) -> String {
    let lowered = name.to_lowercase().replace('&', " and ");
    let cleaned: String = lowered.chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    let mut words: Vec<&str> = cleaned.split_whitespace().collect();
    // Suffixes only at the end ("Co Op Bank" keeps its words, "Acme Co" loses "co").
    // "GmbH & Co. KG": an "and" between legal forms goes with them.
    let is_suffix = |w: &&str| LEGAL_SUFFIXES.contains(w);
    while words.len() > 1 {
        let n = words.len();
        let last = words[n - 1];
        if is_suffix(&last) || (last == "and" && n > 2 && is_suffix(&words[n - 2])) {
            words.pop();
        } else {
            break;
        }
    }
    words.join(" ")
}

/// The registrable domain of a website URL or host name.
pub fn registrable_domain(website: &str) -> Option<String> {
    let s = website.trim().to_lowercase();
    let s = s.split_once("://").map_or(s.as_str(), |(_, rest)| rest);
    let host = s.split(['/', '?', '#']).next()?.rsplit('@').next()?;
    let host = host.split(':').next()?.trim_end_matches('.');
    if host.is_empty() || !host.contains('.') || host.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    psl::domain_str(host).map(str::to_string)
}

impl CustomerIdentity {
    pub fn new(company_name: &str, website: Option<&str>, duns: Option<&str>, country: Option<&str>) -> CustomerIdentity {
        CustomerIdentity {
            domain: website.and_then(registrable_domain),
            duns: duns.map(|d| d.chars().filter(char::is_ascii_digit).collect::<String>()).filter(|d| d.len() == 9),
            name: normalise_company_name(company_name),
            country: country.map(|c| c.trim().to_ascii_uppercase()).filter(|c| !c.is_empty()),
        }
    }
}

/// The operator's own pipeline record a submission is matched against (SUB-2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineRecord {
    pub external_id: String,
    pub company_name: String,
    #[serde(default)]
    pub website: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub duns: Option<String>,
    pub stage: String,
    #[serde(default)]
    pub owner: Option<String>,
    /// What the operator knows of the customer, given to partners whose customer accounts
    /// match this record (issue 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrichment: Option<crate::customer_account::Enrichment>,
}

impl PipelineRecord {
    pub fn identity(&self) -> CustomerIdentity {
        CustomerIdentity::new(&self.company_name, self.website.as_deref(), self.duns.as_deref(), self.country.as_deref())
    }

    /// Closed deals (won, lost, launched) no longer count as pursued.
    pub fn is_active(&self) -> bool {
        let stage = self.stage.to_lowercase();
        !["closed", "lost", "won", "launched", "cancelled", "canceled", "dead"].iter().any(|w| stage.contains(w))
    }
}

/// Checks one record of the operator's pipeline; the message names what is wrong.
pub fn check_pipeline_record(r: &PipelineRecord) -> Result<(), String> {
    if r.external_id.trim().is_empty() || r.external_id.len() > 128 {
        return Err("external id must be 1-128 characters".into());
    }
    if r.company_name.trim().is_empty() || r.company_name.chars().count() > 255 {
        return Err("company name must be 1-255 characters".into());
    }
    if let Some(country) = &r.country {
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(format!("country {country:?} must be a two-letter ISO code"));
        }
    }
    if let Some(duns) = &r.duns {
        if duns.chars().filter(char::is_ascii_digit).count() != 9 || duns.chars().any(|c| !c.is_ascii_digit() && c != '-') {
            return Err(format!("DUNS {duns:?} must be 9 digits"));
        }
    }
    if let Some(website) = &r.website {
        if registrable_domain(website).is_none() {
            return Err(format!("website {website:?} has no registrable domain"));
        }
    }
    if r.stage.trim().is_empty() {
        return Err("stage is required".into());
    }
    if let Some(e) = &r.enrichment {
        e.check()?;
    }
    Ok(())
}

/// The two leading characters of a normalised name: the bucket fuzzy matching searches in.
pub fn name_prefix(name: &str) -> String {
    name.chars().take(2).collect()
}

/// Why two identities are the same customer, strongest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum MatchReason {
    Duns {
        duns: String,
    },
    Domain {
        domain: String,
    },
    NameAndCountry {
        name: String,
    },
    /// Jaro-Winkler similarity of the normalised names, same country.
    SimilarName {
        score_percent: u32,
    },
}

/// Names at least this similar (Jaro-Winkler, 0–100) in the same country are flagged.
pub const SIMILAR_NAME_PERCENT_MIN: u32 = 92;
/// Very short names are too ambiguous for fuzzy matching.
const FUZZY_NAME_CHARS_MIN: usize = 5;

/// How `a` matches `b`, if it does. Country must agree where both have one for name matches.
pub fn match_identities(a: &CustomerIdentity, b: &CustomerIdentity) -> Option<MatchReason> {
    if let (Some(x), Some(y)) = (&a.duns, &b.duns) {
        if x == y {
            return Some(MatchReason::Duns { duns: x.clone() });
        }
    }
    if let (Some(x), Some(y)) = (&a.domain, &b.domain) {
        if x == y {
            return Some(MatchReason::Domain { domain: x.clone() });
        }
    }
    let same_country = match (&a.country, &b.country) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    };
    if !same_country || a.name.is_empty() || b.name.is_empty() {
        return None;
    }
    if a.name == b.name {
        return Some(MatchReason::NameAndCountry { name: a.name.clone() });
    }
    if a.name.chars().count() >= FUZZY_NAME_CHARS_MIN && b.name.chars().count() >= FUZZY_NAME_CHARS_MIN {
        let score_percent = (strsim::jaro_winkler(&a.name, &b.name) * 100.0).floor() as u32;
        if score_percent >= SIMILAR_NAME_PERCENT_MIN {
            return Some(MatchReason::SimilarName { score_percent });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_2_company_names_normalise() {
        for (raw, expected) in [
            ("ACME Widgets, Inc.", "acme widgets"),
            ("Acme Widgets LLC", "acme widgets"),
            ("acme-widgets GmbH & Co. KG", "acme widgets"),
            ("Müller & Söhne GmbH", "müller and söhne"),
            ("Co", "co"),
            ("The Co-operative Bank plc", "the co operative bank"),
        ] {
            assert_eq!(normalise_company_name(raw), expected, "{raw}");
        }
    }

    #[test]
    fn sub_2_domains_are_registrable_and_public_suffix_aware() {
        for (raw, expected) in [
            ("https://www.example.com/path?q=1", Some("example.com")),
            ("shop.example.co.uk", Some("example.co.uk")),
            ("http://user@sub.example.com.au:8443/", Some("example.com.au")),
            ("EXAMPLE.COM.", Some("example.com")),
            ("localhost", None),
            ("http://10.0.0.1/", None),
        ] {
            assert_eq!(registrable_domain(raw).as_deref(), expected, "{raw}");
        }
    }

    #[test]
    fn sub_2_pipeline_rows_are_checked() {
        let good = PipelineRecord {
            external_id: "SF-1".into(),
            company_name: "Acme".into(),
            website: Some("acme.com".into()),
            country: Some("US".into()),
            duns: Some("123-456-789".into()),
            stage: "Qualified".into(),
            owner: None,
            enrichment: None,
        };
        assert_eq!(check_pipeline_record(&good), Ok(()));
        for bad in [
            PipelineRecord { external_id: "".into(), ..good.clone() },
            PipelineRecord { company_name: " ".into(), ..good.clone() },
            PipelineRecord { country: Some("USA".into()), ..good.clone() },
            PipelineRecord { duns: Some("12".into()), ..good.clone() },
            PipelineRecord { website: Some("localhost".into()), ..good.clone() },
            PipelineRecord { stage: "".into(), ..good.clone() },
        ] {
            assert!(check_pipeline_record(&bad).is_err(), "{bad:?}");
        }
        assert!(!PipelineRecord { stage: "Closed Won".into(), ..good.clone() }.is_active());
        assert!(good.is_active());
    }

    #[test]
    fn sub_2_matching() {
        let id = |name: &str, web: Option<&str>, duns: Option<&str>, cc: &str| CustomerIdentity::new(name, web, duns, Some(cc));
        let acme = id("Acme Widgets Inc", Some("https://www.acme.com"), Some("123456789"), "US");
        assert_eq!(
            match_identities(&acme, &id("Other", None, Some("123-456-789"), "DE")),
            Some(MatchReason::Duns { duns: "123456789".into() })
        );
        assert_eq!(
            match_identities(&acme, &id("Different", Some("sales.acme.com"), None, "US")),
            Some(MatchReason::Domain { domain: "acme.com".into() })
        );
        assert_eq!(
            match_identities(&acme, &id("ACME WIDGETS, LLC", None, None, "US")),
            Some(MatchReason::NameAndCountry { name: "acme widgets".into() })
        );
        assert_eq!(match_identities(&acme, &id("Acme Widgets", None, None, "DE")), None, "another country");
        assert!(matches!(
            match_identities(&acme, &id("Acme Widget", None, None, "US")),
            Some(MatchReason::SimilarName { score_percent }) if score_percent >= SIMILAR_NAME_PERCENT_MIN
        ));
        assert_eq!(match_identities(&acme, &id("Apex Gadgets", None, None, "US")), None);
        assert_eq!(
            match_identities(&id("Acme", None, None, "US"), &id("Acne", None, None, "US")),
            None,
            "short names are not fuzzy-matched"
        );
    }
}
