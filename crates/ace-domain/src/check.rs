//! The integration check (issue 25): the program's published test scenarios for a partner's
//! CRM integration, as data, and how a run of them is judged. Pure: the server records what
//! the partner's credentials did in the `Sandbox` catalog ([`Observation`]s, each with its
//! request id), performs the operator's side of each scenario, and asks [`judge`] whether an
//! expectation is met, still open, or broken.
//!
//! A step passes only on what was observed (operations, their inputs and results), never on
//! anything the integration claims; every verdict names the request ids it rests on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The run's step timeout unless one is given (`--step-timeout`).
pub const STEP_TIMEOUT_DEFAULT_MS: i64 = 10 * 60 * 1000;
/// The shortest and longest step timeouts a run may ask for.
pub const STEP_TIMEOUT_MIN_MS: i64 = 1000;
pub const STEP_TIMEOUT_MAX_MS: i64 = 24 * 60 * 60 * 1000;

/// A step timeout asked for, when it is within the bounds a run may ask for.
pub fn step_timeout(ms: i64) -> Result<i64, String> {
    if (STEP_TIMEOUT_MIN_MS..=STEP_TIMEOUT_MAX_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err("a step timeout is between 1s and 24h".into())
    }
}

/// The operation name of an observed webhook delivery the partner's endpoint acknowledged;
/// its input names the event (`EventId`, `DetailType`) and its resource (`Identifier`).
pub const WEBHOOK_ACKNOWLEDGED: &str = "WebhookAcknowledged";

/// The binding the opportunity a scenario is about is kept under.
pub const OPPORTUNITY: &str = "opportunity";
/// The CRM identifier (`PartnerOpportunityIdentifier`) the scenario's opportunity was created with.
pub const CRM_ID: &str = "crm-id";
/// The bindings of a referral the operator's side sent: its invitation's id, its engagement,
/// and (once accepted) its REF-3 contact deadline in ms.
pub const REFERRAL: &str = "referral";
pub const ENGAGEMENT: &str = "engagement";
pub const CONTACT_DEADLINE: &str = "contact-deadline";
/// The bindings of the operator's last review of the scenario's opportunity: the review status
/// it set and the id of the event it emitted. A read passes only if it shows that status, a
/// webhook acknowledgement only if it is of that event (an older read, or the acknowledgement
/// of the partner's own change, shows nothing of AWS's).
pub const REVIEW_STATUS: &str = "review-status";
pub const CHANGE_EVENT: &str = "change-event";
/// AWS's next steps the operator's side added, which a read of AWS's view must show.
pub const AWS_NEXT_STEPS: &str = "aws-next-steps";
/// Bound when a revoked referral's opportunity stays with the partner under retention (REM-3).
pub const RETAINED: &str = "retained";

/// One scenario: a name (`--scenario NAME`), what it proves, the rules it exercises, its steps.
#[derive(Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub title: &'static str,
    pub rules: &'static [&'static str],
    pub steps: &'static [Step],
}

#[derive(Debug)]
pub struct Step {
    /// What the step is, as the report shows it.
    pub title: &'static str,
    pub kind: StepKind,
}

#[derive(Debug)]
pub enum StepKind {
    /// Something the operator's side does, at once.
    Act(Action),
    /// What the integration must do next, within the run's step timeout.
    Expect(Expectation),
}

/// The operator's side of a step: a referral sent, or a review of the scenario's opportunity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// An opportunity referral to the partner (REF-1): an invitation, its customer's contact
    /// masked until accepted. Binds [`REFERRAL`] and [`ENGAGEMENT`].
    SendReferral,
    /// A lead referral: an engagement with a `Lead` context and a `LeadInvitation`, masked
    /// until accepted. Binds [`REFERRAL`] and [`ENGAGEMENT`].
    SendLead,
    /// A reviewer picks the submission up (`In review`).
    StartReview,
    /// `Action Required`, with comments naming what to fix.
    RequestAction {
        comment: &'static str,
    },
    Approve,
    /// `Rejected`, with the reviewer's reason.
    Reject {
        reason: crate::submission::ReviewReason,
    },
    /// AWS's seller adds its next steps to the scenario's opportunity (`GetAwsOpportunitySummary`
    /// shows them). Binds [`AWS_NEXT_STEPS`] and [`CHANGE_EVENT`].
    AddNextSteps {
        next_steps: &'static str,
    },
    /// The scenario's referral revoked (REM-2): its customer data deleted, its opportunity
    /// gone from the partner, a `Data Deletion Required` event sent. Binds [`CHANGE_EVENT`]
    /// to that event (or [`RETAINED`] when the partner keeps the opportunity, REM-3).
    Revoke,
}

/// The review an operator's action is: what the reviewer does, its comment and reason, and
/// what the report says of it.
pub struct Review {
    pub action: crate::opportunity::ReviewAction,
    pub comment: Option<String>,
    pub reason: Option<crate::submission::ReviewReason>,
    pub done: &'static str,
}

impl Action {
    /// The review this action is; `None` for the referrals.
    pub fn review(self) -> Option<Review> {
        use crate::opportunity::ReviewAction;
        let review = |action, comment: Option<String>, reason, done| Some(Review { action, comment, reason, done });
        match self {
            Action::SendReferral | Action::SendLead | Action::Revoke | Action::AddNextSteps { .. } => None,
            Action::StartReview => review(ReviewAction::StartReview, None, None, "started its review"),
            Action::RequestAction { comment } => {
                review(ReviewAction::RequestAction, Some(comment.to_string()), None, "put it in Action Required")
            }
            Action::Approve => review(ReviewAction::Approve, None, None, "approved it"),
            Action::Reject { reason } => {
                review(ReviewAction::Reject, Some("Rejected by the integration check".into()), Some(reason), "rejected it")
            }
        }
    }

    /// The referral this action sends to `partner_id` in the Sandbox, for run `run_id`: a
    /// customer of the Sandbox's own, with a contact to be masked until accepted (REF-1).
    pub fn referral(self, partner_id: &str, run_id: &str) -> Option<crate::referral::ReferralRequest> {
        use crate::referral::{ReferralContact, ReferralCustomer, ReferralKind, ReferralRequest};
        let kind = match self {
            Action::SendReferral => ReferralKind::Opportunity,
            Action::SendLead => ReferralKind::Lead,
            _ => return None,
        };
        Some(ReferralRequest {
            partner_id: partner_id.into(),
            catalog: crate::ids::Catalog::Sandbox,
            kind,
            customer: ReferralCustomer {
                company_name: "Contoso Analytics".into(),
                website: "https://contoso-analytics.example.com".into(),
                country: "US".into(),
                industry: Some("Software and Internet".into()),
            },
            title: Some(format!("Data platform modernisation ({run_id})")),
            problem: Some("Nightly batch reports miss their deadline; the customer wants near-real-time analytics.".into()),
            contact: ReferralContact {
                name: Some("Dana Whitfield".into()),
                email: Some("dana.whitfield@contoso-analytics.example.com".into()),
                phone: Some("+14155550123".into()),
                title: Some("Head of Data".into()),
            },
        })
    }
}

/// What the integration must be seen doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expectation {
    /// A successful `CreateOpportunity` whose input carries every one of these members (paths
    /// of the input, dot-separated). Binds [`OPPORTUNITY`] to the new opportunity's id.
    Creates { members: &'static [&'static str] },
    /// A successful `SubmitOpportunity` or `StartEngagementFromOpportunityTask` of the bound
    /// opportunity.
    Submits,
    /// A successful read of the bound opportunity (`GetOpportunity`, or a `ListOpportunities`
    /// or `SearchOpportunities` page that holds it) after the operator's last change, or the
    /// change's webhook acknowledged by the partner's endpoint: the integration noticed it.
    ReadsChange,
    /// A successful `UpdateOpportunity` of the bound opportunity that gives each of these
    /// members (input paths) a value other than the one it had when the step began.
    Fixes { members: &'static [&'static str] },
    /// The referral's invitation accepted (`StartEngagementByAcceptingInvitationTask` or
    /// `AcceptEngagementInvitation`) — and nothing of the referral's engagement or opportunity
    /// read before (REF-1: its customer is confidential until accepted).
    AcceptsInvitation,
    /// The referral's invitation rejected with a reason (`RejectEngagementInvitation`).
    RejectsInvitation,
    /// The accepted referral's opportunity read, its contact unmasked (REF-1, audited).
    ReadsContact,
    /// The customer contact recorded (`AcePartner.RecordReferralContact`) by the REF-3 deadline.
    RecordsContact,
    /// The accepted lead turned into an opportunity (`StartOpportunityFromEngagementTask` on
    /// the lead's engagement). Binds [`OPPORTUNITY`].
    ConvertsLead,
    /// The bound opportunity's CRM record sent again as a new `CreateOpportunity` (a sync that
    /// lost the first answer), refused as a duplicate `PartnerOpportunityIdentifier`, and the
    /// integration reconciling — reading or updating the opportunity that holds the identifier
    /// — and then not sending it again for [`RECONCILE_QUIET_MS`]. A ClientToken retry answered
    /// with the first create's own answer reconciles too.
    ReconcilesDuplicate,
    /// AWS's next steps read: a successful `GetAwsOpportunitySummary` of the bound opportunity
    /// that shows them, or their change's webhook acknowledged.
    ReadsAwsNextSteps,
    /// After AWS revoked the referral, the integration seen learning that its opportunity is
    /// gone, so that it deletes its copy (REM-2): the `Data Deletion Required` event
    /// acknowledged at its webhook, or a read of the opportunity answered not found.
    DeletesCopy,
}

/// The members a create must carry: the opportunity scenario's mandatory fields.
pub const MANDATORY_MEMBERS: &[&str] = &[
    "Customer.Account.CompanyName",
    "Customer.Account.WebsiteUrl",
    "Customer.Account.Industry",
    "Customer.Account.Address.CountryCode",
    "Customer.Account.Address.PostalCode",
    "Project.Title",
    "Project.CustomerBusinessProblem",
    "Project.CustomerUseCase",
    "Project.DeliveryModels",
    "Project.ExpectedCustomerSpend",
    "LifeCycle.TargetCloseDate",
    "OpportunityType",
    "PrimaryNeedsFromAws",
    "PartnerOpportunityIdentifier",
];

/// The members an `Action Required` of the opportunity scenario asks to fix.
const FIX_MEMBERS: &[&str] = &["Customer.Account.WebsiteUrl"];

/// Steps several scenarios share: the integration creates and submits, AWS picks the
/// submission up and approves it, the integration reads that; a referral sent, its contact
/// recorded.
const CREATE: Step = Step {
    title: "Create an opportunity with the mandatory fields",
    kind: StepKind::Expect(Expectation::Creates { members: MANDATORY_MEMBERS }),
};
const SUBMIT: Step = Step { title: "Submit it for review", kind: StepKind::Expect(Expectation::Submits) };
const START_REVIEW: Step = Step { title: "AWS starts its review (In review)", kind: StepKind::Act(Action::StartReview) };
const APPROVE: Step = Step { title: "AWS approves it", kind: StepKind::Act(Action::Approve) };
const READ_APPROVED: Step = Step { title: "Read the approved opportunity", kind: StepKind::Expect(Expectation::ReadsChange) };
const SEND_REFERRAL: Step =
    Step { title: "AWS refers an opportunity (its contact masked)", kind: StepKind::Act(Action::SendReferral) };
/// The step title the reference integrations act on: send the same deal again.
pub const SEND_AGAIN_TITLE: &str = "Send the same CRM record again: it is refused as a duplicate; read the existing opportunity";
const RECORD_CONTACT: Step =
    Step { title: "Record contacting the customer within 3 business days", kind: StepKind::Expect(Expectation::RecordsContact) };

/// The published scenarios. A new one is a new entry.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "opportunity-approved",
        title: "A partner opportunity through review to approval",
        rules: &["SUB-1", "SUB-3"],
        steps: &[
            CREATE,
            SUBMIT,
            START_REVIEW,
            Step { title: "Read the opportunity once it is in review", kind: StepKind::Expect(Expectation::ReadsChange) },
            APPROVE,
            READ_APPROVED,
        ],
    },
    Scenario {
        name: "opportunity-action-required",
        title: "AWS asks for a correction; the integration fixes the named field",
        rules: &["SUB-1"],
        steps: &[
            CREATE,
            SUBMIT,
            START_REVIEW,
            Step {
                title: "AWS puts it in Action Required: the website is wrong",
                kind: StepKind::Act(Action::RequestAction {
                    comment: "Customer.Account.WebsiteUrl: the website does not belong to the customer; correct it",
                }),
            },
            Step {
                title: "Update the opportunity, fixing the named field",
                kind: StepKind::Expect(Expectation::Fixes { members: FIX_MEMBERS }),
            },
            APPROVE,
            READ_APPROVED,
        ],
    },
    Scenario {
        name: "opportunity-rejected",
        title: "AWS rejects a submission with a reason; the integration shows it",
        rules: &["SUB-1"],
        steps: &[
            CREATE,
            SUBMIT,
            START_REVIEW,
            Step {
                title: "AWS rejects it as a duplicate",
                kind: StepKind::Act(Action::Reject { reason: crate::submission::ReviewReason::Duplicate }),
            },
            Step { title: "Read the rejected opportunity", kind: StepKind::Expect(Expectation::ReadsChange) },
        ],
    },
    Scenario {
        name: "opportunity-aws-next-steps",
        title: "AWS adds its next steps to an approved opportunity; the integration reads AWS's view",
        rules: &["SUB-1"],
        steps: &[
            CREATE,
            SUBMIT,
            START_REVIEW,
            APPROVE,
            Step {
                title: "AWS adds its next steps",
                kind: StepKind::Act(Action::AddNextSteps {
                    next_steps: "AWS solutions architect to join the discovery call with the customer's data team",
                }),
            },
            Step {
                title: "Read AWS's next steps (GetAwsOpportunitySummary)",
                kind: StepKind::Expect(Expectation::ReadsAwsNextSteps),
            },
        ],
    },
    Scenario {
        name: "opportunity-duplicate",
        title: "A CRM record sent twice is refused the second time; the integration links it to the existing opportunity",
        // Not a rule of the catalog: the program's test scenarios expect it (README).
        rules: &[],
        steps: &[CREATE, Step { title: SEND_AGAIN_TITLE, kind: StepKind::Expect(Expectation::ReconcilesDuplicate) }],
    },
    Scenario {
        name: "aws-referral-accepted",
        title: "An AWS referral arrives masked; the integration accepts it, reads the contact and records contacting them",
        rules: &["REF-1", "REF-2", "REF-3"],
        steps: &[
            SEND_REFERRAL,
            Step {
                title: "Accept the invitation, reading nothing of it before",
                kind: StepKind::Expect(Expectation::AcceptsInvitation),
            },
            Step { title: "Read the accepted opportunity with its contact", kind: StepKind::Expect(Expectation::ReadsContact) },
            RECORD_CONTACT,
        ],
    },
    Scenario {
        name: "aws-referral-revoked",
        title: "AWS revokes an accepted referral; the integration learns it is gone and deletes its copy",
        rules: &["REM-2"],
        steps: &[
            SEND_REFERRAL,
            Step {
                title: "Accept the invitation, reading nothing of it before",
                kind: StepKind::Expect(Expectation::AcceptsInvitation),
            },
            Step { title: "AWS revokes the referral (its customer data deleted)", kind: StepKind::Act(Action::Revoke) },
            Step {
                title:
                    "Learn that it is gone and delete the copy (the Data Deletion Required event, or a read answered not found)",
                kind: StepKind::Expect(Expectation::DeletesCopy),
            },
        ],
    },
    Scenario {
        name: "aws-referral-rejected",
        title: "An AWS referral the partner cannot take is rejected with a reason",
        rules: &["REF-1"],
        steps: &[
            SEND_REFERRAL,
            Step { title: "Reject the invitation with a reason", kind: StepKind::Expect(Expectation::RejectsInvitation) },
        ],
    },
    Scenario {
        name: "lead-converted",
        title: "A lead arrives masked; the integration accepts it, turns it into an opportunity and records the contact",
        rules: &["REF-1", "REF-3"],
        steps: &[
            Step { title: "AWS refers a lead (its contact masked)", kind: StepKind::Act(Action::SendLead) },
            Step {
                title: "Accept the lead, reading nothing of it before",
                kind: StepKind::Expect(Expectation::AcceptsInvitation),
            },
            Step { title: "Turn the lead into an opportunity", kind: StepKind::Expect(Expectation::ConvertsLead) },
            RECORD_CONTACT,
        ],
    },
];

pub fn scenario(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// What the server saw the partner's credentials do: one signed request in the `Sandbox`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Order of observation within the run.
    pub seq: i64,
    pub request_id: String,
    pub at_ms: i64,
    pub operation: String,
    /// The error's `__type` when the request was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub input: Value,
    #[serde(default)]
    pub output: Value,
}

impl Observation {
    fn ok(&self) -> bool {
        self.error.is_none()
    }
}

/// Where a step stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Not seen yet.
    Open,
    /// Seen: what was bound (e.g. the opportunity's id), the request ids it rests on, and the
    /// `seq` of the observation that met it (the next step looks at what came after).
    Met { binds: Vec<(String, String)>, evidence: Vec<String>, seq: i64 },
    /// Seen doing something else: what was expected, what happened, the requests, and the
    /// `seq` of the observation that broke it (0 when none did).
    Broken { message: String, evidence: Vec<String>, seq: i64 },
}

/// A member of an input by dot-separated path.
fn member<'a>(input: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(input, |v, k| v.get(k)).filter(|v| !v.is_null())
}

fn names(o: &Observation, id: &str) -> bool {
    o.input.get("Identifier").and_then(Value::as_str) == Some(id)
}

/// Whether `o` is a successful read that shows the opportunity `id`.
/// Whether `o` is a successful read that shows the opportunity `id` as AWS's last review left
/// it (`status`, when one is bound), or the acknowledgement of that review's event (`event`).
fn reads(o: &Observation, id: &str, status: Option<&str>, event: Option<&str>) -> bool {
    if !o.ok() {
        return false;
    }
    let shows = |summary: &Value| {
        summary.get("Id").and_then(Value::as_str) == Some(id)
            && status.is_none_or(|s| member(summary, "LifeCycle.ReviewStatus").and_then(Value::as_str) == Some(s))
    };
    let listed = |list: &str| o.output.get(list).and_then(Value::as_array).is_some_and(|a| a.iter().any(shows));
    match o.operation.as_str() {
        "GetOpportunity" => names(o, id) && shows(&o.output),
        // The integration took the change from its webhook instead of polling for it.
        WEBHOOK_ACKNOWLEDGED => event.is_some_and(|e| o.input.get("EventId").and_then(Value::as_str) == Some(e)),
        "ListOpportunities" => listed("OpportunitySummaries"),
        "SearchOpportunities" => listed("OpportunitySearchSummaries"),
        _ => false,
    }
}

/// Whether `expectation` is met by `seen` (the observations since the step began, in order),
/// with `bound` the run's bindings and `before` the bound opportunity as it was when the step
/// began (for [`Expectation::Fixes`]).
pub fn judge(
    expectation: Expectation,
    bound: &BTreeMap<String, String>,
    before: Option<&Value>,
    seen: &[Observation],
) -> Verdict {
    judge_at(expectation, bound, before, seen, i64::MAX)
}

/// How long an integration must stay quiet — no further create with the refused CRM identifier
/// — after reconciling a refused duplicate, for [`Expectation::ReconcilesDuplicate`] to pass: a
/// blind retry loop sends again within seconds.
pub const RECONCILE_QUIET_MS: i64 = 60_000;

/// Whether `expectation` is judged on everything seen since its step began at once (it weighs
/// one observation against later ones), rather than a page at a time.
pub fn judged_whole(expectation: Expectation) -> bool {
    matches!(expectation, Expectation::ReconcilesDuplicate)
}

/// Whether `o` is worth keeping for judging `expectation` on everything its step saw
/// ([`judged_whole`]), given what is `kept` so far: for [`Expectation::ReconcilesDuplicate`],
/// every create carrying the refused CRM identifier, and the first read or update of its holder
/// after each — so what is kept stays small however long the step and however busy the partner.
pub fn keep_for_judging(
    expectation: Expectation,
    bound: &BTreeMap<String, String>,
    kept: &[Observation],
    o: &Observation,
) -> bool {
    match expectation {
        Expectation::ReconcilesDuplicate => {
            let (Some(id), Some(crm)) = (bound.get(OPPORTUNITY), bound.get(CRM_ID)) else { return true };
            let again = |o: &Observation| creates_with(o, crm);
            if again(o) {
                return true;
            }
            // The first read or update of the holder after each such create.
            let holder = reconciles(o, id);
            holder && kept.iter().rposition(again).is_some_and(|last| kept[last + 1..].iter().all(again))
        }
        _ => true,
    }
}

/// [`judge`] at program time `now_ms` (an expectation that needs quiet after what it saw,
/// [`RECONCILE_QUIET_MS`], is met only once that time has passed).
pub fn judge_at(
    expectation: Expectation,
    bound: &BTreeMap<String, String>,
    before: Option<&Value>,
    seen: &[Observation],
    now_ms: i64,
) -> Verdict {
    let id = bound.get(OPPORTUNITY).map(String::as_str);
    match expectation {
        Expectation::Creates { members } => {
            let creates: Vec<&Observation> = seen.iter().filter(|o| o.operation == "CreateOpportunity").collect();
            if let Some(o) = creates.iter().find(|o| o.ok()) {
                let missing: Vec<&str> = members.iter().copied().filter(|m| member(&o.input, m).is_none()).collect();
                if !missing.is_empty() {
                    return Verdict::Broken {
                        message: format!(
                            "CreateOpportunity succeeded without {}: the integration must send every mandatory field",
                            missing.join(", ")
                        ),
                        evidence: vec![o.request_id.clone()],
                        seq: o.seq,
                    };
                }
                let Some(created) = o.output.get("Id").and_then(Value::as_str) else {
                    return Verdict::Open;
                };
                let mut binds = vec![(OPPORTUNITY.to_string(), created.to_string())];
                if let Some(crm) = member(&o.input, "PartnerOpportunityIdentifier").and_then(Value::as_str) {
                    binds.push((CRM_ID.to_string(), crm.to_string()));
                }
                return Verdict::Met { binds, evidence: vec![o.request_id.clone()], seq: o.seq };
            }
            Verdict::Open
        }
        Expectation::ReadsAwsNextSteps => {
            let Some(id) = id else { return unbound() };
            let (steps, event) = (bound.get(AWS_NEXT_STEPS).map(String::as_str), bound.get(CHANGE_EVENT).map(String::as_str));
            seen.iter()
                .find(|o| {
                    let read = o.ok()
                        && o.operation == "GetAwsOpportunitySummary"
                        && member(&o.input, "RelatedOpportunityIdentifier").and_then(Value::as_str) == Some(id)
                        && steps.is_none_or(|s| member(&o.output, "LifeCycle.NextSteps").and_then(Value::as_str) == Some(s));
                    let told = o.operation == WEBHOOK_ACKNOWLEDGED
                        && event.is_some_and(|e| o.input.get("EventId").and_then(Value::as_str) == Some(e));
                    read || told
                })
                .map_or(Verdict::Open, met)
        }
        Expectation::DeletesCopy => {
            let Some(id) = id else { return unbound() };
            if bound.contains_key(RETAINED) {
                // Kept under retention (REM-3): there is no copy to delete.
                return Verdict::Met { binds: Vec::new(), evidence: Vec::new(), seq: 0 };
            }
            let event = bound.get(CHANGE_EVENT).map(String::as_str);
            seen.iter()
                .find(|o| {
                    let gone = o.operation == "GetOpportunity"
                        && names(o, id)
                        && o.error.as_deref() == Some("ResourceNotFoundException");
                    let told = o.operation == WEBHOOK_ACKNOWLEDGED
                        && event.is_some_and(|e| o.input.get("EventId").and_then(Value::as_str) == Some(e));
                    gone || told
                })
                .map_or(Verdict::Open, met)
        }
        Expectation::ReconcilesDuplicate => {
            let (Some(id), Some(crm)) = (id, bound.get(CRM_ID)) else { return unbound() };
            let again = |o: &Observation| creates_with(o, crm);
            // The refusal (or the first create's own answer to its ClientToken), then what
            // reconciled it: a read of the opportunity that holds the identifier, or an update of it.
            let mut refused: Option<&Observation> = None;
            let mut reconciled: Option<&Observation> = None;
            for o in seen {
                if again(o) {
                    let replayed = o.ok() && o.output.get("Id").and_then(Value::as_str) == Some(id);
                    if o.ok() && !replayed {
                        return Verdict::Broken {
                            message: format!(
                                "CreateOpportunity with PartnerOpportunityIdentifier {crm:?} made a second opportunity: \
                                 a CRM record is one opportunity"
                            ),
                            evidence: vec![o.request_id.clone()],
                            seq: o.seq,
                        };
                    }
                    if !replayed && !refused_as_duplicate(o) {
                        continue;
                    }
                    if let Some(first) = refused {
                        let after = if reconciled.is_some() { format!(" even after reading {id}") } else { String::new() };
                        return Verdict::Broken {
                            message: format!(
                                "CreateOpportunity was refused for a duplicate PartnerOpportunityIdentifier ({crm:?}) and then \
                                 sent again{after}: a refused duplicate is refused every time. Read the opportunity the \
                                 refusal names ({id}) and link the CRM record to it instead of retrying"
                            ),
                            evidence: vec![first.request_id.clone(), o.request_id.clone()],
                            seq: o.seq,
                        };
                    }
                    refused = Some(o);
                    if replayed {
                        reconciled = Some(o);
                    }
                } else if refused.is_some() && reconciled.is_none() && reconciles(o, id) {
                    reconciled = Some(o);
                }
            }
            match (refused, reconciled) {
                // Quiet since: no retry came.
                (Some(first), Some(r)) if now_ms.saturating_sub(r.at_ms) >= RECONCILE_QUIET_MS => Verdict::Met {
                    binds: Vec::new(),
                    evidence: if first.request_id == r.request_id {
                        vec![r.request_id.clone()]
                    } else {
                        vec![first.request_id.clone(), r.request_id.clone()]
                    },
                    seq: seen.last().map_or(r.seq, |last| last.seq),
                },
                _ => Verdict::Open,
            }
        }
        Expectation::Submits => {
            let Some(id) = id else { return unbound() };
            seen.iter()
                .find(|o| {
                    o.ok()
                        && names(o, id)
                        && matches!(o.operation.as_str(), "SubmitOpportunity" | "StartEngagementFromOpportunityTask")
                })
                .map_or(Verdict::Open, met)
        }
        Expectation::ReadsChange => {
            let Some(id) = id else { return unbound() };
            let (status, event) = (bound.get(REVIEW_STATUS).map(String::as_str), bound.get(CHANGE_EVENT).map(String::as_str));
            seen.iter().find(|o| reads(o, id, status, event)).map_or(Verdict::Open, met)
        }
        Expectation::AcceptsInvitation => {
            let Some(invitation) = bound.get(REFERRAL) else { return unsent() };
            let engagement = bound.get(ENGAGEMENT).map(String::as_str).unwrap_or_default();
            for o in seen {
                let accepts =
                    matches!(o.operation.as_str(), "StartEngagementByAcceptingInvitationTask" | "AcceptEngagementInvitation")
                        && names(o, invitation);
                if accepts && o.ok() {
                    let binds = o
                        .output
                        .get("OpportunityId")
                        .and_then(Value::as_str)
                        .map(|id| vec![(OPPORTUNITY.to_string(), id.to_string())])
                        .unwrap_or_default();
                    return Verdict::Met { binds, evidence: vec![o.request_id.clone()], seq: o.seq };
                }
                if names(o, engagement) || o.input.get("EngagementIdentifier").and_then(Value::as_str) == Some(engagement) {
                    return Verdict::Broken {
                        message: format!(
                            "{} read the referral's engagement before its invitation was accepted: a referral's customer is \
                             confidential until the partner accepts it (REF-1); accept first, then read",
                            o.operation
                        ),
                        evidence: vec![o.request_id.clone()],
                        seq: o.seq,
                    };
                }
            }
            Verdict::Open
        }
        Expectation::RejectsInvitation => {
            let Some(invitation) = bound.get(REFERRAL) else { return unsent() };
            let Some(o) = seen.iter().find(|o| o.ok() && o.operation == "RejectEngagementInvitation" && names(o, invitation))
            else {
                return Verdict::Open;
            };
            if member(&o.input, "RejectionReason").and_then(Value::as_str).is_none_or(|r| r.trim().is_empty()) {
                return Verdict::Broken {
                    message: "RejectEngagementInvitation without a RejectionReason: say why, so AWS can refer better".into(),
                    evidence: vec![o.request_id.clone()],
                    seq: o.seq,
                };
            }
            met(o)
        }
        Expectation::ConvertsLead => {
            let Some(engagement) = bound.get(ENGAGEMENT) else { return unsent() };
            if id.is_some() {
                // Accepted with `StartEngagementByAcceptingInvitationTask`, which turns a lead
                // into an opportunity itself: the acceptance's request is the evidence.
                return Verdict::Met { binds: Vec::new(), evidence: Vec::new(), seq: 0 };
            }
            seen.iter().find(|o| o.ok() && o.operation == "StartOpportunityFromEngagementTask" && names(o, engagement)).map_or(
                Verdict::Open,
                |o| match o.output.get("OpportunityId").and_then(Value::as_str) {
                    Some(created) => Verdict::Met {
                        binds: vec![(OPPORTUNITY.to_string(), created.to_string())],
                        evidence: vec![o.request_id.clone()],
                        seq: o.seq,
                    },
                    None => Verdict::Open,
                },
            )
        }
        Expectation::ReadsContact => {
            let Some(id) = id else { return unbound() };
            seen.iter().find(|o| o.ok() && o.operation == "GetOpportunity" && names(o, id)).map_or(Verdict::Open, met)
        }
        Expectation::RecordsContact => {
            let (Some(id), invitation) = (id, bound.get(REFERRAL).map(String::as_str)) else { return unbound() };
            let Some(o) = seen.iter().find(|o| {
                o.ok()
                    && o.operation == "RecordReferralContact"
                    && (member(&o.input, "OpportunityIdentifier").and_then(Value::as_str) == Some(id)
                        || invitation
                            .is_some_and(|i| member(&o.input, "InvitationIdentifier").and_then(Value::as_str) == Some(i)))
            }) else {
                return Verdict::Open;
            };
            let deadline = bound.get(CONTACT_DEADLINE).and_then(|d| d.parse::<i64>().ok());
            if deadline.is_some_and(|d| o.at_ms > d) {
                return Verdict::Broken {
                    message: "the contact was recorded after the REF-3 deadline (3 business days): contact the customer and \
                              record it sooner"
                        .into(),
                    evidence: vec![o.request_id.clone()],
                    seq: o.seq,
                };
            }
            met(o)
        }
        Expectation::Fixes { members } => {
            let Some(id) = id else { return unbound() };
            // The first update after AWS asked is the integration's answer.
            let Some(o) = seen.iter().find(|o| o.ok() && o.operation == "UpdateOpportunity" && names(o, id)) else {
                return Verdict::Open;
            };
            let unchanged: Vec<&str> = members
                .iter()
                .copied()
                .filter(|m| member(&o.input, m).is_none() || member(&o.input, m) == before.and_then(|b| member(b, m)))
                .collect();
            if unchanged.is_empty() {
                return met(o);
            }
            Verdict::Broken {
                message: format!(
                    "UpdateOpportunity answered the Action Required without changing {}: read LifeCycle.ReviewComments \
                     and fix the fields it names",
                    unchanged.join(", ")
                ),
                evidence: vec![o.request_id.clone()],
                seq: o.seq,
            }
        }
    }
}

/// Whether `o` is a `CreateOpportunity` carrying the CRM identifier `crm`.
fn creates_with(o: &Observation, crm: &str) -> bool {
    o.operation == "CreateOpportunity" && member(&o.input, "PartnerOpportunityIdentifier").and_then(Value::as_str) == Some(crm)
}

/// Whether `o` reconciles a refused duplicate: a read or an update of `holder`, the opportunity
/// that holds the identifier.
fn reconciles(o: &Observation, holder: &str) -> bool {
    (o.ok() && o.operation == "UpdateOpportunity" && names(o, holder)) || reads(o, holder, None, None)
}

/// Whether `o` was refused for a CRM identifier another opportunity holds.
fn refused_as_duplicate(o: &Observation) -> bool {
    o.error.as_deref() == Some("ValidationException")
        && o.output.get("ErrorList").and_then(Value::as_array).is_some_and(|errors| {
            errors.iter().any(|e| {
                e.get("FieldName").and_then(Value::as_str) == Some("PartnerOpportunityIdentifier")
                    && e.get("Code").and_then(Value::as_str) == Some("DUPLICATE_KEY_VALUE")
            })
        })
}

fn met(o: &Observation) -> Verdict {
    Verdict::Met { binds: Vec::new(), evidence: vec![o.request_id.clone()], seq: o.seq }
}

fn unsent() -> Verdict {
    Verdict::Broken { message: "the scenario's referral was never sent".into(), evidence: Vec::new(), seq: 0 }
}

fn unbound() -> Verdict {
    Verdict::Broken { message: "the scenario's opportunity was never created".into(), evidence: Vec::new(), seq: 0 }
}

/// What a step waited for, said to a CRM developer when it never came.
pub fn timed_out(expectation: Expectation, timeout_ms: i64) -> String {
    let minutes = timeout_ms as f64 / 60_000.0;
    let what = match expectation {
        Expectation::Creates { .. } => {
            "no successful CreateOpportunity in the Sandbox catalog (one refused as a duplicate \
             PartnerOpportunityIdentifier does not count: a new run needs CRM records the Sandbox has not seen)"
        }
        Expectation::Submits => "the opportunity was never submitted (SubmitOpportunity or StartEngagementFromOpportunityTask)",
        Expectation::ReadsChange => {
            "the opportunity was not read after AWS changed it: poll GetOpportunity or ListOpportunities (or act on the \
             webhook) so the CRM shows the new review status"
        }
        Expectation::Fixes { .. } => {
            "no UpdateOpportunity answered the Action Required: read LifeCycle.ReviewComments and update the fields it names"
        }
        Expectation::AcceptsInvitation => {
            "the referral's invitation was never accepted: list ListEngagementInvitations (ParticipantType RECEIVER) and \
             accept with StartEngagementByAcceptingInvitationTask"
        }
        Expectation::RejectsInvitation => {
            "the referral's invitation was never rejected: RejectEngagementInvitation with a RejectionReason"
        }
        Expectation::ReadsContact => "the accepted referral's opportunity was never read (GetOpportunity)",
        Expectation::ConvertsLead => {
            "the accepted lead was never turned into an opportunity: StartOpportunityFromEngagementTask on its engagement"
        }
        Expectation::ReadsAwsNextSteps => {
            "AWS's next steps were never read: GetAwsOpportunitySummary (RelatedOpportunityIdentifier) shows AWS's \
             LifeCycle.NextSteps once its seller adds them"
        }
        Expectation::DeletesCopy => {
            "the revoked referral's opportunity was never found gone: act on the Data Deletion Required event (or \
             notice GetOpportunity answering ResourceNotFoundException) and delete the CRM's copy of its customer data"
        }
        Expectation::ReconcilesDuplicate => {
            "the CRM record was not sent again, or its refusal as a duplicate was not followed by a read (or an \
             update) of the opportunity that holds its PartnerOpportunityIdentifier and a quiet minute: send the \
             record again (a new ClientToken), then read the opportunity the refusal names and stop sending it"
        }
        Expectation::RecordsContact => {
            "no contact with the customer was recorded (AcePartner.RecordReferralContact) — REF-3 gives 3 business days"
        }
    };
    format!("timed out after {minutes:.1} min: {what}")
}

/// A run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunStatus {
    Running,
    Passed,
    Failed,
    /// Stopped before its end: by the operator, or because it could not go on.
    Stopped,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "Running",
            RunStatus::Passed => "Passed",
            RunStatus::Failed => "Failed",
            RunStatus::Stopped => "Stopped",
        }
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Passed,
    Failed,
    TimedOut,
    /// Never reached: an earlier step of its scenario did not pass.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    pub scenario: String,
    pub step: usize,
    pub title: String,
    pub outcome: Outcome,
    pub message: String,
    /// The request ids the outcome rests on.
    pub evidence: Vec<String>,
    pub at_ms: i64,
}

/// A run: which scenarios, where it stands, what has been found so far. It is all the state a
/// run has, so a restarted server resumes waiting where it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRun {
    pub id: String,
    pub partner_id: String,
    pub scenarios: Vec<String>,
    pub step_timeout_ms: i64,
    pub status: RunStatus,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// The scenario and step in progress (indexes into `scenarios` and its steps).
    pub scenario: usize,
    pub step: usize,
    /// When the step in progress began, and the last observation before it.
    pub step_started_ms: i64,
    pub seen_before_step: i64,
    /// The bound opportunity as it was when the step in progress began.
    #[serde(default)]
    pub before: Option<Value>,
    /// The current scenario's bindings.
    #[serde(default)]
    pub bound: BTreeMap<String, String>,
    pub results: Vec<StepResult>,
    /// Optimistic concurrency: each save must see the version it read.
    pub version: i64,
}

impl CheckRun {
    /// A new run of `scenarios` for a partner, at its first step; `seen_before` is the
    /// partner's last observation so far (the first step looks at what comes after).
    pub fn new(
        id: String,
        partner_id: String,
        scenarios: Vec<String>,
        step_timeout_ms: i64,
        now_ms: i64,
        seen_before: i64,
    ) -> CheckRun {
        CheckRun {
            id,
            partner_id,
            scenarios,
            step_timeout_ms,
            status: RunStatus::Running,
            created_ms: now_ms,
            updated_ms: now_ms,
            scenario: 0,
            step: 0,
            step_started_ms: now_ms,
            seen_before_step: seen_before,
            before: None,
            bound: BTreeMap::new(),
            results: Vec::new(),
            version: 0,
        }
    }

    /// The step in progress, if the run is still going.
    pub fn current(&self) -> Option<(&'static Scenario, usize, &'static Step)> {
        let scenario = scenario(self.scenarios.get(self.scenario)?)?;
        scenario.steps.get(self.step).map(|s| (scenario, self.step, s))
    }

    /// Records how the step in progress ended and moves on: to the next step, or — when it did
    /// not pass — past the rest of its scenario (each recorded as skipped) to the next one.
    pub fn finish_step(&mut self, outcome: Outcome, message: String, evidence: Vec<String>, now_ms: i64, last_seq: i64) {
        let Some((scenario, index, step)) = self.current() else { return };
        self.results.push(StepResult {
            scenario: scenario.name.into(),
            step: index,
            title: step.title.into(),
            outcome,
            message,
            evidence,
            at_ms: now_ms,
        });
        if outcome == Outcome::Passed && index + 1 < scenario.steps.len() {
            self.step += 1;
        } else {
            if outcome != Outcome::Passed {
                for (i, rest) in scenario.steps.iter().enumerate().skip(index + 1) {
                    self.results.push(StepResult {
                        scenario: scenario.name.into(),
                        step: i,
                        title: rest.title.into(),
                        outcome: Outcome::Skipped,
                        message: "not reached".into(),
                        evidence: Vec::new(),
                        at_ms: now_ms,
                    });
                }
            }
            self.scenario += 1;
            self.step = 0;
            self.bound.clear();
        }
        self.step_started_ms = now_ms;
        self.seen_before_step = last_seq;
        self.before = None;
        self.updated_ms = now_ms;
        if self.scenario >= self.scenarios.len() {
            let all_passed = self.results.iter().all(|r| r.outcome == Outcome::Passed);
            self.status = if all_passed { RunStatus::Passed } else { RunStatus::Failed };
        }
    }
}

impl CheckRun {
    /// Stops a run before its end, `why` recorded against every step not taken yet (as
    /// skipped). Nothing happens to a run that has ended.
    pub fn stop(&mut self, why: &str, now_ms: i64) {
        if self.status != RunStatus::Running {
            return;
        }
        for (i, name) in self.scenarios.iter().enumerate().skip(self.scenario) {
            let Some(scenario) = scenario(name) else { continue };
            let first = if i == self.scenario { self.step } else { 0 };
            for (n, step) in scenario.steps.iter().enumerate().skip(first) {
                self.results.push(StepResult {
                    scenario: scenario.name.into(),
                    step: n,
                    title: step.title.into(),
                    outcome: Outcome::Skipped,
                    message: why.into(),
                    evidence: Vec::new(),
                    at_ms: now_ms,
                });
            }
        }
        self.scenario = self.scenarios.len();
        self.step = 0;
        self.status = RunStatus::Stopped;
        self.updated_ms = now_ms;
    }
}

/// The scenarios a run asks for: all of them when none is named; an unknown name is refused
/// with the names there are.
pub fn choose(names: &[String]) -> Result<Vec<String>, String> {
    if names.is_empty() {
        return Ok(SCENARIOS.iter().map(|s| s.name.to_string()).collect());
    }
    let mut chosen = Vec::new();
    for n in names {
        if scenario(n).is_none() {
            let known: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
            return Err(format!("unknown scenario {n:?}; the scenarios are: {}", known.join(", ")));
        }
        if !chosen.contains(n) {
            chosen.push(n.clone());
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seen(seq: i64, operation: &str, input: Value, output: Value) -> Observation {
        Observation { seq, request_id: format!("r{seq}"), at_ms: seq, operation: operation.into(), error: None, input, output }
    }

    fn full_create() -> Value {
        json!({"Customer": {"Account": {"CompanyName": "Acme", "WebsiteUrl": "https://acme.example", "Industry": "Retail",
                "Address": {"CountryCode": "US", "PostalCode": "98101"}}},
            "Project": {"Title": "Lake", "CustomerBusinessProblem": "Slow reports", "CustomerUseCase": "Analytics",
                "DeliveryModels": ["SaaS or PaaS"], "ExpectedCustomerSpend": [{"Amount": "100"}]},
            "LifeCycle": {"TargetCloseDate": "2027-01-01"}, "OpportunityType": "Net New Business",
            "PrimaryNeedsFromAws": ["Co-Sell - Architectural Validation"], "PartnerOpportunityIdentifier": "CRM-1"})
    }

    #[test]
    fn a_create_must_carry_every_mandatory_member_and_binds_the_opportunity() {
        let bound = BTreeMap::new();
        let expect = Expectation::Creates { members: MANDATORY_MEMBERS };
        assert_eq!(judge(expect, &bound, None, &[]), Verdict::Open);
        let ok = seen(1, "CreateOpportunity", full_create(), json!({"Id": "O7"}));
        assert_eq!(
            judge(expect, &bound, None, std::slice::from_ref(&ok)),
            Verdict::Met {
                binds: vec![(OPPORTUNITY.into(), "O7".into()), (CRM_ID.into(), "CRM-1".into())],
                evidence: vec!["r1".into()],
                seq: 1
            }
        );
        let mut short = full_create();
        short["Customer"]["Account"].as_object_mut().unwrap().remove("WebsiteUrl");
        let Verdict::Broken { message, evidence, .. } =
            judge(expect, &bound, None, &[seen(2, "CreateOpportunity", short, json!({"Id": "O8"}))])
        else {
            panic!("a create without a mandatory field breaks the step")
        };
        assert!(message.contains("Customer.Account.WebsiteUrl"), "{message}");
        assert_eq!(evidence, ["r2"]);
        let mut refused = ok.clone();
        refused.error = Some("ValidationException".into());
        assert_eq!(judge(expect, &bound, None, &[refused]), Verdict::Open, "a refused create is not a create");
    }

    #[test]
    fn a_duplicate_create_refused_must_be_followed_by_a_read_not_by_the_same_create_again() {
        let bound: BTreeMap<String, String> =
            [(OPPORTUNITY.to_string(), "O7".to_string()), (CRM_ID.to_string(), "CRM-1".to_string())].into();
        let expect = Expectation::ReconcilesDuplicate;
        let refused = |seq: i64| Observation {
            error: Some("ValidationException".into()),
            ..seen(
                seq,
                "CreateOpportunity",
                full_create(),
                json!({"ErrorList": [{"FieldName": "PartnerOpportunityIdentifier", "Code": "DUPLICATE_KEY_VALUE"}]}),
            )
        };
        let read = seen(3, "GetOpportunity", json!({"Identifier": "O7"}), json!({"Id": "O7"}));
        assert_eq!(judge(expect, &bound, None, &[]), Verdict::Open);
        // A read before the record was sent again proves nothing: the step waits for the refusal.
        assert_eq!(judge(expect, &bound, None, std::slice::from_ref(&read)), Verdict::Open);
        assert_eq!(
            judge(expect, &bound, None, &[refused(2), read.clone()]),
            Verdict::Met { binds: vec![], evidence: vec!["r2".into(), "r3".into()], seq: 3 }
        );
        let Verdict::Broken { message, evidence, seq } = judge(expect, &bound, None, &[refused(2), refused(4), read.clone()])
        else {
            panic!("the same create sent again after its refusal breaks the step")
        };
        assert!(message.contains("O7") && message.contains("instead of retrying"), "{message}");
        assert_eq!((evidence, seq), (vec!["r2".to_string(), "r4".to_string()], 4));
        // Refused for something else (a missing field): not the duplicate, not a retry of one.
        let mut other = refused(5);
        other.output = json!({"ErrorList": [{"FieldName": "Project.Title", "Code": "REQUIRED_FIELD_MISSING"}]});
        assert_eq!(judge(expect, &bound, None, &[other.clone(), read.clone()]), Verdict::Open);
        // Its ClientToken again: the first create's own answer.
        let replayed = seen(6, "CreateOpportunity", full_create(), json!({"Id": "O7"}));
        assert!(matches!(judge(expect, &bound, None, &[replayed]), Verdict::Met { .. }));
        let doubled = seen(7, "CreateOpportunity", full_create(), json!({"Id": "O9"}));
        assert!(matches!(judge(expect, &bound, None, &[doubled]), Verdict::Broken { .. }));

        // Met only once quiet for a while after reconciling (read at 3 ms): a retry in that time
        // — a sync that reads and sends again — breaks it.
        let reconciled = [refused(2), read.clone()];
        assert_eq!(judge_at(expect, &bound, None, &reconciled, 3 + RECONCILE_QUIET_MS - 1), Verdict::Open);
        assert!(matches!(judge_at(expect, &bound, None, &reconciled, 3 + RECONCILE_QUIET_MS), Verdict::Met { .. }));
        let Verdict::Broken { message, .. } =
            judge_at(expect, &bound, None, &[refused(2), read.clone(), refused(9)], 3 + RECONCILE_QUIET_MS)
        else {
            panic!("sent again after reading the holder")
        };
        assert!(message.contains("even after reading O7"), "{message}");
        // An update of the opportunity that holds it reconciles too.
        let update = seen(8, "UpdateOpportunity", json!({"Identifier": "O7"}), json!({"Id": "O7"}));
        assert!(matches!(judge(expect, &bound, None, &[refused(2), update.clone()]), Verdict::Met { seq: 8, .. }));
        assert!(judged_whole(expect) && !judged_whole(Expectation::ReadsChange));

        // What is kept of a long step: the creates with the identifier and the first read after one.
        let mut kept = Vec::new();
        for o in [read.clone(), refused(10), read.clone(), read.clone(), update.clone(), refused(11)] {
            if keep_for_judging(expect, &bound, &kept, &o) {
                kept.push(o);
            }
        }
        let ops: Vec<&str> = kept.iter().map(|o| o.operation.as_str()).collect();
        assert_eq!(ops, ["CreateOpportunity", "GetOpportunity", "CreateOpportunity"]);
        assert!(matches!(judge(expect, &bound, None, &kept), Verdict::Broken { .. }), "the retry is still seen");
        // A create refused for something else first: the read after the duplicate's refusal is
        // kept all the same.
        let mut kept = Vec::new();
        for o in [other.clone(), read.clone(), refused(12), read.clone()] {
            if keep_for_judging(expect, &bound, &kept, &o) {
                kept.push(o);
            }
        }
        assert_eq!(kept.len(), 4);
        assert!(matches!(judge(expect, &bound, None, &kept), Verdict::Met { .. }));
    }

    #[test]
    fn aws_next_steps_are_read_from_aws_view_of_the_bound_opportunity_showing_them() {
        let bound: BTreeMap<String, String> = [
            (OPPORTUNITY.to_string(), "O7".to_string()),
            (AWS_NEXT_STEPS.to_string(), "Call".to_string()),
            (CHANGE_EVENT.to_string(), "ev-3".to_string()),
        ]
        .into();
        let expect = Expectation::ReadsAwsNextSteps;
        let summary = |seq, id: &str, steps: &str| {
            seen(
                seq,
                "GetAwsOpportunitySummary",
                json!({"RelatedOpportunityIdentifier": id}),
                json!({"LifeCycle": {"NextSteps": steps}}),
            )
        };
        let own = seen(1, "GetOpportunity", json!({"Identifier": "O7"}), json!({"LifeCycle": {"NextSteps": "Call"}}));
        assert_eq!(judge(expect, &bound, None, &[own, summary(2, "O8", "Call"), summary(3, "O7", "Before")]), Verdict::Open);
        assert!(matches!(judge(expect, &bound, None, &[summary(4, "O7", "Call")]), Verdict::Met { seq: 4, .. }));
        let ack = seen(5, WEBHOOK_ACKNOWLEDGED, json!({"EventId": "ev-3"}), json!({}));
        assert!(matches!(judge(expect, &bound, None, &[ack]), Verdict::Met { seq: 5, .. }));
    }

    #[test]
    fn rem_2_a_revoked_referral_is_seen_gone_by_a_read_answered_not_found_or_its_deletion_event_acknowledged() {
        let mut bound: BTreeMap<String, String> =
            [(OPPORTUNITY.to_string(), "O7".to_string()), (CHANGE_EVENT.to_string(), "ev-9".to_string())].into();
        let expect = Expectation::DeletesCopy;
        let read = |seq, id: &str, error: Option<&str>| Observation {
            error: error.map(String::from),
            ..seen(seq, "GetOpportunity", json!({"Identifier": id}), json!({}))
        };
        assert_eq!(
            judge(expect, &bound, None, &[read(1, "O7", None), read(2, "O8", Some("ResourceNotFoundException"))]),
            Verdict::Open
        );
        assert!(matches!(
            judge(expect, &bound, None, &[read(3, "O7", Some("ResourceNotFoundException"))]),
            Verdict::Met { seq: 3, .. }
        ));
        let ack = |seq, event: &str| seen(seq, WEBHOOK_ACKNOWLEDGED, json!({"EventId": event}), json!({}));
        assert_eq!(judge(expect, &bound, None, &[ack(4, "ev-8")]), Verdict::Open, "another event");
        assert!(matches!(judge(expect, &bound, None, &[ack(5, "ev-9")]), Verdict::Met { seq: 5, .. }));
        bound.insert(RETAINED.into(), "true".into());
        assert!(matches!(judge(expect, &bound, None, &[]), Verdict::Met { .. }), "kept under retention: nothing to delete");
    }

    #[test]
    fn reads_count_only_for_the_bound_opportunity_and_fixes_must_change_the_named_members() {
        let bound: BTreeMap<String, String> = [(OPPORTUNITY.to_string(), "O7".to_string())].into();
        let other = seen(1, "GetOpportunity", json!({"Identifier": "O8"}), json!({}));
        assert_eq!(judge(Expectation::ReadsChange, &bound, None, &[other]), Verdict::Open);
        let listed = seen(2, "ListOpportunities", json!({}), json!({"OpportunitySummaries": [{"Id": "O7"}]}));
        assert!(matches!(judge(Expectation::ReadsChange, &bound, None, &[listed]), Verdict::Met { .. }));
        // After AWS's review: only a read showing the status it set, or its event acknowledged.
        let mut reviewed = bound.clone();
        reviewed.insert(REVIEW_STATUS.into(), "Approved".into());
        reviewed.insert(CHANGE_EVENT.into(), "ev-2".into());
        let stale = seen(
            3,
            "GetOpportunity",
            json!({"Identifier": "O7"}),
            json!({"Id": "O7", "LifeCycle": {"ReviewStatus": "In review"}}),
        );
        assert_eq!(judge(Expectation::ReadsChange, &reviewed, None, &[stale]), Verdict::Open, "a read of the state before");
        let fresh = seen(
            4,
            "GetOpportunity",
            json!({"Identifier": "O7"}),
            json!({"Id": "O7", "LifeCycle": {"ReviewStatus": "Approved"}}),
        );
        assert!(matches!(judge(Expectation::ReadsChange, &reviewed, None, &[fresh]), Verdict::Met { .. }));
        let own = seen(5, WEBHOOK_ACKNOWLEDGED, json!({"Identifier": "O7", "EventId": "ev-1"}), json!(null));
        assert_eq!(judge(Expectation::ReadsChange, &reviewed, None, &[own]), Verdict::Open, "the partner's own change's event");
        let acked = seen(6, WEBHOOK_ACKNOWLEDGED, json!({"Identifier": "O7", "EventId": "ev-2"}), json!(null));
        assert!(matches!(judge(Expectation::ReadsChange, &reviewed, None, &[acked]), Verdict::Met { .. }));

        let before = full_create();
        let fixes = Expectation::Fixes { members: FIX_MEMBERS };
        let same = seen(3, "UpdateOpportunity", json!({"Identifier": "O7", "Customer": before["Customer"].clone()}), json!({}));
        let Verdict::Broken { message, .. } = judge(fixes, &bound, Some(&before), &[same]) else { panic!("unchanged is broken") };
        assert!(message.contains("Customer.Account.WebsiteUrl"), "{message}");
        let mut fixed = before.clone();
        fixed["Customer"]["Account"]["WebsiteUrl"] = json!("https://acme-retail.example");
        let good = seen(4, "UpdateOpportunity", json!({"Identifier": "O7", "Customer": fixed["Customer"].clone()}), json!({}));
        assert!(matches!(judge(fixes, &bound, Some(&before), &[good]), Verdict::Met { .. }));
        assert!(matches!(judge(Expectation::Submits, &BTreeMap::new(), None, &[]), Verdict::Broken { .. }));
    }

    #[test]
    fn a_step_that_does_not_pass_skips_the_rest_of_its_scenario_and_the_run_ends_failed() {
        let mut run = CheckRun::new(
            "C1".into(),
            "P".into(),
            vec!["opportunity-rejected".into(), "opportunity-approved".into()],
            STEP_TIMEOUT_DEFAULT_MS,
            0,
            0,
        );
        run.finish_step(Outcome::TimedOut, "no create".into(), Vec::new(), 10, 0);
        assert_eq!((run.scenario, run.step, run.status), (1, 0, RunStatus::Running));
        assert_eq!(run.results.len(), 5);
        assert!(run.results[1..].iter().all(|r| r.outcome == Outcome::Skipped));
        for _ in 0..6 {
            run.finish_step(Outcome::Passed, String::new(), Vec::new(), 20, 0);
        }
        assert_eq!(run.status, RunStatus::Failed, "one scenario failed");
        assert_eq!(run.results.len(), 11);
        assert!(run.current().is_none());
        assert_eq!(choose(&[]).unwrap().len(), SCENARIOS.len());
        assert!(choose(&["nope".into()]).unwrap_err().contains("opportunity-approved"));
    }

    #[test]
    fn ref_1_a_referral_read_before_it_is_accepted_breaks_the_step_and_ref_3_the_contact_must_come_by_the_deadline() {
        let mut bound: BTreeMap<String, String> =
            [(REFERRAL.to_string(), "engi-1".to_string()), (ENGAGEMENT.to_string(), "eng-1".to_string())].into();
        let accept =
            seen(3, "StartEngagementByAcceptingInvitationTask", json!({"Identifier": "engi-1"}), json!({"OpportunityId": "O9"}));
        assert_eq!(
            judge(Expectation::AcceptsInvitation, &bound, None, std::slice::from_ref(&accept)),
            Verdict::Met { binds: vec![(OPPORTUNITY.into(), "O9".into())], evidence: vec!["r3".into()], seq: 3 }
        );
        let early = seen(2, "GetEngagement", json!({"Identifier": "eng-1"}), json!({}));
        let Verdict::Broken { message, evidence, seq } = judge(Expectation::AcceptsInvitation, &bound, None, &[early, accept])
        else {
            panic!("a read before accepting breaks the step")
        };
        assert!(message.contains("REF-1"), "{message}");
        assert_eq!((evidence, seq), (vec!["r2".to_string()], 2));

        bound.insert(OPPORTUNITY.into(), "O9".into());
        bound.insert(CONTACT_DEADLINE.into(), "100".into());
        let record = |at: i64| Observation {
            at_ms: at,
            ..seen(4, "RecordReferralContact", json!({"OpportunityIdentifier": "O9", "Channel": "Phone"}), json!({}))
        };
        assert!(matches!(judge(Expectation::RecordsContact, &bound, None, &[record(100)]), Verdict::Met { .. }));
        assert!(matches!(judge(Expectation::RecordsContact, &bound, None, &[record(101)]), Verdict::Broken { .. }));
        // A lead accepted with the task that converts it has its opportunity already.
        assert!(matches!(judge(Expectation::ConvertsLead, &bound, None, &[]), Verdict::Met { .. }));
        let lead: BTreeMap<String, String> = [(ENGAGEMENT.to_string(), "eng-1".to_string())].into();
        assert_eq!(judge(Expectation::ConvertsLead, &lead, None, &[]), Verdict::Open);
        let task = seen(6, "StartOpportunityFromEngagementTask", json!({"Identifier": "eng-1"}), json!({"OpportunityId": "O10"}));
        assert!(
            matches!(judge(Expectation::ConvertsLead, &lead, None, &[task]), Verdict::Met { binds, .. } if binds[0].1 == "O10")
        );
        let no_reason = seen(5, "RejectEngagementInvitation", json!({"Identifier": "engi-1"}), json!({}));
        assert!(matches!(judge(Expectation::RejectsInvitation, &bound, None, &[no_reason]), Verdict::Broken { .. }));
    }

    #[test]
    fn a_stopped_run_skips_every_step_not_taken_and_ends() {
        let mut run = CheckRun {
            step: 1,
            ..CheckRun::new(
                "C2".into(),
                "P".into(),
                vec!["aws-referral-rejected".into(), "opportunity-rejected".into()],
                STEP_TIMEOUT_DEFAULT_MS,
                0,
                0,
            )
        };
        run.stop("cancelled by the operator", 5);
        assert_eq!(run.status, RunStatus::Stopped);
        assert_eq!(run.results.len(), 1 + 5, "the rest of the first scenario and all of the second");
        assert!(run.results.iter().all(|r| r.outcome == Outcome::Skipped && r.message == "cancelled by the operator"));
        assert!(run.current().is_none());
        run.stop("again", 6);
        assert_eq!(run.results.len(), 6, "an ended run stays as it ended");
    }
}
