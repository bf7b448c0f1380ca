//! What a submission must carry, and the pre-screen that checks it before a reviewer sees it:
//! SUB-3 (pre-sales effort), SUB-4 (customer consent), SUB-5 (no personal data without
//! consent), SUB-6 (marketing leads only once SUB-3 and SUB-4 hold). SUB-2 (conflicts) is
//! matched in [`crate::identity`] and reported here as non-blocking findings.
//!
//! Findings come in a fixed precedence: SUB-3, SUB-4, SUB-5, SUB-6, then SUB-2.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::identity::MatchReason;
use crate::model::{FieldError, FieldErrorCode};
use crate::opportunity::Opportunity;
use crate::pii::{self, PiiKind};
use crate::time::{parse_date, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsentMethod {
    Email,
    Form,
    Verbal,
    Signed,
}

/// Where the opportunity came from, as the partner attests (SUB-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeadSource {
    Direct,
    ContactForm,
    Webinar,
    MarketingCampaign,
    OtherLeadGeneration,
}

impl LeadSource {
    pub fn is_lead_generation(self) -> bool {
        !matches!(self, LeadSource::Direct)
    }
}

/// SUB-3: what the partner did, with whom at the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PreSalesEffort {
    pub description: String,
    #[serde(default)]
    pub activities: Vec<String>,
    /// A role or title ("CIO"), never a person's name.
    pub decision_maker_engaged: String,
    #[serde(default)]
    pub last_meeting_date: Option<String>,
}

/// SUB-4: the customer's clear, affirmative consent to disclose its contact data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomerConsent {
    pub statement_version: String,
    pub method: ConsentMethod,
    pub obtained_at: String,
    pub obtained_by: String,
}

/// The partner's attestation for one opportunity (`AcePartner.PutSubmissionAttestation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attestation {
    pub pre_sales_effort: Option<PreSalesEffort>,
    pub customer_consent: Option<CustomerConsent>,
    #[serde(default)]
    pub sensitive_data_consent: bool,
    #[serde(default)]
    pub lead_source: Option<LeadSource>,
    /// Who recorded it (the partner user) and when.
    pub recorded_by: String,
    pub recorded_at: String,
}

/// A partner's standing attestation (issue 22, SUB-4): customer consent is obtained before every
/// submission, under the published consent statement `consent_statement_version`, and evidence
/// is produced on request (SUB-4's evidence requests). With one on file — and the operator's
/// policy allowing it — a submission through the standard Selling API alone meets SUB-4, and
/// SUB-3 when its own fields evidence the pre-sales effort ([`presales_in_document`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandingAttestation {
    pub partner_id: String,
    pub consent_statement_version: String,
    /// The partner's statement of its consent practice, as filed, and its SHA-256.
    pub statement: String,
    pub statement_sha256: String,
    pub recorded_by: String,
    pub recorded_at: String,
}

/// What satisfied SUB-3 and SUB-4 at a submission, shown to the reviewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// `AcePartner.PutSubmissionAttestation` for this opportunity (it overrides a standing one).
    PerOpportunity,
    /// The partner's standing attestation (SUB-4), or its standard fields under one (SUB-3).
    Standing,
    /// Not met.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationBasis {
    pub presales: Basis,
    pub consent: Basis,
}

/// SUB-3 evidenced by the Selling API's own fields, for a partner with a standing attestation:
/// what was done is `Project.SalesActivities` (at least one) and `Project.CustomerBusinessProblem`
/// (the description, held to the same length as an attested one), and with whom at the customer
/// is the `BusinessTitle` of a `Customer.Contacts` entry — a role, as SUB-3's attested
/// `DecisionMakerEngaged` is. `LifeCycle.NextSteps` and the opportunity team are not asked for:
/// they say what comes next and who sells, not what was done with whom.
pub fn presales_in_document(o: &Opportunity) -> Option<PreSalesEffort> {
    let project = o.document.get("Project")?;
    let description = project.get("CustomerBusinessProblem").and_then(Value::as_str)?.to_string();
    let activities: Vec<String> = project
        .get("SalesActivities")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let contacts = o.document.get("Customer").and_then(|c| c.get("Contacts")).and_then(Value::as_array);
    let decision_maker = contacts
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("BusinessTitle").and_then(Value::as_str))
        .find(|t| !t.trim().is_empty())
        .unwrap_or_default()
        .to_string();
    Some(PreSalesEffort { description, activities, decision_maker_engaged: decision_maker, last_meeting_date: None })
}

/// SUB-3: a description must say what was done in at least this many characters and words.
pub const PRESALES_DESCRIPTION_CHARS_MIN: usize = 40;
pub const PRESALES_DESCRIPTION_WORDS_MIN: usize = 8;

/// Words that make "DecisionMakerEngaged" a role rather than a name.
const ROLE_WORDS: [&str; 32] = [
    "ceo",
    "cto",
    "cio",
    "cfo",
    "coo",
    "ciso",
    "cdo",
    "cmo",
    "vp",
    "vice",
    "president",
    "director",
    "head",
    "manager",
    "lead",
    "architect",
    "engineer",
    "owner",
    "officer",
    "chief",
    "founder",
    "partner",
    "principal",
    "administrator",
    "procurement",
    "buyer",
    "sponsor",
    "it",
    "board",
    "executive",
    "chair",
    "controller",
];

fn error(field: &str, code: FieldErrorCode, message: String) -> FieldError {
    FieldError::new(field, code, message)
}

/// Business checks on an attestation being recorded; `now` for dates in the future.
pub fn check_attestation(a: &Attestation, published_statement_versions: &[String], now: Instant) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(effort) = &a.pre_sales_effort {
        let role = effort.decision_maker_engaged.to_lowercase();
        let words: Vec<&str> = role.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
        if !words.iter().any(|w| ROLE_WORDS.contains(w)) || !pii::scan(&effort.decision_maker_engaged).is_empty() {
            errors.push(error(
                "PreSalesEffort.DecisionMakerEngaged",
                FieldErrorCode::InvalidValue,
                "PreSalesEffort.DecisionMakerEngaged must be a role or title such as \"CIO\" or \"Head of IT\", not a person's name or contact".into(),
            ));
        }
        if let Some(date) = &effort.last_meeting_date {
            match parse_date(date) {
                None => errors.push(error(
                    "PreSalesEffort.LastMeetingDate",
                    FieldErrorCode::InvalidValue,
                    format!("PreSalesEffort.LastMeetingDate: {date} is not a date (YYYY-MM-DD)"),
                )),
                Some(d) if d > now.date_naive() => errors.push(error(
                    "PreSalesEffort.LastMeetingDate",
                    FieldErrorCode::InvalidValue,
                    format!("PreSalesEffort.LastMeetingDate: {date} is in the future"),
                )),
                Some(_) => {}
            }
        }
    }
    if let Some(consent) = &a.customer_consent {
        if !published_statement_versions.contains(&consent.statement_version) {
            errors.push(error(
                "CustomerConsent.StatementVersion",
                FieldErrorCode::InvalidValue,
                format!(
                    "CustomerConsent.StatementVersion {:?} was never published; published: {}",
                    consent.statement_version,
                    published_statement_versions.join(", ")
                ),
            ));
        }
        match crate::time::parse_timestamp(&Value::String(consent.obtained_at.clone())) {
            Some(t) if t > now => errors.push(error(
                "CustomerConsent.ObtainedAt",
                FieldErrorCode::InvalidValue,
                "CustomerConsent.ObtainedAt is in the future".into(),
            )),
            Some(_) => {}
            None => errors.push(error(
                "CustomerConsent.ObtainedAt",
                FieldErrorCode::InvalidValue,
                "CustomerConsent.ObtainedAt must be an ISO-8601 date-time".into(),
            )),
        }
    }
    errors
}

/// Stable codes of pre-screen findings; the reviewer's reason codes reuse the same words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingCode {
    /// SUB-3: no attestation of pre-sales effort.
    MissingPresales,
    /// SUB-3: the description is too thin, or activities or the decision maker are missing.
    InsufficientPresales,
    /// SUB-4: no consent record.
    MissingConsent,
    /// SUB-4: the consent names a statement version that was never published.
    UnknownConsentStatement,
    /// SUB-5: personal or sensitive data in free text without consent.
    PersonalData,
    /// SUB-6: a lead from marketing or lead generation without SUB-3 and SUB-4.
    UnqualifiedMarketingLead,
    /// SUB-2: the operator already pursues this customer.
    AlreadyPursued,
    /// SUB-2: another partner has an active submission for this customer.
    ActiveSubmissionElsewhere,
}

impl FindingCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingCode::MissingPresales => "missing-presales",
            FindingCode::InsufficientPresales => "insufficient-presales",
            FindingCode::MissingConsent => "missing-consent",
            FindingCode::UnknownConsentStatement => "unknown-consent-statement",
            FindingCode::PersonalData => "personal-data",
            FindingCode::UnqualifiedMarketingLead => "unqualified-marketing-lead",
            FindingCode::AlreadyPursued => "already-pursued",
            FindingCode::ActiveSubmissionElsewhere => "active-submission-elsewhere",
        }
    }

    pub fn rule(self) -> &'static str {
        match self {
            FindingCode::MissingPresales | FindingCode::InsufficientPresales => "SUB-3",
            FindingCode::MissingConsent | FindingCode::UnknownConsentStatement => "SUB-4",
            FindingCode::PersonalData => "SUB-5",
            FindingCode::UnqualifiedMarketingLead => "SUB-6",
            FindingCode::AlreadyPursued | FindingCode::ActiveSubmissionElsewhere => "SUB-2",
        }
    }

    /// Blocking findings refuse the submission; the others go to the reviewer.
    pub fn blocks_submission(self) -> bool {
        !matches!(self, FindingCode::AlreadyPursued | FindingCode::ActiveSubmissionElsewhere)
    }
}

/// One pre-screen finding, with the figures that explain it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub code: FindingCode,
    pub rule: String,
    pub field: String,
    pub message: String,
    /// SUB-2 only: what matched and why (never shown to the submitting partner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<ConflictMatch>,
}

impl Finding {
    fn new(code: FindingCode, field: &str, message: String) -> Finding {
        Finding { code, rule: code.rule().into(), field: field.into(), message, conflict: None }
    }

    /// The `ValidationException` entry a blocking finding becomes.
    pub fn to_field_error(&self) -> FieldError {
        let code = match self.code {
            FindingCode::MissingPresales | FindingCode::MissingConsent => FieldErrorCode::RequiredFieldMissing,
            _ => FieldErrorCode::InvalidValue,
        };
        FieldError::new(&self.field, code, format!("[{} {}] {}", self.rule, self.code.as_str(), self.message))
    }
}

/// A SUB-2 match: which record, whose, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictMatch {
    /// `operator-pipeline` or `partner-submission`.
    pub source: String,
    /// The operator's external id, or the other opportunity's id.
    pub record_id: String,
    pub company_name: String,
    /// The other partner, for partner submissions (operator eyes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    pub reason: MatchReason,
}

/// The free-text fields SUB-5 scans, as (path, field name).
const FREE_TEXT_FIELDS: [(&[&str], &str); 8] = [
    (&["Project", "Title"], "Project.Title"),
    (&["Project", "CustomerBusinessProblem"], "Project.CustomerBusinessProblem"),
    (&["Project", "AdditionalComments"], "Project.AdditionalComments"),
    (&["Project", "OtherSolutionDescription"], "Project.OtherSolutionDescription"),
    (&["Project", "OtherCompetitorNames"], "Project.OtherCompetitorNames"),
    (&["LifeCycle", "NextSteps"], "LifeCycle.NextSteps"),
    (&["Marketing", "CampaignName"], "Marketing.CampaignName"),
    (&["Customer", "Account", "OtherIndustry"], "Customer.Account.OtherIndustry"),
];

fn text_at<'a>(o: &'a Opportunity, path: &[&str]) -> Option<&'a str> {
    let (first, rest) = path.split_first()?;
    let mut v = o.document.get(*first)?;
    for p in rest {
        v = v.get(*p)?;
    }
    v.as_str()
}

/// The pre-screen guards real submissions to the operator: the `AWS` catalog. The Sandbox is a
/// functional stand-in for Partner Central, whose clients know nothing of attestations.
pub fn prescreen_applies(catalog: crate::ids::Catalog) -> bool {
    catalog == crate::ids::Catalog::Aws
}

/// SUB-3 … SUB-6 over an opportunity and its attestation, in precedence order.
pub fn prescreen(o: &Opportunity, attestation: Option<&Attestation>, published_statement_versions: &[String]) -> Vec<Finding> {
    prescreen_with(o, attestation, None, published_statement_versions).0
}

/// [`prescreen`] with the partner's standing attestation when the operator allows one (issue
/// 22): the per-opportunity attestation overrides it member by member. Returns the findings and
/// what satisfied SUB-3 and SUB-4.
pub fn prescreen_with(
    o: &Opportunity,
    attestation: Option<&Attestation>,
    standing: Option<&StandingAttestation>,
    published_statement_versions: &[String],
) -> (Vec<Finding>, AttestationBasis) {
    let mut findings = Vec::new();
    let in_document = standing.and_then(|_| presales_in_document(o));
    let (effort, presales_basis) = match (attestation.and_then(|a| a.pre_sales_effort.as_ref()), &in_document) {
        (Some(effort), _) => (Some(effort), Basis::PerOpportunity),
        (None, Some(effort)) => (Some(effort), Basis::Standing),
        (None, None) => (None, Basis::None),
    };
    let (consent_version, consent_basis) = match (attestation.and_then(|a| a.customer_consent.as_ref()), standing) {
        (Some(c), _) => (Some(c.statement_version.as_str()), Basis::PerOpportunity),
        (None, Some(s)) => (Some(s.consent_statement_version.as_str()), Basis::Standing),
        (None, None) => (None, Basis::None),
    };
    // SUB-3
    match effort {
        None => findings.push(Finding::new(
            FindingCode::MissingPresales,
            "PreSalesEffort",
            "describe the pre-sales effort (what was done, with whom at the customer) with AcePartner.PutSubmissionAttestation, \
             or, with a standing attestation on file, in Project.SalesActivities, Project.CustomerBusinessProblem and a \
             Customer.Contacts BusinessTitle"
                .into(),
        )),
        Some(effort) => {
            let chars = effort.description.trim().chars().count();
            let words = effort.description.split_whitespace().count();
            let mut missing = Vec::new();
            if chars < PRESALES_DESCRIPTION_CHARS_MIN || words < PRESALES_DESCRIPTION_WORDS_MIN {
                missing.push(format!(
                    "the description has {chars} characters and {words} words (at least {PRESALES_DESCRIPTION_CHARS_MIN} and {PRESALES_DESCRIPTION_WORDS_MIN} needed)"
                ));
            }
            let standard = presales_basis == Basis::Standing;
            if effort.activities.is_empty() {
                missing.push(if standard { "Project.SalesActivities lists none" } else { "no activities are listed" }.into());
            }
            if effort.decision_maker_engaged.trim().is_empty() {
                missing.push(
                    if standard {
                        "no Customer.Contacts entry has a BusinessTitle"
                    } else {
                        "no decision maker is named by role"
                    }
                    .into(),
                );
            }
            if !missing.is_empty() {
                findings.push(Finding::new(
                    FindingCode::InsufficientPresales,
                    if standard { "Project.CustomerBusinessProblem" } else { "PreSalesEffort.Description" },
                    format!("the pre-sales effort is too thin: {}", missing.join("; ")),
                ));
            }
        }
    }
    // SUB-4
    match consent_version {
        None => findings.push(Finding::new(
            FindingCode::MissingConsent,
            "CustomerConsent",
            "record the customer's consent to disclose its contact data (statement, method, when, by whom) with \
             AcePartner.PutSubmissionAttestation, or file a standing attestation with the operator (ace partner attest)"
                .into(),
        )),
        Some(v) if !published_statement_versions.iter().any(|p| p == v) => findings.push(Finding::new(
            FindingCode::UnknownConsentStatement,
            "CustomerConsent.StatementVersion",
            format!("consent statement version {v:?} was never published"),
        )),
        Some(_) => {}
    }
    // SUB-5
    if !attestation.is_some_and(|a| a.sensitive_data_consent) {
        let mut texts: Vec<(&str, &str)> =
            FREE_TEXT_FIELDS.iter().filter_map(|(path, field)| text_at(o, path).map(|t| (*field, t))).collect();
        if let Some(effort) = attestation.and_then(|a| a.pre_sales_effort.as_ref()) {
            texts.push(("PreSalesEffort.Description", &effort.description));
        }
        for (field, text) in texts {
            let kinds = pii::scan(text);
            if !kinds.is_empty() {
                let described: Vec<&str> = kinds.iter().map(|k: &PiiKind| k.describe()).collect();
                findings.push(Finding::new(
                    FindingCode::PersonalData,
                    field,
                    format!(
                        "{field} appears to contain {}; remove it, or record SensitiveDataConsent if the customer agreed",
                        described.join(" and ")
                    ),
                ));
            }
        }
    }
    // SUB-6
    let marketing =
        o.document.get("Marketing").and_then(|m| m.get("Source")).and_then(Value::as_str) == Some("Marketing Activity");
    let lead_generation = attestation.and_then(|a| a.lead_source).is_some_and(LeadSource::is_lead_generation);
    let sub_3_or_4_failed = findings.iter().any(|f| matches!(f.code.rule(), "SUB-3" | "SUB-4"));
    if (marketing || lead_generation) && sub_3_or_4_failed {
        findings.push(Finding::new(
            FindingCode::UnqualifiedMarketingLead,
            if marketing { "Marketing.Source" } else { "LeadSource" },
            "a lead from marketing or lead generation can be submitted only once its pre-sales effort (SUB-3) and customer consent (SUB-4) are recorded".into(),
        ));
    }
    let met = |rule: &str, basis: Basis| if findings.iter().any(|f| f.code.rule() == rule) { Basis::None } else { basis };
    let basis = AttestationBasis { presales: met("SUB-3", presales_basis), consent: met("SUB-4", consent_basis) };
    (findings, basis)
}

/// A record the conflict check (SUB-2) compares a submission against: only what matching
/// needs, so a store can serve it from indexed columns without reading whole documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictCandidate {
    /// `operator-pipeline` or `partner-submission`.
    pub source: &'static str,
    /// The operator's external id, or the other opportunity's id.
    pub record_id: String,
    pub company_name: String,
    pub partner_id: Option<String>,
    pub identity: crate::identity::CustomerIdentity,
}

impl ConflictCandidate {
    /// The operator's record, while it is still pursued (closed deals no longer count).
    pub fn from_pipeline(r: &crate::identity::PipelineRecord) -> Option<ConflictCandidate> {
        r.is_active().then(|| ConflictCandidate {
            source: "operator-pipeline",
            record_id: r.external_id.clone(),
            company_name: r.company_name.clone(),
            partner_id: None,
            identity: r.identity(),
        })
    }

    /// A partner's submission, while it is active (submitted, in review or approved, and not
    /// launched or lost).
    pub fn from_submission(o: &Opportunity) -> Option<ConflictCandidate> {
        is_active_submission(o).then(|| ConflictCandidate {
            source: "partner-submission",
            record_id: o.id.clone(),
            company_name: o.company_name().unwrap_or_default().to_string(),
            partner_id: Some(o.partner_id.clone()),
            identity: o.identity(),
        })
    }
}

/// SUB-2: the candidates (active pipeline records, other partners' active submissions in the
/// same catalog, see [`ConflictCandidate`]) that match `o`'s customer. `o`'s own partner's
/// records never count against it.
pub fn find_conflicts(o: &Opportunity, candidates: &[ConflictCandidate]) -> Vec<ConflictMatch> {
    let identity = o.identity();
    candidates
        .iter()
        .filter(|c| c.partner_id.as_deref() != Some(o.partner_id.as_str()))
        .filter_map(|c| {
            crate::identity::match_identities(&identity, &c.identity).map(|reason| ConflictMatch {
                source: c.source.to_string(),
                record_id: c.record_id.clone(),
                company_name: c.company_name.clone(),
                partner_id: c.partner_id.clone(),
                reason,
            })
        })
        .collect()
}

/// SUB-2 findings for the matches found.
pub fn conflict_findings(matches: Vec<ConflictMatch>) -> Vec<Finding> {
    matches
        .into_iter()
        .map(|m| {
            let (code, what) = if m.source == "operator-pipeline" {
                (FindingCode::AlreadyPursued, "the operator's own pipeline")
            } else {
                (FindingCode::ActiveSubmissionElsewhere, "another partner's active submission")
            };
            let mut f =
                Finding::new(code, "Customer.Account", format!("the customer matches {what} ({}: {:?})", m.record_id, m.reason));
            f.conflict = Some(m);
            f
        })
        .collect()
}

/// Why a reviewer sent back or rejected a submission (SUB-1), a documented enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReviewReason {
    AlreadyPursued,
    InsufficientPresales,
    MissingConsent,
    PersonalData,
    UnqualifiedMarketingLead,
    IncompleteInformation,
    NotQualified,
    Duplicate,
    Other,
}

impl ReviewReason {
    pub const ALL: [ReviewReason; 9] = [
        ReviewReason::AlreadyPursued,
        ReviewReason::InsufficientPresales,
        ReviewReason::MissingConsent,
        ReviewReason::PersonalData,
        ReviewReason::UnqualifiedMarketingLead,
        ReviewReason::IncompleteInformation,
        ReviewReason::NotQualified,
        ReviewReason::Duplicate,
        ReviewReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewReason::AlreadyPursued => "already-pursued",
            ReviewReason::InsufficientPresales => "insufficient-presales",
            ReviewReason::MissingConsent => "missing-consent",
            ReviewReason::PersonalData => "personal-data",
            ReviewReason::UnqualifiedMarketingLead => "unqualified-marketing-lead",
            ReviewReason::IncompleteInformation => "incomplete-information",
            ReviewReason::NotQualified => "not-qualified",
            ReviewReason::Duplicate => "duplicate",
            ReviewReason::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<ReviewReason> {
        ReviewReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// SUB-4: the operator's request for evidence of a customer's consent, and the partner's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRequest {
    pub id: String,
    pub catalog: crate::ids::Catalog,
    pub opportunity_id: String,
    pub partner_id: String,
    pub status: EvidenceStatus,
    pub message: String,
    pub requested_at: Instant,
    pub requested_by: String,
    #[serde(default)]
    pub evidence: Option<String>,
    #[serde(default)]
    pub evidence_sha256: Option<String>,
    #[serde(default)]
    pub answered_at: Option<Instant>,
    #[serde(default)]
    pub answered_by: Option<String>,
    #[serde(default)]
    pub closed_at: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EvidenceStatus {
    Open,
    Answered,
    Closed,
}

impl EvidenceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceStatus::Open => "OPEN",
            EvidenceStatus::Answered => "ANSWERED",
            EvidenceStatus::Closed => "CLOSED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    #[error("evidence request {0} is closed; it can no longer be answered")]
    Closed(String),
    #[error("evidence request {0} is already closed")]
    AlreadyClosed(String),
}

impl EvidenceRequest {
    /// The partner answers (or corrects its answer) while the request is not closed.
    pub fn respond(&mut self, evidence: String, sha256: Option<String>, by: &str, now: Instant) -> Result<(), EvidenceError> {
        if self.status == EvidenceStatus::Closed {
            return Err(EvidenceError::Closed(self.id.clone()));
        }
        self.status = EvidenceStatus::Answered;
        self.evidence = Some(evidence);
        self.evidence_sha256 = sha256;
        self.answered_at = Some(now);
        self.answered_by = Some(by.to_string());
        Ok(())
    }

    /// The operator closes it; the request and the answer are kept.
    pub fn close(&mut self, now: Instant) -> Result<(), EvidenceError> {
        if self.status == EvidenceStatus::Closed {
            return Err(EvidenceError::AlreadyClosed(self.id.clone()));
        }
        self.status = EvidenceStatus::Closed;
        self.closed_at = Some(now);
        Ok(())
    }
}

/// SUB-2: a submission counts against other partners' while it is in or through review and open.
pub fn is_active_submission(o: &Opportunity) -> bool {
    use crate::opportunity::ReviewStatus as S;
    matches!(o.review_status(), S::Submitted | S::InReview | S::ActionRequired | S::Approved)
        && !o.stage().is_some_and(crate::opportunity::stage_is_terminal)
}

/// The consent wording of the program text, published at bootstrap as version `2021-10-27`.
pub const INITIAL_CONSENT_STATEMENT_VERSION: &str = "2021-10-27";
pub const INITIAL_CONSENT_STATEMENT: &str = "Yes, I'd like for you to provide my contact information to Amazon Web Services (AWS) so AWS can share the latest AWS news and offers with me by email, post or telephone. I understand I may unsubscribe from receiving news and offers from AWS at any time by following the instructions in the communications received. I understand AWS handles my information as described in the AWS Privacy Notice.";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Catalog;
    use crate::opportunity::{empty_related, Origin};
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn now() -> Instant {
        Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
    }

    fn opportunity(doc: Value) -> Opportunity {
        Opportunity {
            catalog: Catalog::Aws,
            id: "O1".into(),
            partner_id: "P".into(),
            document: doc.as_object().unwrap().clone(),
            origin: Origin::PartnerReferral,
            created: now(),
            last_modified: now(),
            related: empty_related(),
            tags: vec![],
            submission: None,
            approved_at: None,
            review: Default::default(),
            referral_id: None,
        }
    }

    fn attestation() -> Attestation {
        Attestation {
            pre_sales_effort: Some(PreSalesEffort {
                description: "Two workshops with the CIO and the platform team; agreed a migration plan for 40 VMs.".into(),
                activities: vec!["Workshop".into(), "Architecture review".into()],
                decision_maker_engaged: "CIO".into(),
                last_meeting_date: Some("2026-11-20".into()),
            }),
            customer_consent: Some(CustomerConsent {
                statement_version: "2021-10-27".into(),
                method: ConsentMethod::Email,
                obtained_at: "2026-11-20T10:00:00Z".into(),
                obtained_by: "alice".into(),
            }),
            sensitive_data_consent: false,
            lead_source: None,
            recorded_by: "alice".into(),
            recorded_at: "2026-11-21T10:00:00Z".into(),
        }
    }

    fn published() -> Vec<String> {
        vec!["2021-10-27".into()]
    }

    fn codes(o: &Opportunity, a: Option<&Attestation>) -> Vec<&'static str> {
        prescreen(o, a, &published()).iter().map(|f| f.code.as_str()).collect()
    }

    fn clean() -> Opportunity {
        opportunity(json!({"Project": {"Title": "Migration", "CustomerBusinessProblem": "Move 40 VMs to the cloud by Q3 2027."}}))
    }

    #[test]
    fn a_complete_attestation_passes() {
        assert!(codes(&clean(), Some(&attestation())).is_empty());
        assert!(check_attestation(&attestation(), &published(), now()).is_empty());
    }

    fn standing(version: &str) -> StandingAttestation {
        StandingAttestation {
            partner_id: "P-A".into(),
            consent_statement_version: version.into(),
            statement: "We ask every customer for consent before we share its contacts.".into(),
            statement_sha256: "0".repeat(64),
            recorded_by: "operator".into(),
            recorded_at: "2026-11-20T10:00:00Z".into(),
        }
    }

    fn standard_fields() -> Opportunity {
        opportunity(json!({
            "Customer": {"Contacts": [{"FirstName": "Ann", "BusinessTitle": "Head of IT"}]},
            "Project": {"Title": "Migration", "SalesActivities": ["Conducted POC / Demo"],
                        "CustomerBusinessProblem": "Two workshops showed 40 VMs and two databases must move to the cloud by Q3 2027."}}))
    }

    /// Issue 22: a standing attestation meets SUB-4, and SUB-3 when the standard fields say what
    /// was done with whom; the per-opportunity attestation overrides it; the basis says which.
    #[test]
    fn sub_3_sub_4_a_standing_attestation_with_standard_fields_meets_both() {
        let (findings, basis) = prescreen_with(&standard_fields(), None, Some(&standing("2021-10-27")), &published());
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(basis, AttestationBasis { presales: Basis::Standing, consent: Basis::Standing });
        let (findings, basis) =
            prescreen_with(&standard_fields(), Some(&attestation()), Some(&standing("2021-10-27")), &published());
        assert!(findings.is_empty());
        assert_eq!(basis, AttestationBasis { presales: Basis::PerOpportunity, consent: Basis::PerOpportunity });
        // Without one, the same document is refused, saying how to satisfy both rules.
        let (findings, basis) = prescreen_with(&standard_fields(), None, None, &published());
        let codes: Vec<&str> = findings.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, vec!["missing-presales", "missing-consent"]);
        assert!(findings[0].message.contains("standing attestation") && findings[1].message.contains("ace partner attest"));
        assert_eq!(basis, AttestationBasis { presales: Basis::None, consent: Basis::None });
    }

    #[test]
    fn sub_3_under_a_standing_attestation_the_standard_fields_must_say_enough() {
        let thin = opportunity(json!({"Project": {"CustomerBusinessProblem": "Cloud."}}));
        let (findings, basis) = prescreen_with(&thin, None, Some(&standing("2021-10-27")), &published());
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].code, FindingCode::InsufficientPresales);
        assert_eq!(findings[0].field, "Project.CustomerBusinessProblem");
        assert!(findings[0].message.contains("Project.SalesActivities") && findings[0].message.contains("BusinessTitle"));
        assert_eq!(basis.presales, Basis::None);
        assert_eq!(basis.consent, Basis::Standing);
        let (findings, _) = prescreen_with(&standard_fields(), None, Some(&standing("1999-01-01")), &published());
        assert_eq!(findings.iter().map(|f| f.code.as_str()).collect::<Vec<_>>(), vec!["unknown-consent-statement"]);
    }

    #[test]
    fn sub_3_presales_effort_is_required_and_must_say_something() {
        assert_eq!(codes(&clean(), None), vec!["missing-presales", "missing-consent"]);
        let mut a = attestation();
        a.pre_sales_effort.as_mut().unwrap().description = "Had a call with them about cloud stuff.".into();
        assert_eq!(codes(&clean(), Some(&a)), vec!["insufficient-presales"]);
        let mut a = attestation();
        a.pre_sales_effort.as_mut().unwrap().activities.clear();
        assert_eq!(codes(&clean(), Some(&a)), vec!["insufficient-presales"]);
        let mut a = attestation();
        a.pre_sales_effort.as_mut().unwrap().decision_maker_engaged = "John Smith".into();
        assert_eq!(check_attestation(&a, &published(), now())[0].field_name, "PreSalesEffort.DecisionMakerEngaged");
        a.pre_sales_effort.as_mut().unwrap().decision_maker_engaged = "Head of IT".into();
        assert!(check_attestation(&a, &published(), now()).is_empty());
    }

    #[test]
    fn sub_4_consent_is_required_with_a_published_statement() {
        let mut a = attestation();
        a.customer_consent = None;
        assert_eq!(codes(&clean(), Some(&a)), vec!["missing-consent"]);
        let mut a = attestation();
        a.customer_consent.as_mut().unwrap().statement_version = "1999-01-01".into();
        assert_eq!(codes(&clean(), Some(&a)), vec!["unknown-consent-statement"]);
        assert_eq!(check_attestation(&a, &published(), now())[0].field_name, "CustomerConsent.StatementVersion");
        let mut a = attestation();
        a.customer_consent.as_mut().unwrap().obtained_at = "2030-01-01T00:00:00Z".into();
        assert_eq!(check_attestation(&a, &published(), now())[0].field_name, "CustomerConsent.ObtainedAt");
    }

    #[test]
    fn sub_5_personal_data_in_free_text_is_refused_unless_consented() {
        let o = opportunity(json!({
            "Project": {"Title": "Migration", "CustomerBusinessProblem": "Card 4111 1111 1111 1111 is on file for the pilot billing."},
            "LifeCycle": {"NextSteps": "Call Jane on +1 415 555 0100"},
            "Customer": {"Contacts": [{"Email": "jane@example.com", "Phone": "+14155550100"}]}
        }));
        let findings = prescreen(&o, Some(&attestation()), &published());
        let fields: Vec<(&str, &str)> = findings.iter().map(|f| (f.code.as_str(), f.field.as_str())).collect();
        assert_eq!(
            fields,
            vec![("personal-data", "Project.CustomerBusinessProblem"), ("personal-data", "LifeCycle.NextSteps")],
            "structured contacts are what consent covers; free text is scanned"
        );
        assert!(findings[0].message.contains("payment card"));
        let mut a = attestation();
        a.sensitive_data_consent = true;
        assert!(codes(&o, Some(&a)).is_empty());
    }

    #[test]
    fn sub_6_marketing_leads_need_sub_3_and_sub_4() {
        let marketing = opportunity(json!({"Marketing": {"Source": "Marketing Activity"}}));
        assert_eq!(codes(&marketing, None), vec!["missing-presales", "missing-consent", "unqualified-marketing-lead"]);
        assert!(codes(&marketing, Some(&attestation())).is_empty(), "qualified once SUB-3 and SUB-4 hold");
        let mut a = attestation();
        a.lead_source = Some(LeadSource::Webinar);
        a.customer_consent = None;
        assert_eq!(codes(&clean(), Some(&a)), vec!["missing-consent", "unqualified-marketing-lead"]);
    }

    #[test]
    fn sub_2_conflicts_with_the_operator_pipeline_and_other_partners() {
        use crate::identity::PipelineRecord;
        use crate::opportunity::ReviewStatus;
        let mine =
            opportunity(json!({"Customer": {"Account": {"CompanyName": "Acme Widgets Inc", "WebsiteUrl": "https://acme.com",
            "Address": {"CountryCode": "US"}}}}));
        let record = |id: &str, stage: &str| PipelineRecord {
            external_id: id.into(),
            company_name: "ACME Widgets".into(),
            website: None,
            country: Some("US".into()),
            duns: None,
            stage: stage.into(),
            owner: None,
            enrichment: None,
        };
        let other = |partner: &str, status: ReviewStatus| {
            let mut o = opportunity(json!({"Customer": {"Account": {"CompanyName": "Other", "WebsiteUrl": "www.acme.com"}}}));
            o.partner_id = partner.into();
            o.id = format!("O-{partner}");
            o.set_review(status, None, None, now());
            o
        };
        let candidates: Vec<ConflictCandidate> = [record("SF-1", "Qualified"), record("SF-2", "Closed Lost")]
            .iter()
            .filter_map(ConflictCandidate::from_pipeline)
            .chain(
                [
                    other("Q", ReviewStatus::Submitted),
                    other("P", ReviewStatus::Submitted),
                    other("R", ReviewStatus::PendingSubmission),
                ]
                .iter()
                .filter_map(ConflictCandidate::from_submission),
            )
            .collect();
        let found = find_conflicts(&mine, &candidates);
        let ids: Vec<(&str, &str)> = found.iter().map(|m| (m.source.as_str(), m.record_id.as_str())).collect();
        assert_eq!(
            ids,
            vec![("operator-pipeline", "SF-1"), ("partner-submission", "O-Q")],
            "closed records, drafts and own records do not count"
        );
        assert!(matches!(found[1].reason, MatchReason::Domain { .. }));
    }

    #[test]
    fn sub_2_conflicts_do_not_block_but_are_reported() {
        let f = conflict_findings(vec![ConflictMatch {
            source: "operator-pipeline".into(),
            record_id: "SF-1".into(),
            company_name: "Acme".into(),
            partner_id: None,
            reason: MatchReason::Domain { domain: "acme.com".into() },
        }]);
        assert_eq!(f[0].code, FindingCode::AlreadyPursued);
        assert!(!f[0].code.blocks_submission());
        assert!(FindingCode::PersonalData.blocks_submission());
    }

    #[test]
    fn sub_4_evidence_requests_are_answered_then_closed() {
        let mut r = EvidenceRequest {
            id: "evr-1".into(),
            catalog: Catalog::Aws,
            opportunity_id: "O1".into(),
            partner_id: "P".into(),
            status: EvidenceStatus::Open,
            message: "show the form".into(),
            requested_at: now(),
            requested_by: "op".into(),
            evidence: None,
            evidence_sha256: None,
            answered_at: None,
            answered_by: None,
            closed_at: None,
        };
        r.respond("form record 42".into(), None, "alice", now()).unwrap();
        assert_eq!(r.status, EvidenceStatus::Answered);
        r.close(now()).unwrap();
        assert_eq!(r.respond("late".into(), None, "alice", now()), Err(EvidenceError::Closed("evr-1".into())));
        assert_eq!(r.evidence.as_deref(), Some("form record 42"), "the answer is kept");
        assert!(r.close(now()).is_err());
    }

    #[test]
    fn sub_1_review_reasons_are_a_closed_list() {
        for r in ReviewReason::ALL {
            assert_eq!(ReviewReason::parse(r.as_str()), Some(r));
        }
        assert_eq!(ReviewReason::parse("because"), None);
        for required in
            ["already-pursued", "insufficient-presales", "missing-consent", "personal-data", "unqualified-marketing-lead"]
        {
            assert!(ReviewReason::parse(required).is_some(), "{required}");
        }
    }
}
