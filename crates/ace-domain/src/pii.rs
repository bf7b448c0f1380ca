//! SUB-5: a scanner for personal or sensitive information in free text.
//!
//! What it finds, each with a stable kind:
//!
//! | kind | what | how |
//! |---|---|---|
//! | `us-ssn` | US Social Security numbers | `123-45-6789` (SSA's invalid ranges excluded) within a few words of "SSN", "social security", "tax id" — part numbers share the format |
//! | `payment-card` | card numbers | 13–19 digits (spaces or dashes allowed), a card-network prefix, Luhn-valid |
//! | `iban` | bank account numbers | country code, check digits, 11–30 characters, ISO 13616 mod-97 valid |
//! | `date-of-birth` | a birth date | a date next to "born", "DOB", "date of birth", "birthday" |
//! | `email-address` | a person's email | any address except role mailboxes (info@, sales@, support@ …) |
//! | `phone-number` | a phone number | `+` and 8–15 digits, `(415) 555-0100`, `415-555-0100`, or digits after "phone"/"tel"/"mobile" |
//! | `health-information` | health facts about a person | a health term within a few words of a person (pronoun, honorific) |
//!
//! It is deliberately conservative about ordinary business text: order numbers, version
//! strings, prices, dates without a birth keyword, and health-sector vocabulary without a
//! person nearby are not findings (see the tests).

use std::sync::OnceLock;

use regex::Regex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PiiKind {
    UsSsn,
    PaymentCard,
    Iban,
    DateOfBirth,
    EmailAddress,
    PhoneNumber,
    HealthInformation,
}

impl PiiKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::UsSsn => "us-ssn",
            PiiKind::PaymentCard => "payment-card",
            PiiKind::Iban => "iban",
            PiiKind::DateOfBirth => "date-of-birth",
            PiiKind::EmailAddress => "email-address",
            PiiKind::PhoneNumber => "phone-number",
            PiiKind::HealthInformation => "health-information",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            PiiKind::UsSsn => "a US Social Security number",
            PiiKind::PaymentCard => "a payment card number",
            PiiKind::Iban => "a bank account number (IBAN)",
            PiiKind::DateOfBirth => "a date of birth",
            PiiKind::EmailAddress => "a personal email address",
            PiiKind::PhoneNumber => "a phone number",
            PiiKind::HealthInformation => "health information about a person",
        }
    }
}

struct Patterns {
    ssn: Regex,
    ssn_keyword: Regex,
    card: Regex,
    iban: Regex,
    dob: Regex,
    email: Regex,
    phone_plus: Regex,
    phone_formatted: Regex,
    phone_labelled: Regex,
    health: Regex,
    person: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let r = |s: &str| Regex::new(s).expect("static regex");
        Patterns {
            ssn: r(r"\b(\d{3})-(\d{2})-(\d{4})\b"),
            ssn_keyword: r(r"(?i)\b(ssn|social security|soc\.? ?sec|ss#|tax ?id|taxpayer id|itin)\b"),
            card: r(r"\b\d(?:[ -]?\d){12,18}\b"),
            iban: r(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"),
            dob: r(r"(?i)\b(?:d\.?o\.?b\.?|date of birth|birth ?date|birthday|born(?: on| in)?)\b[\s:,-]*(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{1,2}(?:st|nd|rd|th)? (?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* \d{4}|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* \d{1,2}(?:st|nd|rd|th)?,? \d{4})"),
            email: r(r"(?i)\b([a-z0-9._%+-]+)@([a-z0-9-]+(?:\.[a-z0-9-]+)+)\b"),
            phone_plus: r(r"\+\d(?:[ .-]?\(?\d\)?){7,14}\b"),
            phone_formatted: r(r"(?:\(\d{3}\)\s?|\b\d{3}[-. ])\d{3}[-. ]\d{4}\b"),
            phone_labelled: r(r"(?i)\b(?:phone|tel|telephone|mobile|cell|call(?: me)? (?:at|on))\b[\s.:#]*\+?\d[\d ()./-]{6,18}\d"),
            health: r(r"(?i)\b(diagnos(?:ed|is)|cancer|diabet(?:es|ic)|pregnan(?:t|cy)|hiv|aids|depression|disabilit(?:y|ies)|disabled|chemotherapy|illness|medical condition|sick leave|surgery|mental health|therapy|treatment for)\b"),
            person: r(r"(?i)\b(he|she|his|her|him|mr|mrs|ms|dr|patient|employee|wife|husband|son|daughter)\b"),
        }
    })
}

/// Mailboxes of a role rather than a person.
const ROLE_MAILBOXES: [&str; 16] = [
    "info",
    "sales",
    "support",
    "contact",
    "admin",
    "hello",
    "office",
    "procurement",
    "it",
    "billing",
    "noreply",
    "no-reply",
    "team",
    "help",
    "enquiries",
    "inquiries",
];

fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(*d);
        if !i.is_multiple_of(2) {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Visa, Mastercard, American Express, Discover, JCB, Diners, UnionPay, Maestro prefixes.
fn card_network_prefix(digits: &str) -> bool {
    let p2: u32 = digits.get(..2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let p4: u32 = digits.get(..4).and_then(|s| s.parse().ok()).unwrap_or(0);
    digits.starts_with('4')
        || (51..=55).contains(&p2)
        || (2221..=2720).contains(&p4)
        || p2 == 34
        || p2 == 37
        || digits.starts_with("6011")
        || p2 == 65
        || (3528..=3589).contains(&p4)
        || p2 == 36
        || p2 == 62
        || [50, 56, 57, 58, 67].contains(&p2)
}

fn iban_valid(candidate: &str) -> bool {
    let compact: String = candidate.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let rearranged = format!("{}{}", &compact[4..], &compact[..4]);
    let mut remainder: u32 = 0;
    for c in rearranged.chars() {
        let value = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        for digit in value.to_string().chars() {
            remainder = (remainder * 10 + (digit as u32 - '0' as u32)) % 97;
        }
    }
    remainder == 1
}

fn ssn_valid(area: &str, group: &str, serial: &str) -> bool {
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

/// Words between two byte offsets of `text`.
fn words_between(text: &str, a: usize, b: usize) -> usize {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    text.get(lo..hi).map_or(usize::MAX, |s| s.split_whitespace().count())
}

const HEALTH_PERSON_WORDS_MAX: usize = 6;
const SSN_KEYWORD_WORDS_MAX: usize = 4;

/// Every kind of personal or sensitive information found in `text`, each once, in kind order.
pub fn scan(text: &str) -> Vec<PiiKind> {
    let p = patterns();
    let mut found = Vec::new();
    let ssn = p.ssn.captures_iter(text).any(|c| {
        let whole = c.get(0).expect("group 0");
        ssn_valid(&c[1], &c[2], &c[3])
            && p.ssn_keyword.find_iter(text).any(|k| words_between(text, k.start(), whole.start()) <= SSN_KEYWORD_WORDS_MAX)
    });
    if ssn {
        found.push(PiiKind::UsSsn);
    }
    let card = p.card.find_iter(text).any(|m| {
        let digits: String = m.as_str().chars().filter(char::is_ascii_digit).collect();
        let bytes: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
        (13..=19).contains(&bytes.len()) && card_network_prefix(&digits) && luhn_valid(&bytes)
    });
    if card {
        found.push(PiiKind::PaymentCard);
    }
    if p.iban.find_iter(text).any(|m| iban_valid(m.as_str())) {
        found.push(PiiKind::Iban);
    }
    if p.dob.is_match(text) {
        found.push(PiiKind::DateOfBirth);
    }
    if p.email.captures_iter(text).any(|c| !ROLE_MAILBOXES.contains(&c[1].to_ascii_lowercase().as_str())) {
        found.push(PiiKind::EmailAddress);
    }
    let phone = p.phone_plus.find_iter(text).any(|m| {
        let digits = m.as_str().chars().filter(char::is_ascii_digit).count();
        (8..=15).contains(&digits)
    }) || p.phone_formatted.is_match(text)
        || p.phone_labelled.is_match(text);
    if phone {
        found.push(PiiKind::PhoneNumber);
    }
    let health = p.health.find_iter(text).any(|h| {
        p.person.find_iter(text).any(|person| words_between(text, h.start(), person.start()) <= HEALTH_PERSON_WORDS_MAX)
    });
    if health {
        found.push(PiiKind::HealthInformation);
    }
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use PiiKind::*;

    fn check(text: &str, expected: &[PiiKind]) {
        assert_eq!(scan(text), expected, "{text:?}");
    }

    #[test]
    fn sub_5_finds_personal_and_sensitive_data() {
        check("Contact SSN 123-45-6789 for the account", &[UsSsn]);
        check("her social security number is 219-09-9999", &[UsSsn]);
        check("Card on file 4111 1111 1111 1111 exp 12/29", &[PaymentCard]);
        check("card 5500-0000-0000-0004", &[PaymentCard]);
        check("Pay to DE89 3704 0044 0532 0130 00 please", &[Iban]);
        check("IBAN GB82WEST12345698765432", &[Iban]);
        check("The CTO was born on 12/03/1980", &[DateOfBirth]);
        check("DOB: 1975-04-01", &[DateOfBirth]);
        check("date of birth March 3, 1980", &[DateOfBirth]);
        check("Reach jane.doe@gmail.com after 5pm", &[EmailAddress]);
        check("Write to j.smith@example-corp.com", &[EmailAddress]);
        check("Call +1 415 555 0100 tomorrow", &[PhoneNumber]);
        check("Her number is (415) 555-0100", &[PhoneNumber]);
        check("mobile: 0171 2345678", &[PhoneNumber]);
        check("The CFO was diagnosed with cancer last month, so she delegated", &[HealthInformation]);
        check("Mr. Smith is on sick leave until June", &[HealthInformation]);
    }

    #[test]
    fn sub_5_ordinary_business_text_is_not_a_finding() {
        for text in [
            "Migrate 40 VMs and 3 Oracle databases to AWS by Q3 2025.",
            "Purchase order PO-2024-000123 approved; budget $1,250,000.",
            "Upgrade from version 10.2.3.4 to 12.1 of the ERP.",
            "Order number 1234567890123 was delayed.",
            "Write to sales@example.com or info@example.com for the RFP.",
            "Go-live date 2025-03-01, kickoff 12/03/2024.",
            "Healthcare provider modernising its cancer research data platform.",
            "Hospital wants HIPAA-compliant storage for imaging.",
            "Invoice INV 4111 due; 16 licences at 29.99 each.",
            "SKU 400-12-3456 replaced by 400-12-3457 in the catalogue",
            "Reference 000-12-3456 is not a real SSN",
            "Contract ID DE12ABC is internal",
        ] {
            check(text, &[]);
        }
    }

    #[test]
    fn luhn_and_iban_checks() {
        assert!(luhn_valid(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
        assert!(!luhn_valid(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]));
        assert!(iban_valid("DE89 3704 0044 0532 0130 00"));
        assert!(!iban_valid("DE88 3704 0044 0532 0130 00"));
    }
}
