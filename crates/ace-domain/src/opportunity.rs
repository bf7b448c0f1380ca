//! Opportunities: the document, the review state machine (digest §3.1), per-state editability,
//! the business rules of create/update/submit (digest §3.2) and associations (§3.7).
//!
//! The document is kept as the API's own JSON (already validated against the model by
//! [`crate::model::Model::validate`]); the typed facts rules and indexes need are read from it by
//! accessors here, so there is one source of truth.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{Catalog, SANDBOX_SOLUTION_ID};
use crate::model::{FieldError, FieldErrorCode};
use crate::time::{parse_date, Instant};

/// `LifeCycle.ReviewStatus`, with the model's exact strings (note the lower-case r of `In review`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReviewStatus {
    #[serde(rename = "Pending Submission")]
    PendingSubmission,
    Submitted,
    #[serde(rename = "In review")]
    InReview,
    Approved,
    Rejected,
    #[serde(rename = "Action Required")]
    ActionRequired,
}

impl ReviewStatus {
    pub const ALL: [ReviewStatus; 6] = [
        ReviewStatus::PendingSubmission,
        ReviewStatus::Submitted,
        ReviewStatus::InReview,
        ReviewStatus::Approved,
        ReviewStatus::Rejected,
        ReviewStatus::ActionRequired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::PendingSubmission => "Pending Submission",
            ReviewStatus::Submitted => "Submitted",
            ReviewStatus::InReview => "In review",
            ReviewStatus::Approved => "Approved",
            ReviewStatus::Rejected => "Rejected",
            ReviewStatus::ActionRequired => "Action Required",
        }
    }

    pub fn parse(s: &str) -> Option<ReviewStatus> {
        ReviewStatus::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// What moves an opportunity through review. SUB-1: the operator approves (validates), sends
/// back (Action Required) or rejects; the partner submits and answers Action Required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewAction {
    /// Partner: SubmitOpportunity or StartEngagementFromOpportunityTask.
    Submit,
    /// Operator: a reviewer picks the submission up.
    StartReview,
    Approve,
    RequestAction,
    Reject,
    /// Partner: UpdateOpportunity of an Action Required opportunity sends it back into review.
    AnswerActionRequired,
}

impl ReviewAction {
    pub const ALL: [ReviewAction; 6] = [
        ReviewAction::Submit,
        ReviewAction::StartReview,
        ReviewAction::Approve,
        ReviewAction::RequestAction,
        ReviewAction::Reject,
        ReviewAction::AnswerActionRequired,
    ];
}

/// The review state machine of digest §3.1 as one pure function. `None`: not allowed.
pub fn review_transition(from: ReviewStatus, action: ReviewAction) -> Option<ReviewStatus> {
    use ReviewAction as A;
    use ReviewStatus as S;
    match (from, action) {
        (S::PendingSubmission, A::Submit) => Some(S::Submitted),
        (S::Submitted, A::StartReview) => Some(S::InReview),
        (S::Submitted | S::InReview, A::Approve) => Some(S::Approved),
        (S::Submitted | S::InReview, A::RequestAction) => Some(S::ActionRequired),
        (S::Submitted | S::InReview, A::Reject) => Some(S::Rejected),
        (S::ActionRequired, A::AnswerActionRequired) => Some(S::Submitted),
        _ => None,
    }
}

/// `LifeCycle.Stage`.
pub const STAGES: [&str; 7] =
    ["Prospect", "Qualified", "Technical Validation", "Business Validation", "Committed", "Launched", "Closed Lost"];

pub fn stage_is_terminal(stage: &str) -> bool {
    stage == "Launched" || stage == "Closed Lost"
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    #[serde(rename = "Partner Referral")]
    PartnerReferral,
    #[serde(rename = "AWS Referral")]
    AwsReferral,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::PartnerReferral => "Partner Referral",
            Origin::AwsReferral => "AWS Referral",
        }
    }
}

/// What the partner asked for when it submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    pub involvement_type: String,
    pub visibility: String,
    pub submitted_at: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value")]
    pub value: String,
}

/// An opportunity as the system of record holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Opportunity {
    pub catalog: Catalog,
    pub id: String,
    pub partner_id: String,
    /// The API members (`Customer`, `LifeCycle`, `Project`, …) exactly as validated.
    pub document: Map<String, Value>,
    pub origin: Origin,
    pub created: Instant,
    pub last_modified: Instant,
    /// `RelatedEntityIdentifiers`: type → ids.
    pub related: Map<String, Value>,
    pub tags: Vec<Tag>,
    pub submission: Option<Submission>,
    /// When the operator approved it: what "validated" means for eligibility (ELIG-2.1 a).
    pub approved_at: Option<Instant>,
    /// The submission's attestation, pre-screen findings and review history (SUB-1 … SUB-6).
    #[serde(default)]
    pub review: ReviewState,
    /// The referral (`engi-…`) this opportunity was created from by accepting it.
    #[serde(default)]
    pub referral_id: Option<String>,
}

/// Everything about an opportunity's review that is not in the API document.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReviewState {
    #[serde(default)]
    pub attestation: Option<crate::submission::Attestation>,
    /// The latest pre-screen's non-blocking findings (SUB-2 conflicts) for the reviewer.
    #[serde(default)]
    pub findings: Vec<crate::submission::Finding>,
    #[serde(default)]
    pub history: Vec<ReviewEntry>,
    /// What satisfied SUB-3 and SUB-4 at the latest submission (issue 22), for the reviewer.
    #[serde(default)]
    pub basis: Option<crate::submission::AttestationBasis>,
    /// AWS's own next steps (its seller's), oldest first: `GetAwsOpportunitySummary` shows them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aws_next_steps: Vec<AwsNextStep>,
}

/// One of AWS's next steps on an opportunity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwsNextStep {
    pub at: Instant,
    pub value: String,
}

/// The most AWS's next steps may say (`AwsOpportunityLifeCycleNextStepsString`), and how many
/// of them the history keeps (`AwsOpportunityLifeCycleNextStepsHistoryList`).
pub const AWS_NEXT_STEPS_MAX_CHARS: usize = 255;
pub const AWS_NEXT_STEPS_HISTORY: usize = 50;

/// One step of the review, for the record: who did what, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewEntry {
    pub status: String,
    pub by: String,
    pub at: Instant,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why an operator's review action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    #[error("cannot {action} an opportunity whose review status is {from}")]
    IllegalTransition { action: &'static str, from: &'static str },
    #[error("a comment is required to send an opportunity back (Action Required)")]
    CommentRequired,
    #[error("a reason code is required to reject")]
    ReasonRequired,
}

impl ReviewAction {
    pub fn verb(self) -> &'static str {
        match self {
            ReviewAction::Submit => "submit",
            ReviewAction::StartReview => "start reviewing",
            ReviewAction::Approve => "approve",
            ReviewAction::RequestAction => "send back",
            ReviewAction::Reject => "reject",
            ReviewAction::AnswerActionRequired => "resubmit",
        }
    }
}

/// SUB-1: the operator's review decision, applied to the record (the caller stores it).
pub fn apply_review(
    o: &mut Opportunity,
    action: ReviewAction,
    by: &str,
    comment: Option<String>,
    reason: Option<crate::submission::ReviewReason>,
    now: Instant,
) -> Result<ReviewStatus, ReviewError> {
    let from = o.review_status();
    let to =
        review_transition(from, action).ok_or(ReviewError::IllegalTransition { action: action.verb(), from: from.as_str() })?;
    if action == ReviewAction::RequestAction && comment.as_deref().is_none_or(|c| c.trim().is_empty()) {
        return Err(ReviewError::CommentRequired);
    }
    if action == ReviewAction::Reject && reason.is_none() {
        return Err(ReviewError::ReasonRequired);
    }
    let reason = reason.map(|r| r.as_str().to_string());
    if action == ReviewAction::StartReview {
        let (comments, status_reason) = (
            get_str(&o.document, &["LifeCycle", "ReviewComments"]).map(str::to_string),
            get_str(&o.document, &["LifeCycle", "ReviewStatusReason"]).map(str::to_string),
        );
        o.set_review(to, comments, status_reason, now);
    } else {
        o.set_review(to, comment.clone(), reason.clone(), now);
    }
    o.review.history.push(ReviewEntry { status: to.as_str().into(), by: by.into(), at: now, comment, reason });
    o.last_modified = o.next_modified(now);
    Ok(to)
}

impl serde::Serialize for Catalog {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Catalog {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Catalog, D::Error> {
        let s = String::deserialize(d)?;
        Catalog::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown catalog {s}")))
    }
}

fn get_path<'a>(doc: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut v = doc.get(*first)?;
    for p in rest {
        v = v.get(*p)?;
    }
    Some(v)
}

fn get_str<'a>(doc: &'a Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    get_path(doc, path).and_then(Value::as_str)
}

fn set_lifecycle(doc: &mut Map<String, Value>, member: &str, value: Option<Value>) {
    let lifecycle = doc.entry("LifeCycle").or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(lc) = lifecycle {
        match value {
            Some(v) => {
                lc.insert(member.to_string(), v);
            }
            None => {
                lc.remove(member);
            }
        }
    }
}

impl Opportunity {
    /// A new opportunity of `partner_id` with this document, created `now`: no associations,
    /// tags, submission or review yet.
    pub fn new(
        catalog: Catalog,
        id: String,
        partner_id: String,
        document: Map<String, Value>,
        origin: Origin,
        now: Instant,
    ) -> Opportunity {
        Opportunity {
            catalog,
            id,
            partner_id,
            document,
            origin,
            created: now,
            last_modified: now,
            related: empty_related(),
            tags: vec![],
            submission: None,
            approved_at: None,
            review: ReviewState::default(),
            referral_id: None,
        }
    }

    /// SUB-1, for the operator's dashboard: from submission to the first final decision
    /// (approved or rejected); `None` while undecided.
    pub fn review_time(&self) -> Option<chrono::TimeDelta> {
        let submitted = self.submission.as_ref()?.submitted_at;
        let decided = self.review.history.iter().find(|e| {
            e.at >= submitted && (e.status == ReviewStatus::Approved.as_str() || e.status == ReviewStatus::Rejected.as_str())
        })?;
        Some(decided.at - submitted)
    }

    pub fn review_status(&self) -> ReviewStatus {
        get_str(&self.document, &["LifeCycle", "ReviewStatus"])
            .and_then(ReviewStatus::parse)
            .unwrap_or(ReviewStatus::PendingSubmission)
    }

    pub fn stage(&self) -> Option<&str> {
        get_str(&self.document, &["LifeCycle", "Stage"])
    }

    pub fn company_name(&self) -> Option<&str> {
        get_str(&self.document, &["Customer", "Account", "CompanyName"])
    }

    /// The key `CustomerCompanyName` filters and sorts on: trimmed and case-folded.
    pub fn company_name_key(&self) -> String {
        company_name_key(self.company_name().unwrap_or(""))
    }

    pub fn target_close_date(&self) -> Option<&str> {
        get_str(&self.document, &["LifeCycle", "TargetCloseDate"])
    }

    /// SUB-2: the customer's normalised identity.
    pub fn identity(&self) -> crate::identity::CustomerIdentity {
        let account = ["Customer", "Account"];
        let at = |member: &str| get_str(&self.document, &[account[0], account[1], member]);
        crate::identity::CustomerIdentity::new(
            self.company_name().unwrap_or(""),
            at("WebsiteUrl"),
            at("Duns"),
            get_str(&self.document, &["Customer", "Account", "Address", "CountryCode"]),
        )
    }

    pub fn id_number(&self) -> i64 {
        crate::ids::opportunity_number(&self.id).unwrap_or(0)
    }

    /// AWS's next steps added (what its seller will do next). Only on an opportunity AWS has a
    /// view of (submitted, or referred by AWS); 1 to 255 characters; the latest 50 are kept.
    pub fn add_aws_next_steps(&mut self, value: &str, now: Instant) -> Result<(), String> {
        if self.submission.is_none() && self.origin != Origin::AwsReferral {
            return Err(format!("{} has not been submitted: AWS has no view of it to add next steps to", self.id));
        }
        let value = value.trim();
        if value.is_empty() || value.chars().count() > AWS_NEXT_STEPS_MAX_CHARS {
            return Err(format!("AWS's next steps are 1 to {AWS_NEXT_STEPS_MAX_CHARS} characters"));
        }
        let steps = &mut self.review.aws_next_steps;
        steps.push(AwsNextStep { at: now, value: value.into() });
        let excess = steps.len().saturating_sub(AWS_NEXT_STEPS_HISTORY);
        steps.drain(..excess);
        self.last_modified = self.next_modified(now);
        Ok(())
    }

    /// Its `PartnerOpportunityIdentifier`: the partner's CRM record it stands for.
    pub fn partner_identifier(&self) -> Option<&str> {
        self.document.get("PartnerOpportunityIdentifier").and_then(Value::as_str)
    }

    /// Moves the review status and keeps the operator's comments with it.
    pub fn set_review(&mut self, status: ReviewStatus, comments: Option<String>, reason: Option<String>, now: Instant) {
        set_lifecycle(&mut self.document, "ReviewStatus", Some(Value::String(status.as_str().into())));
        set_lifecycle(&mut self.document, "ReviewComments", comments.map(Value::String));
        set_lifecycle(&mut self.document, "ReviewStatusReason", reason.map(Value::String));
        if status == ReviewStatus::Approved {
            self.approved_at = Some(now);
        }
    }

    /// SUB-1: the opportunity as submitted at `now` into review status `next` (what
    /// [`check_submission`] allowed): its submission recorded, modified. `SubmitOpportunity`
    /// and `StartEngagementFromOpportunityTask` both submit through here.
    pub fn submitted(
        &self,
        next: ReviewStatus,
        involvement_type: String,
        visibility: Option<String>,
        now: Instant,
    ) -> Opportunity {
        let mut submitted = self.clone();
        submitted.set_review(next, None, None, now);
        submitted.submission =
            Some(Submission { involvement_type, visibility: visibility.unwrap_or_else(|| "Full".into()), submitted_at: now });
        submitted.last_modified = self.next_modified(now);
        submitted
    }

    /// The next `LastModifiedDate`: `now`, but always later than the current one, so each
    /// change yields a new optimistic-lock token even within one millisecond.
    pub fn next_modified(&self, now: Instant) -> Instant {
        if now > self.last_modified {
            now
        } else {
            self.last_modified + chrono::TimeDelta::milliseconds(1)
        }
    }
}

pub fn company_name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

fn business(field: impl Into<String>, code: FieldErrorCode, message: impl Into<String>) -> FieldError {
    FieldError::new(field, code, message)
}

/// Server-owned members of `LifeCycle`: partners never write them (the Sandbox simulation of
/// ReviewStatus aside, which [`plan_update`] handles first).
const SERVER_OWNED_LIFECYCLE: [&str; 4] = ["ReviewStatus", "ReviewComments", "ReviewStatusReason", "NextStepsHistory"];

/// Rules that hold for any document, on create and update (digest §3.2). `today` is the
/// current UTC date; `check_target_close_date` is false when the date did not change.
pub fn check_document(doc: &Map<String, Value>, today: NaiveDate, check_target_close_date: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (path, field) in [
        (&["LifeCycle", "TargetCloseDate"][..], "LifeCycle.TargetCloseDate"),
        (&["SoftwareRevenue", "EffectiveDate"][..], "SoftwareRevenue.EffectiveDate"),
        (&["SoftwareRevenue", "ExpirationDate"][..], "SoftwareRevenue.ExpirationDate"),
    ] {
        if let Some(s) = get_str(doc, path) {
            if parse_date(s).is_none() {
                errors.push(business(field, FieldErrorCode::InvalidValue, format!("{field}: {s} is not a calendar date")));
            }
        }
    }
    if check_target_close_date {
        if let Some(date) = get_str(doc, &["LifeCycle", "TargetCloseDate"]).and_then(parse_date) {
            if date < today {
                errors.push(business(
                    "LifeCycle.TargetCloseDate",
                    FieldErrorCode::InvalidValue,
                    format!("LifeCycle.TargetCloseDate: {date} is in the past"),
                ));
            }
        }
    }
    let stage = get_str(doc, &["LifeCycle", "Stage"]);
    let closed_lost_reason = get_str(doc, &["LifeCycle", "ClosedLostReason"]);
    match (stage, closed_lost_reason) {
        (Some("Closed Lost"), None) => errors.push(business(
            "LifeCycle.ClosedLostReason",
            FieldErrorCode::RequiredFieldMissing,
            "LifeCycle.ClosedLostReason is required when the stage is Closed Lost",
        )),
        (s, Some(_)) if s != Some("Closed Lost") => errors.push(business(
            "LifeCycle.ClosedLostReason",
            FieldErrorCode::InvalidValue,
            "LifeCycle.ClosedLostReason is allowed only when the stage is Closed Lost",
        )),
        _ => {}
    }
    let industry = get_str(doc, &["Customer", "Account", "Industry"]);
    if doc.get("NationalSecurity").and_then(Value::as_str) == Some("Yes") && industry != Some("Government") {
        errors.push(business(
            "NationalSecurity",
            FieldErrorCode::InvalidValue,
            "NationalSecurity: Yes is allowed only when Customer.Account.Industry is Government",
        ));
    }
    if industry == Some("Other") && get_str(doc, &["Customer", "Account", "OtherIndustry"]).is_none() {
        errors.push(business(
            "Customer.Account.OtherIndustry",
            FieldErrorCode::RequiredFieldMissing,
            "Customer.Account.OtherIndustry is required when Industry is Other",
        ));
    }
    if get_str(doc, &["Project", "OtherCompetitorNames"]).is_some()
        && get_str(doc, &["Project", "CompetitorName"]) != Some("*Other")
    {
        errors.push(business(
            "Project.OtherCompetitorNames",
            FieldErrorCode::InvalidValue,
            "Project.OtherCompetitorNames is allowed only when Project.CompetitorName is *Other",
        ));
    }
    if get_str(doc, &["Marketing", "Source"]) == Some("None") {
        for member in ["UseCases", "Channels", "CampaignName"] {
            let set = match get_path(doc, &["Marketing", member]) {
                Some(Value::Array(a)) => !a.is_empty(),
                Some(Value::String(s)) => !s.is_empty(),
                Some(_) => true,
                None => false,
            };
            if set {
                errors.push(business(
                    format!("Marketing.{member}"),
                    FieldErrorCode::InvalidValue,
                    format!("Marketing.{member} must be empty when Marketing.Source is None"),
                ));
            }
        }
    }
    if doc.get("OpportunityType").and_then(Value::as_str) == Some("Flat Renewal")
        && get_str(doc, &["Project", "RelatedOpportunityIdentifier"]).is_none()
    {
        errors.push(business(
            "Project.RelatedOpportunityIdentifier",
            FieldErrorCode::RequiredFieldMissing,
            "Project.RelatedOpportunityIdentifier is required for a Flat Renewal",
        ));
    }
    errors
}

/// What CreateOpportunity will store, or why not. `input` is the validated request.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOpportunity {
    pub document: Map<String, Value>,
    pub origin: Origin,
    pub tags: Vec<Tag>,
}

/// The API members of an opportunity document (inputs carry others, e.g. `Catalog`).
const DOCUMENT_MEMBERS: [&str; 10] = [
    "Customer",
    "LifeCycle",
    "Marketing",
    "NationalSecurity",
    "OpportunityTeam",
    "OpportunityType",
    "PartnerOpportunityIdentifier",
    "PrimaryNeedsFromAws",
    "Project",
    "SoftwareRevenue",
];

fn document_of(input: &Map<String, Value>) -> Map<String, Value> {
    input.iter().filter(|(k, _)| DOCUMENT_MEMBERS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// A partner's CRM record is one opportunity per catalog (issue 25: the published integration
/// scenario "a duplicate PartnerOpportunityIdentifier is refused"): a create or update that
/// would give `identifier` to a second opportunity is refused, naming the one that holds it,
/// so the integration links its record to that one instead of sending it again.
pub fn duplicate_identifier(identifier: &str, holder: &str) -> FieldError {
    FieldError::new(
        "PartnerOpportunityIdentifier",
        crate::model::FieldErrorCode::DuplicateKeyValue,
        format!(
            "PartnerOpportunityIdentifier {identifier:?} already identifies opportunity {holder} in this catalog: read or \
             update {holder} (GetOpportunity, UpdateOpportunity) instead of creating it again; a CRM record is one opportunity"
        ),
    )
}

/// The CRM identifier `input` gives its opportunity, if any.
pub fn identifier_of(input: &Map<String, Value>) -> Option<&str> {
    input.get("PartnerOpportunityIdentifier").and_then(Value::as_str)
}

pub fn plan_create(catalog: Catalog, input: &Map<String, Value>, now: Instant) -> Result<NewOpportunity, Vec<FieldError>> {
    let mut errors = Vec::new();
    let origin = match input.get("Origin").and_then(Value::as_str) {
        Some("AWS Referral") if catalog == Catalog::Aws => {
            errors.push(business(
                "Origin",
                FieldErrorCode::InvalidValue,
                "Origin: AWS Referral can only be simulated in the Sandbox catalog",
            ));
            Origin::PartnerReferral
        }
        Some("AWS Referral") => Origin::AwsReferral,
        _ => Origin::PartnerReferral,
    };
    let mut document = document_of(input);
    match get_str(&document, &["LifeCycle", "ReviewStatus"]) {
        None | Some("Pending Submission") => {}
        Some(other) => errors.push(business(
            "LifeCycle.ReviewStatus",
            FieldErrorCode::ActionNotPermitted,
            format!("LifeCycle.ReviewStatus: a new opportunity is Pending Submission, not {other}"),
        )),
    }
    for member in &SERVER_OWNED_LIFECYCLE[1..] {
        set_lifecycle(&mut document, member, None);
    }
    set_lifecycle(&mut document, "ReviewStatus", Some(Value::String(ReviewStatus::PendingSubmission.as_str().into())));
    if let Some(next_steps) = get_str(&document, &["LifeCycle", "NextSteps"]).map(str::to_string) {
        set_lifecycle(&mut document, "NextStepsHistory", Some(next_steps_entry(&next_steps, now)));
    }
    document.entry("OpportunityType").or_insert_with(|| Value::String("Net New Business".into()));
    errors.extend(check_document(&document, now.date_naive(), true));
    let tags: Vec<Tag> = input.get("Tags").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default();
    errors.extend(check_tags(&[], &tags, "Tags"));
    if errors.is_empty() {
        Ok(NewOpportunity { document, origin, tags })
    } else {
        Err(errors)
    }
}

fn next_steps_entry(value: &str, now: Instant) -> Value {
    serde_json::json!([{ "Value": value, "Time": crate::time::format_timestamp(now) }])
}

/// Fields an Action Required opportunity may change (digest §3.1).
const ACTION_REQUIRED_EDITABLE: [&str; 5] = [
    "Customer.Account.Address",
    "Customer.Account.WebsiteUrl",
    "LifeCycle.TargetCloseDate",
    "Project.ExpectedCustomerSpend",
    "Project.CustomerBusinessProblem",
];

/// Fields an Approved opportunity may not change (digest §3.1).
const APPROVED_LOCKED: [&str; 7] = [
    "Customer.Account.Address.CountryCode",
    "Customer.Account.Address.PostalCode",
    "Customer.Account.Industry",
    "Customer.Account.WebsiteUrl",
    "Project.CustomerBusinessProblem",
    "PartnerOpportunityIdentifier",
    "Project.Title",
];

/// Fields that stay editable once the stage is Launched or Closed Lost (digest §3.2).
const TERMINAL_EDITABLE: [&str; 3] = ["Project.DeliveryModels", "Project.AdditionalComments", "SoftwareRevenue"];

/// Leaf paths whose values differ between two documents; arrays compare whole.
pub fn changed_paths(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<String> {
    fn walk(prefix: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<String>) {
        match (old, new) {
            (Some(Value::Object(a)), Some(Value::Object(b))) => {
                let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&path, a.get(k), b.get(k), out);
                }
            }
            (a, b) if a == b => {}
            (Some(Value::Object(a)), None) | (None, Some(Value::Object(a))) => {
                let empty = Map::new();
                let (x, y) = if old.is_some() { (a, &empty) } else { (&empty, a) };
                for k in a.keys() {
                    let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&path, x.get(k), y.get(k), out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }
    let mut out = Vec::new();
    walk("", Some(&Value::Object(old.clone())), Some(&Value::Object(new.clone())), &mut out);
    out
}

/// Every field path that differs between two versions of an opportunity: the document, the
/// associations (`RelatedEntityIdentifiers.<type>`) and the tags.
pub fn opportunity_changes(old: &Opportunity, new: &Opportunity) -> Vec<String> {
    let mut changes = changed_paths(&old.document, &new.document);
    let mut kinds: Vec<&String> = old.related.keys().chain(new.related.keys()).collect();
    kinds.sort();
    kinds.dedup();
    for kind in kinds {
        if old.related.get(kind) != new.related.get(kind) {
            changes.push(format!("RelatedEntityIdentifiers.{kind}"));
        }
    }
    if old.tags != new.tags {
        changes.push("Tags".into());
    }
    changes
}

fn within(path: &str, prefix: &str) -> bool {
    path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.'))
}

/// SUB-1: why the partner cannot update the record at all in its review state, if it cannot.
pub fn update_refusal(status: ReviewStatus) -> Option<String> {
    matches!(status, ReviewStatus::Submitted | ReviewStatus::InReview | ReviewStatus::Rejected)
        .then(|| format!("the opportunity cannot be updated while its review status is {}", status.as_str()))
}

/// Why the partner cannot change the field at `path` (an API path such as `Project.Title`) of
/// `current` now, if it cannot: terminal stages, Action Required and Approved each leave only
/// some fields editable. `plan_update` refuses by it; the web portal disables fields by it.
pub fn field_lock(current: &Opportunity, path: &str) -> Option<String> {
    if current.stage().is_some_and(stage_is_terminal) {
        return (!TERMINAL_EDITABLE.iter().any(|p| within(path, p)))
            .then(|| format!("{path} cannot change once the stage is {}", current.stage().unwrap_or_default()));
    }
    match current.review_status() {
        ReviewStatus::ActionRequired => (!ACTION_REQUIRED_EDITABLE.iter().any(|p| within(path, p)))
            .then(|| format!("{path} cannot change while the review status is Action Required")),
        ReviewStatus::Approved => {
            APPROVED_LOCKED.iter().any(|p| within(path, p)).then(|| format!("{path} is locked once the opportunity is Approved"))
        }
        _ => None,
    }
}

/// The result of a permitted UpdateOpportunity.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdatePlan {
    /// Replace the document (full-replace semantics); `review` is the new review status when
    /// the update moves it (an answer to Action Required).
    Replace { document: Map<String, Value>, review: Option<ReviewStatus> },
    /// Sandbox only: the caller simulated the operator's review decision (digest §3.5).
    SimulateReview { status: ReviewStatus, comments: Option<String>, reason: Option<String> },
}

/// Decides an UpdateOpportunity. `input` is the validated request; `current` the stored record.
pub fn plan_update(current: &Opportunity, input: &Map<String, Value>, now: Instant) -> Result<UpdatePlan, Vec<FieldError>> {
    let status = current.review_status();
    let requested_review = get_str(input, &["LifeCycle", "ReviewStatus"]).and_then(ReviewStatus::parse);

    // Sandbox simulation of AWS's review decision.
    if let Some(requested) = requested_review.filter(|r| *r != status) {
        let simulated = matches!(requested, ReviewStatus::Approved | ReviewStatus::ActionRequired);
        let action = match requested {
            ReviewStatus::Approved => Some(ReviewAction::Approve),
            ReviewStatus::ActionRequired => Some(ReviewAction::RequestAction),
            _ => None,
        };
        if current.catalog == Catalog::Sandbox && simulated {
            if action.and_then(|a| review_transition(status, a)).is_none() {
                return Err(vec![business(
                    "LifeCycle.ReviewStatus",
                    FieldErrorCode::InvalidResourceState,
                    format!("LifeCycle.ReviewStatus: cannot move from {} to {}", status.as_str(), requested.as_str()),
                )]);
            }
            return Ok(UpdatePlan::SimulateReview {
                status: requested,
                comments: get_str(input, &["LifeCycle", "ReviewComments"]).map(str::to_string),
                reason: get_str(input, &["LifeCycle", "ReviewStatusReason"]).map(str::to_string),
            });
        }
        return Err(vec![business(
            "LifeCycle.ReviewStatus",
            FieldErrorCode::ActionNotPermitted,
            if current.catalog == Catalog::Sandbox {
                "LifeCycle.ReviewStatus: the Sandbox can simulate only Approved or Action Required".to_string()
            } else {
                "LifeCycle.ReviewStatus is set by the operator's review and cannot be written in the AWS catalog".to_string()
            },
        )]);
    }

    if let Some(refusal) = update_refusal(status) {
        return Err(vec![business("LifeCycle.ReviewStatus", FieldErrorCode::InvalidResourceState, refusal)]);
    }

    let mut document = document_of(input);
    // What the partner may not write is carried over from the stored record.
    if let Some(team) = current.document.get("OpportunityTeam") {
        document.insert("OpportunityTeam".into(), team.clone());
    }
    for member in SERVER_OWNED_LIFECYCLE {
        set_lifecycle(&mut document, member, get_path(&current.document, &["LifeCycle", member]).cloned());
    }
    let old_next = get_str(&current.document, &["LifeCycle", "NextSteps"]);
    if let Some(next) = get_str(&document, &["LifeCycle", "NextSteps"]).map(str::to_string) {
        if old_next != Some(next.as_str()) {
            let mut history = get_path(&current.document, &["LifeCycle", "NextStepsHistory"])
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            history.extend(next_steps_entry(&next, now).as_array().cloned().unwrap_or_default());
            let keep_from = history.len().saturating_sub(50); // the model allows 50 entries
            set_lifecycle(&mut document, "NextStepsHistory", Some(Value::Array(history.split_off(keep_from))));
        }
    }
    document.entry("OpportunityType").or_insert_with(|| Value::String("Net New Business".into()));

    let changed = changed_paths(&current.document, &document);
    let mut errors = Vec::new();
    for path in &changed {
        if let Some(message) = field_lock(current, path) {
            errors.push(business(path, FieldErrorCode::ActionNotPermitted, message));
        }
    }
    let target_changed = changed.iter().any(|p| p == "LifeCycle.TargetCloseDate");
    errors.extend(check_document(&document, now.date_naive(), target_changed));
    if !errors.is_empty() {
        return Err(errors);
    }
    let review =
        (status == ReviewStatus::ActionRequired).then(|| review_transition(status, ReviewAction::AnswerActionRequired)).flatten();
    Ok(UpdatePlan::Replace { document, review })
}

/// Checks that an opportunity may be submitted for review (digest §3.1–3.2).
pub fn check_submission(opportunity: &Opportunity) -> Result<ReviewStatus, Vec<FieldError>> {
    let status = opportunity.review_status();
    let Some(next) = review_transition(status, ReviewAction::Submit) else {
        return Err(vec![business(
            "LifeCycle.ReviewStatus",
            FieldErrorCode::InvalidResourceState,
            format!("only a Pending Submission opportunity can be submitted; this one is {}", status.as_str()),
        )]);
    };
    let mut errors = Vec::new();
    if opportunity.origin == Origin::AwsReferral {
        errors.push(business(
            "Origin",
            FieldErrorCode::ActionNotPermitted,
            "an opportunity referred by the operator is not submitted for validation",
        ));
    }
    if let Some(stage) = opportunity.stage().filter(|s| stage_is_terminal(s)) {
        errors.push(business(
            "LifeCycle.Stage",
            FieldErrorCode::InvalidValue,
            format!("an opportunity at stage {stage} cannot be submitted"),
        ));
    }
    let doc = &opportunity.document;
    let mut required = vec![
        (&["Customer", "Account", "CompanyName"][..], "Customer.Account.CompanyName"),
        (&["Customer", "Account", "WebsiteUrl"][..], "Customer.Account.WebsiteUrl"),
        (&["Customer", "Account", "Industry"][..], "Customer.Account.Industry"),
        (&["Customer", "Account", "Address", "CountryCode"][..], "Customer.Account.Address.CountryCode"),
        (&["Project", "Title"][..], "Project.Title"),
        (&["Project", "CustomerBusinessProblem"][..], "Project.CustomerBusinessProblem"),
        (&["LifeCycle", "TargetCloseDate"][..], "LifeCycle.TargetCloseDate"),
    ];
    if get_str(doc, &["Customer", "Account", "Address", "CountryCode"]) == Some("US") {
        required.push((&["Customer", "Account", "Address", "PostalCode"][..], "Customer.Account.Address.PostalCode"));
        required.push((&["Customer", "Account", "Address", "StateOrRegion"][..], "Customer.Account.Address.StateOrRegion"));
    }
    for (path, field) in required {
        if get_str(doc, path).is_none_or(|s| s.trim().is_empty()) {
            errors.push(business(field, FieldErrorCode::RequiredFieldMissing, format!("{field} is required for submission")));
        }
    }
    if opportunity.catalog == Catalog::Aws {
        let has_solution = ["Solutions", "AwsMarketplaceSolutions", "AwsMarketplaceProducts"]
            .iter()
            .any(|k| opportunity.related.get(*k).and_then(Value::as_array).is_some_and(|a| !a.is_empty()));
        if !has_solution {
            errors.push(business(
                "RelatedEntityIdentifiers.Solutions",
                FieldErrorCode::NotEnoughValues,
                "associate at least one solution (or AWS Marketplace solution or product) before submitting",
            ));
        }
    }
    if errors.is_empty() {
        Ok(next)
    } else {
        Err(errors)
    }
}

/// The related-entity types and how many of each an opportunity may hold (digest §3.7).
pub fn association_limit(related_entity_type: &str) -> Option<usize> {
    match related_entity_type {
        "AwsProducts" => Some(20),
        "Solutions" | "AwsMarketplaceSolutions" | "AwsMarketplaceProducts" => Some(10),
        "AwsMarketplaceOffers" | "AwsMarketplaceOfferSets" => Some(1),
        _ => None,
    }
}

/// The `RelatedEntityIdentifiers` of a new opportunity: every type present, empty.
pub fn empty_related() -> Map<String, Value> {
    [
        "AwsMarketplaceOffers",
        "AwsMarketplaceOfferSets",
        "AwsMarketplaceProducts",
        "AwsMarketplaceSolutions",
        "AwsProducts",
        "Solutions",
    ]
    .iter()
    .map(|k| (k.to_string(), Value::Array(Vec::new())))
    .collect()
}

/// Outcome of an association request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssociationChange {
    Changed,
    /// Already associated: nothing to do (AssociateOpportunity is safe to retry).
    Unchanged,
}

pub fn associate(related: &mut Map<String, Value>, entity_type: &str, identifier: &str) -> Result<AssociationChange, FieldError> {
    let limit = association_limit(entity_type).ok_or_else(|| {
        business("RelatedEntityType", FieldErrorCode::InvalidEnumValue, format!("unknown RelatedEntityType {entity_type}"))
    })?;
    if entity_type == "Solutions" && crate::ids::solution_number(identifier).is_none() {
        return Err(business(
            "RelatedEntityIdentifier",
            FieldErrorCode::InvalidStringFormat,
            format!("RelatedEntityIdentifier: {identifier:?} is not a solution id (S-…)"),
        ));
    }
    let list = related.entry(entity_type).or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(items) = list else { unreachable!("related lists are arrays") };
    if items.iter().any(|v| v.as_str() == Some(identifier)) {
        return Ok(AssociationChange::Unchanged);
    }
    if items.len() >= limit {
        return Err(business(
            "RelatedEntityIdentifier",
            FieldErrorCode::TooManyValues,
            format!("an opportunity can hold at most {limit} {entity_type}"),
        ));
    }
    items.push(Value::String(identifier.to_string()));
    Ok(AssociationChange::Changed)
}

/// Removes an association; `false` when it was not there.
pub fn disassociate(related: &mut Map<String, Value>, entity_type: &str, identifier: &str) -> bool {
    match related.get_mut(entity_type) {
        Some(Value::Array(items)) => {
            let before = items.len();
            items.retain(|v| v.as_str() != Some(identifier));
            items.len() != before
        }
        _ => false,
    }
}

/// Tag rules: `aws:` keys are reserved and a resource holds at most 200 tags.
pub fn check_tags(existing: &[Tag], added: &[Tag], field: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, tag) in added.iter().enumerate() {
        if tag.key.to_ascii_lowercase().starts_with("aws:") {
            errors.push(business(
                format!("{field}[{i}].Key"),
                FieldErrorCode::InvalidValue,
                format!("{field}[{i}].Key: keys starting with aws: are reserved"),
            ));
        }
    }
    let mut keys: Vec<&str> = existing.iter().chain(added).map(|t| t.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.len() > 200 {
        errors.push(business(field, FieldErrorCode::TooManyValues, "a resource can hold at most 200 tags"));
    }
    errors
}

/// Adds or replaces tags by key.
pub fn merge_tags(existing: &mut Vec<Tag>, added: Vec<Tag>) {
    for tag in added {
        match existing.iter_mut().find(|t| t.key == tag.key) {
            Some(t) => t.value = tag.value,
            None => existing.push(tag),
        }
    }
}

/// The solution every partner sees in the Sandbox.
pub fn is_sandbox_solution(catalog: Catalog, id: &str) -> bool {
    catalog == Catalog::Sandbox && id == SANDBOX_SOLUTION_ID
}

/// The operator's side of an opportunity (`GetAwsOpportunitySummary`, and the
/// `AwsOpportunitySummaryFullView` snapshot template): `None` while the operator has no view of
/// it, which is until the partner submits it. An opportunity made by accepting the operator's
/// referral (`AWS Referral`) has the operator's side from acceptance on (issue 22).
pub fn aws_view(o: &Opportunity) -> Option<Value> {
    let (involvement, visibility) = match (&o.submission, o.origin) {
        (Some(s), _) => (s.involvement_type.as_str(), s.visibility.as_str()),
        (None, Origin::AwsReferral) => ("Co-Sell", "Full"),
        (None, Origin::PartnerReferral) => return None,
    };
    let mut out = Map::new();
    out.insert("Catalog".into(), o.catalog.as_str().into());
    out.insert("RelatedOpportunityId".into(), o.id.clone().into());
    out.insert("Origin".into(), o.origin.as_str().into());
    out.insert("InvolvementType".into(), involvement.into());
    out.insert("Visibility".into(), visibility.into());
    out.insert("Customer".into(), serde_json::json!({"Contacts": []}));
    out.insert("OpportunityTeam".into(), Value::Array(Vec::new()));
    let mut lifecycle = Map::new();
    for member in ["Stage", "TargetCloseDate", "NextSteps", "ClosedLostReason"] {
        if let Some(v) = o.document.get("LifeCycle").and_then(|l| l.get(member)) {
            lifecycle.insert(member.into(), v.clone());
        }
    }
    // AWS's own next steps, where its seller has added some.
    if let Some(last) = o.review.aws_next_steps.last() {
        lifecycle.insert("NextSteps".into(), last.value.clone().into());
        let history = o
            .review
            .aws_next_steps
            .iter()
            .map(|n| serde_json::json!({"Time": crate::time::format_timestamp(n.at), "Value": n.value}))
            .collect();
        lifecycle.insert("NextStepsHistory".into(), Value::Array(history));
    }
    out.insert("LifeCycle".into(), Value::Object(lifecycle));
    if let Some(spend) = o.document.get("Project").and_then(|p| p.get("ExpectedCustomerSpend")) {
        out.insert("Project".into(), serde_json::json!({"ExpectedCustomerSpend": spend}));
    }
    Some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn now() -> Instant {
        Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
    }

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn full_doc() -> Value {
        json!({
            "Customer": {"Account": {"CompanyName": "Example Corp", "WebsiteUrl": "https://example.com", "Industry": "Retail",
                "Address": {"CountryCode": "DE", "PostalCode": "10115", "City": "Berlin"}}},
            "LifeCycle": {"Stage": "Qualified", "TargetCloseDate": "2027-03-01", "NextSteps": "call"},
            "Project": {"Title": "Migration", "CustomerBusinessProblem": "They need to move 40 VMs to the cloud quickly."},
            "OpportunityType": "Net New Business",
        })
    }

    fn opportunity(catalog: Catalog, status: ReviewStatus) -> Opportunity {
        let mut o = Opportunity {
            catalog,
            id: "O1".into(),
            partner_id: "P-1".into(),
            document: plan_create(catalog, &map(full_doc()), now()).unwrap().document,
            origin: Origin::PartnerReferral,
            created: now(),
            last_modified: now(),
            related: empty_related(),
            tags: vec![],
            submission: None,
            approved_at: None,
            review: ReviewState::default(),
            referral_id: None,
        };
        o.set_review(status, None, None, now());
        o
    }

    #[test]
    fn sub_1_field_locks_follow_the_review_state_and_the_stage() {
        let draft = opportunity(Catalog::Aws, ReviewStatus::PendingSubmission);
        assert_eq!(update_refusal(draft.review_status()), None);
        assert_eq!(field_lock(&draft, "Project.Title"), None);
        assert!(update_refusal(ReviewStatus::InReview).is_some_and(|m| m.contains("In review")));
        let approved = opportunity(Catalog::Aws, ReviewStatus::Approved);
        assert!(field_lock(&approved, "Project.Title").is_some_and(|m| m.contains("locked once the opportunity is Approved")));
        assert!(field_lock(&approved, "Customer.Account.Address.PostalCode").is_some());
        assert_eq!(field_lock(&approved, "LifeCycle.Stage"), None);
        let action = opportunity(Catalog::Aws, ReviewStatus::ActionRequired);
        assert_eq!(field_lock(&action, "Customer.Account.Address.City"), None, "within an editable prefix");
        assert!(field_lock(&action, "Project.Title").is_some());
    }

    /// SUB-1: a submission records its involvement and visibility (Full unless given), moves
    /// the review status and the optimistic lock, and leaves the original as it was.
    #[test]
    fn sub_1_a_submission_is_recorded_and_moves_the_lock() {
        let o = opportunity(Catalog::Aws, ReviewStatus::PendingSubmission);
        let s = o.submitted(ReviewStatus::Submitted, "Co-Sell".into(), None, o.last_modified);
        assert_eq!(s.review_status(), ReviewStatus::Submitted);
        let submission = s.submission.clone().unwrap();
        assert_eq!((submission.involvement_type.as_str(), submission.visibility.as_str()), ("Co-Sell", "Full"));
        assert!(s.last_modified > o.last_modified, "a new lock token even within the same millisecond");
        assert!(o.submission.is_none(), "the original is untouched");
        let limited = o.submitted(ReviewStatus::Submitted, "For Visibility Only".into(), Some("Limited".into()), o.last_modified);
        assert_eq!(limited.submission.unwrap().visibility, "Limited");
    }

    #[test]
    fn sub_1_review_time_runs_from_submission_to_the_final_decision() {
        let mut o = opportunity(Catalog::Aws, ReviewStatus::PendingSubmission);
        assert_eq!(o.review_time(), None, "not submitted");
        o.submission = Some(Submission { involvement_type: "Co-Sell".into(), visibility: "Full".into(), submitted_at: now() });
        o.set_review(ReviewStatus::Submitted, None, None, now());
        assert_eq!(o.review_time(), None, "undecided");
        let hour = chrono::TimeDelta::hours(1);
        apply_review(&mut o, ReviewAction::StartReview, "rita", None, None, now() + hour).unwrap();
        apply_review(&mut o, ReviewAction::Approve, "rita", None, None, now() + hour * 5).unwrap();
        assert_eq!(o.review_time(), Some(hour * 5));
    }

    #[test]
    fn sub_1_review_state_machine_table() {
        use ReviewAction as A;
        use ReviewStatus as S;
        let legal = [
            (S::PendingSubmission, A::Submit, S::Submitted),
            (S::Submitted, A::StartReview, S::InReview),
            (S::Submitted, A::Approve, S::Approved),
            (S::Submitted, A::RequestAction, S::ActionRequired),
            (S::Submitted, A::Reject, S::Rejected),
            (S::InReview, A::Approve, S::Approved),
            (S::InReview, A::RequestAction, S::ActionRequired),
            (S::InReview, A::Reject, S::Rejected),
            (S::ActionRequired, A::AnswerActionRequired, S::Submitted),
        ];
        for from in S::ALL {
            for action in A::ALL {
                let expected = legal.iter().find(|(f, a, _)| *f == from && *a == action).map(|(_, _, to)| *to);
                assert_eq!(review_transition(from, action), expected, "{from:?} --{action:?}-->");
            }
        }
    }

    #[test]
    fn sub_1_operator_review_records_who_what_and_why() {
        use crate::submission::ReviewReason;
        let mut o = opportunity(Catalog::Aws, ReviewStatus::Submitted);
        assert_eq!(apply_review(&mut o, ReviewAction::StartReview, "rev", None, None, now()), Ok(ReviewStatus::InReview));
        assert_eq!(
            apply_review(&mut o, ReviewAction::RequestAction, "rev", None, None, now()),
            Err(ReviewError::CommentRequired)
        );
        let to = apply_review(&mut o, ReviewAction::RequestAction, "rev", Some("add the website".into()), None, now());
        assert_eq!(to, Ok(ReviewStatus::ActionRequired));
        assert_eq!(o.document["LifeCycle"]["ReviewComments"], "add the website");
        assert_eq!(
            apply_review(&mut o, ReviewAction::Approve, "rev", None, None, now()),
            Err(ReviewError::IllegalTransition { action: "approve", from: "Action Required" })
        );
        let mut o = opportunity(Catalog::Aws, ReviewStatus::InReview);
        assert_eq!(apply_review(&mut o, ReviewAction::Reject, "rev", None, None, now()), Err(ReviewError::ReasonRequired));
        apply_review(&mut o, ReviewAction::Reject, "rev", None, Some(ReviewReason::AlreadyPursued), now()).unwrap();
        assert_eq!(o.document["LifeCycle"]["ReviewStatusReason"], "already-pursued");
        let mut o = opportunity(Catalog::Aws, ReviewStatus::InReview);
        o.approved_at = None;
        let later = now() + chrono::TimeDelta::hours(2);
        apply_review(&mut o, ReviewAction::Approve, "rev", Some("welcome".into()), None, later).unwrap();
        assert_eq!(o.approved_at, Some(later), "approval time is what validated means");
        assert_eq!(o.review.history.last().unwrap().by, "rev");
    }

    #[test]
    fn create_sets_pending_submission_and_history() {
        let o = plan_create(Catalog::Aws, &map(full_doc()), now()).unwrap();
        assert_eq!(o.document["LifeCycle"]["ReviewStatus"], "Pending Submission");
        assert_eq!(o.document["LifeCycle"]["NextStepsHistory"][0]["Value"], "call");
        assert_eq!(o.origin, Origin::PartnerReferral);
    }

    #[test]
    fn create_business_rules() {
        let mut d = full_doc();
        d["LifeCycle"]["TargetCloseDate"] = json!("2020-01-01");
        d["LifeCycle"]["Stage"] = json!("Closed Lost");
        d["NationalSecurity"] = json!("Yes");
        d["Origin"] = json!("AWS Referral");
        d["LifeCycle"]["ReviewStatus"] = json!("Approved");
        let errors = plan_create(Catalog::Aws, &map(d), now()).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field_name.as_str()).collect();
        for f in
            ["LifeCycle.TargetCloseDate", "LifeCycle.ClosedLostReason", "NationalSecurity", "Origin", "LifeCycle.ReviewStatus"]
        {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
        let mut d = full_doc();
        d["Origin"] = json!("AWS Referral");
        assert_eq!(plan_create(Catalog::Sandbox, &map(d), now()).unwrap().origin, Origin::AwsReferral);
        let mut d = full_doc();
        d["LifeCycle"]["TargetCloseDate"] = json!("2027-02-30");
        assert_eq!(plan_create(Catalog::Aws, &map(d), now()).unwrap_err()[0].field_name, "LifeCycle.TargetCloseDate");
    }

    fn update_input(doc: Value) -> Map<String, Value> {
        let mut m = map(doc);
        m.insert("Catalog".into(), json!("AWS"));
        m.insert("Identifier".into(), json!("O1"));
        m
    }

    #[test]
    fn update_is_full_replacement_and_keeps_server_fields() {
        let o = opportunity(Catalog::Aws, ReviewStatus::PendingSubmission);
        let mut d = full_doc();
        d.as_object_mut().unwrap().remove("Project");
        d["LifeCycle"]["NextSteps"] = json!("send proposal");
        let UpdatePlan::Replace { document, review } = plan_update(&o, &update_input(d), now()).unwrap() else { panic!() };
        assert!(document.get("Project").is_none(), "omitted fields are cleared");
        assert_eq!(document["LifeCycle"]["ReviewStatus"], "Pending Submission");
        assert_eq!(document["LifeCycle"]["NextStepsHistory"].as_array().unwrap().len(), 2);
        assert_eq!(review, None);
    }

    #[test]
    fn update_refused_while_in_review() {
        for s in [ReviewStatus::Submitted, ReviewStatus::InReview, ReviewStatus::Rejected] {
            let o = opportunity(Catalog::Aws, s);
            let e = plan_update(&o, &update_input(full_doc()), now()).unwrap_err();
            assert_eq!(e[0].code, FieldErrorCode::InvalidResourceState, "{s:?}");
        }
    }

    #[test]
    fn approved_locks_fields_but_accepts_unchanged_values() {
        let o = opportunity(Catalog::Aws, ReviewStatus::Approved);
        assert!(plan_update(&o, &update_input(full_doc()), now()).is_ok());
        let mut d = full_doc();
        d["Project"]["Title"] = json!("Another title");
        d["LifeCycle"]["Stage"] = json!("Committed");
        let e = plan_update(&o, &update_input(d), now()).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field_name, "Project.Title");
        assert_eq!(e[0].code, FieldErrorCode::ActionNotPermitted);
    }

    #[test]
    fn action_required_allows_whitelist_and_returns_to_review() {
        let o = opportunity(Catalog::Aws, ReviewStatus::ActionRequired);
        let mut d = full_doc();
        d["Customer"]["Account"]["WebsiteUrl"] = json!("https://example.org");
        let UpdatePlan::Replace { review, .. } = plan_update(&o, &update_input(d.clone()), now()).unwrap() else { panic!() };
        assert_eq!(review, Some(ReviewStatus::Submitted));
        d["LifeCycle"]["Stage"] = json!("Committed");
        let e = plan_update(&o, &update_input(d), now()).unwrap_err();
        assert_eq!(e[0].field_name, "LifeCycle.Stage");
    }

    #[test]
    fn review_status_is_read_only_in_aws_and_simulated_in_sandbox() {
        let mut d = full_doc();
        d["LifeCycle"]["ReviewStatus"] = json!("Approved");
        let o = opportunity(Catalog::Aws, ReviewStatus::Submitted);
        assert_eq!(plan_update(&o, &update_input(d.clone()), now()).unwrap_err()[0].code, FieldErrorCode::ActionNotPermitted);
        let o = opportunity(Catalog::Sandbox, ReviewStatus::Submitted);
        assert!(matches!(
            plan_update(&o, &update_input(d.clone()), now()).unwrap(),
            UpdatePlan::SimulateReview { status: ReviewStatus::Approved, .. }
        ));
        let o = opportunity(Catalog::Sandbox, ReviewStatus::PendingSubmission);
        assert_eq!(plan_update(&o, &update_input(d), now()).unwrap_err()[0].code, FieldErrorCode::InvalidResourceState);
    }

    #[test]
    fn submission_requires_fields_and_a_solution_in_aws() {
        let mut o = opportunity(Catalog::Aws, ReviewStatus::PendingSubmission);
        let e = check_submission(&o).unwrap_err();
        assert_eq!(e[0].field_name, "RelatedEntityIdentifiers.Solutions");
        associate(&mut o.related, "Solutions", "S-0000001").unwrap();
        assert_eq!(check_submission(&o), Ok(ReviewStatus::Submitted));
        o.document.remove("Project");
        let fields: Vec<String> = check_submission(&o).unwrap_err().into_iter().map(|e| e.field_name).collect();
        assert_eq!(fields, vec!["Project.Title", "Project.CustomerBusinessProblem"]);
        let o = opportunity(Catalog::Sandbox, ReviewStatus::PendingSubmission);
        assert!(check_submission(&o).is_ok(), "the Sandbox does not require a solution");
        let o = opportunity(Catalog::Sandbox, ReviewStatus::Submitted);
        assert_eq!(check_submission(&o).unwrap_err()[0].code, FieldErrorCode::InvalidResourceState);
    }

    #[test]
    fn association_limits() {
        let mut r = empty_related();
        assert_eq!(associate(&mut r, "AwsMarketplaceOffers", "arn:a"), Ok(AssociationChange::Changed));
        assert_eq!(associate(&mut r, "AwsMarketplaceOffers", "arn:a"), Ok(AssociationChange::Unchanged));
        assert_eq!(associate(&mut r, "AwsMarketplaceOffers", "arn:b").unwrap_err().code, FieldErrorCode::TooManyValues);
        assert_eq!(associate(&mut r, "Solutions", "X").unwrap_err().code, FieldErrorCode::InvalidStringFormat);
        assert!(disassociate(&mut r, "AwsMarketplaceOffers", "arn:a"));
        assert!(!disassociate(&mut r, "AwsMarketplaceOffers", "arn:a"));
    }

    #[test]
    fn tags() {
        let e = check_tags(&[], &[Tag { key: "aws:x".into(), value: "v".into() }], "Tags");
        assert_eq!(e[0].field_name, "Tags[0].Key");
        let mut t = vec![Tag { key: "a".into(), value: "1".into() }];
        merge_tags(&mut t, vec![Tag { key: "a".into(), value: "2".into() }, Tag { key: "b".into(), value: "3".into() }]);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].value, "2");
    }

    #[test]
    fn next_modified_always_advances() {
        let o = opportunity(Catalog::Aws, ReviewStatus::PendingSubmission);
        assert!(o.next_modified(now()) > o.last_modified);
        assert!(o.next_modified(now() - chrono::TimeDelta::seconds(5)) > o.last_modified);
    }
    #[test]
    fn aws_next_steps_show_in_its_view_once_it_has_one_latest_first_and_fifty_at_most() {
        let mut o = opportunity(Catalog::Sandbox, ReviewStatus::PendingSubmission);
        assert!(o.add_aws_next_steps("Workshop", now()).is_err(), "no AWS view before submission");
        o.submission = Some(Submission { involvement_type: "Co-Sell".into(), visibility: "Full".into(), submitted_at: now() });
        assert!(o.add_aws_next_steps("  ", now()).is_err());
        assert!(o.add_aws_next_steps(&"x".repeat(256), now()).is_err());
        let view = aws_view(&o).unwrap();
        assert_eq!(view["LifeCycle"]["NextSteps"], "call", "the partner's own until AWS adds some");
        for n in 0..51 {
            o.add_aws_next_steps(&format!("step {n}"), now() + chrono::TimeDelta::minutes(n)).unwrap();
        }
        let view = aws_view(&o).unwrap();
        assert_eq!(view["LifeCycle"]["NextSteps"], "step 50");
        let history = view["LifeCycle"]["NextStepsHistory"].as_array().unwrap();
        assert_eq!((history.len(), &history[0]["Value"]), (50, &json!("step 1")));
    }
}
