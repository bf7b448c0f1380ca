//! Engagements (issue 18): the Selling API's co-selling space. An engagement has members (AWS
//! accounts: partners, and the operator's side as `aws`) and up to five contexts, each a typed
//! payload — a `CustomerProject` a partner shares, a `Lead` the operator refers. Only members
//! see an engagement (USE-4); what a partner shares there is screened as what it submits (SUB-5).
//!
//! The decisions are here, pure: what a member may add or change and when a change is stale.
//! Payload shapes are checked against the model at the edge; this checks what the model cannot.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{Catalog, REGION};
use crate::model::{FieldError, FieldErrorCode};
use crate::pii::{self, PiiKind};
use crate::referral::{Referral, ReferralKind};
use crate::time::Instant;

/// The model's `EngagementContexts` list holds at most five.
pub const CONTEXTS_MAX: usize = 5;

/// The account id the operator's side has in every engagement, as Partner Central names AWS.
pub const OPERATOR_ACCOUNT: &str = "aws";

/// `EngagementContextType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContextType {
    CustomerProject,
    Lead,
    ProspectingResult,
    CustomerAccount,
}

impl ContextType {
    pub const ALL: [ContextType; 4] =
        [ContextType::CustomerProject, ContextType::Lead, ContextType::ProspectingResult, ContextType::CustomerAccount];

    pub fn as_str(self) -> &'static str {
        match self {
            ContextType::CustomerProject => "CustomerProject",
            ContextType::Lead => "Lead",
            ContextType::ProspectingResult => "ProspectingResult",
            ContextType::CustomerAccount => "CustomerAccount",
        }
    }

    pub fn parse(s: &str) -> Option<ContextType> {
        ContextType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// What a partner may add itself. `Lead` contexts come with the operator's lead referrals
    /// (their contact data is the customer's, shared under REF-1), prospecting results from
    /// prospecting tasks, customer accounts from the accounts a partner registers.
    pub fn partner_creatable(self) -> bool {
        self == ContextType::CustomerProject
    }
}

/// One context: `payload` is the member of the model's payload union its type names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Context {
    pub id: String,
    pub kind: ContextType,
    pub payload: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Engagement {
    pub catalog: Catalog,
    /// `eng-` and 14 base-36 characters.
    pub id: String,
    pub title: String,
    pub description: String,
    pub created: Instant,
    pub created_by: String,
    /// The optimistic-lock token of `UpdateEngagementContext` (`EngagementLastModifiedAt`).
    pub modified: Instant,
    pub modified_by: String,
    pub contexts: Vec<Context>,
    /// The operator's referral behind it (a lead or opportunity referral, issue 18): its first
    /// context stands for the referral's customer data, which stays sealed in the referral and
    /// is rendered from it (so REM-2's shredding of the referral removes it here too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_id: Option<String>,
}

/// A member of an engagement: an AWS account, the partner it is (none for the operator), when
/// it joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub catalog: Catalog,
    pub engagement_id: String,
    pub account_id: String,
    pub partner_id: Option<String>,
    pub joined: Instant,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngagementError {
    /// The request is not acceptable as asked: the fields say why.
    #[error("{}", .0.iter().map(|f| f.message.as_str()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    #[error("an engagement holds at most {CONTEXTS_MAX} contexts")]
    TooManyContexts,
    #[error("context {0} was not found")]
    ContextNotFound(String),
    /// `EngagementLastModifiedAt` is not the engagement's: someone changed it meanwhile.
    #[error("the engagement was modified at {current}, not at the EngagementLastModifiedAt given; get it again")]
    Stale { current: String },
}

fn invalid(field: &str, code: FieldErrorCode, message: String) -> EngagementError {
    EngagementError::Invalid(vec![FieldError::new(field, code, message)])
}

/// `arn:aws:partnercentral:us-east-1::catalog/<Catalog>/engagement/<id>`.
pub fn engagement_arn(catalog: Catalog, id: &str) -> String {
    format!("arn:aws:partnercentral:{REGION}::catalog/{catalog}/engagement/{id}")
}

/// The id an `EngagementArnOrIdentifier` names.
pub fn engagement_id(identifier: &str) -> &str {
    identifier.rsplit('/').next().unwrap_or(identifier)
}

/// Checks one context a partner adds or changes: its type is one a partner may share, the
/// payload is the member its type names, and its free text carries no personal or sensitive
/// data (SUB-5: a partner has no consent on record for sharing it with other partners).
/// `field` is where the context sits in the request (`Contexts[0]`, or empty for the
/// context operations), for the error's field name.
pub fn check_partner_context(field: &str, kind: ContextType, payload: &Value) -> Result<(), EngagementError> {
    let at = |member: &str| if field.is_empty() { member.to_string() } else { format!("{field}.{member}") };
    if !kind.partner_creatable() {
        return Err(invalid(
            &at("Type"),
            FieldErrorCode::ActionNotPermitted,
            format!(
                "{}: a partner adds CustomerProject contexts; {} contexts come from the program's referrals and tasks",
                at("Type"),
                kind.as_str()
            ),
        ));
    }
    let members: Vec<&String> = payload.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    if members.len() != 1 || members[0] != kind.as_str() {
        return Err(invalid(
            &at("Payload"),
            FieldErrorCode::InvalidValue,
            format!(
                "{}: the payload of a {} context is its {} member, and only that",
                at("Payload"),
                kind.as_str(),
                kind.as_str()
            ),
        ));
    }
    screen(
        free_text(kind, &payload[kind.as_str()])
            .into_iter()
            .map(|(path, text)| (at(&format!("Payload.{}.{path}", kind.as_str())), text)),
    )
}

/// SUB-5 over what a partner shares, each text by the field that holds it: refused, naming every
/// field with personal or sensitive information (a partner has no consent on record for
/// sharing it with other partners).
fn screen<'a>(texts: impl IntoIterator<Item = (String, &'a str)>) -> Result<(), EngagementError> {
    let fields: Vec<FieldError> = texts
        .into_iter()
        .filter_map(|(name, text)| {
            let found = pii::scan(text);
            (!found.is_empty()).then(|| {
                let message =
                    format!("{name}: [SUB-5] remove personal or sensitive information ({}) before sharing it", describe(&found));
                FieldError::new(name, FieldErrorCode::InvalidValue, message)
            })
        })
        .collect();
    if fields.is_empty() {
        Ok(())
    } else {
        Err(EngagementError::Invalid(fields))
    }
}

/// SUB-5 over the engagement's own title and description.
pub fn check_engagement_text(title: &str, description: &str) -> Result<(), EngagementError> {
    screen([("Title".to_string(), title), ("Description".to_string(), description)])
}

fn describe(found: &[PiiKind]) -> String {
    found.iter().map(|k| k.describe()).collect::<Vec<_>>().join(", ")
}

/// The free-text members of a payload, by path.
fn free_text(kind: ContextType, payload: &Value) -> Vec<(&'static str, &str)> {
    let paths: &[(&str, &[&str])] = match kind {
        ContextType::CustomerProject => &[
            ("Project.Title", &["Project", "Title"]),
            ("Project.BusinessProblem", &["Project", "BusinessProblem"]),
            ("Customer.CompanyName", &["Customer", "CompanyName"]),
        ],
        _ => &[],
    };
    paths
        .iter()
        .filter_map(|(name, path)| {
            let mut v = payload;
            for p in *path {
                v = v.get(*p)?;
            }
            v.as_str().map(|s| (*name, s))
        })
        .collect()
}

/// The `CustomerProject` context an opportunity is shared as when it starts an engagement
/// (StartEngagementFromOpportunityTask): its customer and project, as far as it has them.
pub fn project_context_of(document: &serde_json::Map<String, Value>) -> Value {
    let account = &document.get("Customer").and_then(|c| c.get("Account")).cloned().unwrap_or(Value::Null);
    let project = document.get("Project").cloned().unwrap_or(Value::Null);
    let mut customer = serde_json::Map::new();
    for (to, from) in [
        ("CompanyName", &account["CompanyName"]),
        ("CountryCode", &account["Address"]["CountryCode"]),
        ("Industry", &account["Industry"]),
        ("WebsiteUrl", &account["WebsiteUrl"]),
    ] {
        if let Some(v) = from.as_str() {
            customer.insert(to.into(), Value::String(v.to_string()));
        }
    }
    let mut details = serde_json::Map::new();
    let target = document.get("LifeCycle").and_then(|l| l.get("TargetCloseDate")).cloned().unwrap_or(Value::Null);
    for (to, from) in [
        ("Title", &project["Title"]),
        ("BusinessProblem", &project["CustomerBusinessProblem"]),
        ("TargetCompletionDate", &target),
    ] {
        if let Some(v) = from.as_str() {
            details.insert(to.into(), Value::String(v.to_string()));
        }
    }
    serde_json::json!({"CustomerProject": {"Customer": customer, "Project": details}})
}

/// The opportunity document a `CustomerProject` context becomes
/// (StartOpportunityFromEngagementTask): the inverse of [`project_context_of`].
pub fn opportunity_document_of(payload: &Value) -> serde_json::Map<String, Value> {
    let project = &payload["CustomerProject"];
    let customer = &project["Customer"];
    let details = &project["Project"];
    let mut account = serde_json::Map::new();
    for (to, from) in [("CompanyName", "CompanyName"), ("Industry", "Industry"), ("WebsiteUrl", "WebsiteUrl")] {
        if let Some(v) = customer[from].as_str() {
            account.insert(to.into(), Value::String(v.into()));
        }
    }
    if let Some(country) = customer["CountryCode"].as_str() {
        account.insert("Address".into(), serde_json::json!({"CountryCode": country}));
    }
    let mut out = serde_json::Map::new();
    for (to, from) in [("Title", "Title"), ("CustomerBusinessProblem", "BusinessProblem")] {
        if let Some(v) = details[from].as_str() {
            out.insert(to.into(), Value::String(v.into()));
        }
    }
    let mut life_cycle = serde_json::json!({"Stage": "Prospect"});
    if let Some(date) = details["TargetCompletionDate"].as_str() {
        life_cycle["TargetCloseDate"] = Value::String(date.into());
    }
    let document = serde_json::json!({
        "Customer": {"Account": account, "Contacts": []},
        "Project": out,
        "LifeCycle": life_cycle,
        "OpportunityType": "Net New Business",
    });
    document.as_object().cloned().unwrap_or_default()
}

/// Why a prospecting task could not turn an engagement into a prospecting lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProspectingRefusal {
    /// Unknown, or the caller is no member of it (USE-4: the same answer for both).
    NotFound,
    /// No context of it names a customer.
    NoCustomer,
    /// It holds the five contexts an engagement may have.
    ContextLimit,
}

impl ProspectingRefusal {
    pub fn reason_code(self) -> &'static str {
        match self {
            ProspectingRefusal::NotFound => "EngagementNotFound",
            ProspectingRefusal::NoCustomer => "EngagementHasNoCustomer",
            ProspectingRefusal::ContextLimit => "EngagementContextLimitExceeded",
        }
    }
}

/// The `ProspectingResult` context a prospecting task adds to an engagement (issue 18): the
/// customer of its first customer context, as a prospecting lead, stamped with the task.
/// `contexts` are the engagement's contexts as members read them.
pub fn prospecting_result(contexts: &[Context], task: &Value) -> Result<Value, ProspectingRefusal> {
    if contexts.len() >= CONTEXTS_MAX {
        return Err(ProspectingRefusal::ContextLimit);
    }
    let customer = contexts
        .iter()
        .find_map(|c| c.payload.get(c.kind.as_str()).and_then(|body| body.get("Customer")))
        .ok_or(ProspectingRefusal::NoCustomer)?;
    let mut prospect = serde_json::Map::new();
    if let Some(name) = customer.get("CompanyName").and_then(Value::as_str) {
        prospect.insert("AccountName".into(), Value::String(name.into()));
    }
    let country = customer.get("CountryCode").or_else(|| customer.get("Address").and_then(|a| a.get("CountryCode")));
    if let Some(country) = country.and_then(Value::as_str) {
        prospect.insert("Country".into(), Value::String(country.into()));
    }
    if let Some(industry) = customer.get("Industry").and_then(Value::as_str) {
        prospect.insert("Industry".into(), Value::String(industry.into()));
    }
    let mut aws = serde_json::json!({"Customer": prospect});
    for key in ["TaskId", "TaskArn", "TaskName", "StartTime", "EndTime"] {
        if let Some(v) = task.get(key) {
            aws[key] = v.clone();
        }
    }
    Ok(serde_json::json!({"ProspectingResult": {"Aws": aws}}))
}

/// The `detail` of `Engagement Created` (`created`) or `Engagement Updated`, with the mixed key
/// casing the developer guide documents (digest §3.6).
pub fn engagement_event_detail(e: &Engagement, created: bool) -> Value {
    let types: Vec<&str> = e.context_types().iter().map(|t| t.as_str()).collect();
    let mut engagement = serde_json::json!({"engagementArn": e.arn(), "engagementId": e.id, "ContextTypes": types});
    if created {
        engagement["CreatedAt"] = Value::String(crate::time::format_timestamp(e.created));
        engagement["CreatedBy"] = Value::String(e.created_by.clone());
    } else {
        engagement["LastModifiedAt"] = Value::String(crate::time::format_timestamp(e.modified));
        engagement["LastModifiedBy"] = Value::String(e.modified_by.clone());
    }
    serde_json::json!({"catalog": e.catalog.as_str(), "engagement": engagement})
}

/// The `detail` of `Engagement Member Added`.
pub fn member_added_detail(catalog: Catalog, engagement_id: &str, account_id: &str, company_name: &str) -> Value {
    serde_json::json!({"catalog": catalog.as_str(), "engagement": {"id": engagement_id},
                       "engagementMember": {"accountId": account_id, "companyName": company_name}})
}

/// The `detail` of an `Engagement Invitation …` event of an invitation between partners, as
/// the party `participant` ("Sender" or "Receiver") receives it; `Created` carries the sender's
/// company and the expiry too.
pub fn invitation_event_detail(i: &PartnerInvitation, participant: &str, created: bool) -> Value {
    let mut invitation = serde_json::json!({
        "arn": invitation_arn(i.catalog, &i.id), "id": i.id, "engagementId": i.engagement_id,
        "senderAccountId": i.sender.account_id, "receiverAccountId": i.receiver.account_id,
        "participantType": participant, "payloadType": i.payload_type,
    });
    if created {
        invitation["senderCompanyName"] = Value::String(i.sender.company_name.clone());
        invitation["expirationDate"] = Value::String(crate::time::format_timestamp(i.expires_at));
    }
    serde_json::json!({"catalog": i.catalog.as_str(), "engagementInvitation": invitation})
}

/// `arn:aws:partnercentral:us-east-1::catalog/<Catalog>/engagement-invitation/<id>`.
pub fn invitation_arn(catalog: Catalog, id: &str) -> String {
    format!("arn:aws:partnercentral:{REGION}::catalog/{catalog}/engagement-invitation/{id}")
}

/// An engagement title from free text: the model allows 40 characters.
pub fn title_of(text: &str) -> String {
    text.chars().take(40).collect()
}

/// The engagement an operator's referral creates, with the operator's side as its first member:
/// a `Lead` context for a lead referral, a `CustomerProject` one for an opportunity referral,
/// each a placeholder (`Value::Null`) that [`referral_context`] renders from the referral. The
/// partner joins when it accepts the invitation ([`Member`]), so nothing of it is visible before.
pub fn referral_engagement(r: &Referral) -> (Engagement, Member) {
    let kind = match r.kind {
        ReferralKind::Lead => ContextType::Lead,
        ReferralKind::Opportunity => ContextType::CustomerProject,
    };
    let engagement = Engagement {
        catalog: r.catalog,
        id: r.engagement_id.clone(),
        // Rendered from the referral too ([`referral_title`]): it names the customer.
        title: String::new(),
        description: String::new(),
        created: r.provided_at,
        created_by: OPERATOR_ACCOUNT.into(),
        modified: r.provided_at,
        modified_by: OPERATOR_ACCOUNT.into(),
        contexts: vec![Context { id: "1".into(), kind, payload: Value::Null }],
        referral_id: Some(r.id.clone()),
    };
    let member = Member {
        catalog: r.catalog,
        engagement_id: r.engagement_id.clone(),
        account_id: OPERATOR_ACCOUNT.into(),
        partner_id: None,
        joined: r.provided_at,
    };
    (engagement, member)
}

/// The payload of a referral's context, unmasked (only members read it, and they joined by
/// accepting), or `None` once its data is deleted (REM-2).
pub fn referral_context(r: &Referral) -> Option<Value> {
    if r.data_deleted {
        return None;
    }
    let c = &r.customer;
    Some(match r.kind {
        ReferralKind::Lead => {
            let name = r.contact.name.clone().unwrap_or_default();
            let (first, last) = name.split_once(' ').unwrap_or((name.as_str(), ""));
            let mut contact = serde_json::json!({
                "FirstName": first, "LastName": last, "Email": r.contact.email.clone().unwrap_or_default(),
                "BusinessTitle": r.contact.title.clone().unwrap_or_else(|| "Not provided".into()),
            });
            if let Some(phone) = &r.contact.phone {
                contact["Phone"] = Value::String(phone.clone());
            }
            let mut interaction = serde_json::json!({"Contact": contact, "SourceType": "AWS referral", "SourceId": r.id});
            if let Some(problem) = &r.problem {
                interaction["BusinessProblem"] = Value::String(problem.clone());
            }
            let mut customer = serde_json::json!({"CompanyName": c.company_name, "WebsiteUrl": c.website,
                                                  "Address": {"CountryCode": c.country}});
            if let Some(industry) = &c.industry {
                customer["Industry"] = Value::String(industry.clone());
            }
            serde_json::json!({"Lead": {"Customer": customer, "Interactions": [interaction]}})
        }
        ReferralKind::Opportunity => {
            let mut project = serde_json::Map::new();
            if let Some(title) = &r.title {
                project.insert("Title".into(), Value::String(title.clone()));
            }
            if let Some(problem) = &r.problem {
                project.insert("BusinessProblem".into(), Value::String(problem.clone()));
            }
            serde_json::json!({"CustomerProject": {
                "Customer": {"CompanyName": c.company_name, "WebsiteUrl": c.website, "CountryCode": c.country,
                             "Industry": c.industry.clone().unwrap_or_else(|| "Other".into())},
                "Project": project}})
        }
    })
}

/// The title of a referral's engagement: the referral's title, or its customer's name; nothing
/// once its data is deleted (REM-2).
pub fn referral_title(r: &Referral) -> String {
    if r.data_deleted {
        return String::new();
    }
    title_of(r.title.as_deref().unwrap_or(&r.customer.company_name))
}

/// Applies an `UpdateLeadContext` payload (`{"Lead": {...}}`) to the referral behind a lead
/// engagement: the customer and the contact the partner now knows better. SUB-5 screens the
/// business problem, as everything a partner writes.
pub fn apply_lead_update(r: &mut Referral, payload: &Value) -> Result<(), EngagementError> {
    let lead = &payload["Lead"];
    let text = |v: &Value| v.as_str().filter(|s| !s.trim().is_empty()).map(str::to_string);
    let problem = text(&lead["Interaction"]["BusinessProblem"]);
    if let Some(problem) = &problem {
        screen([("Payload.Lead.Interaction.BusinessProblem".to_string(), problem.as_str())])?;
    }
    let customer = &lead["Customer"];
    if let Some(name) = text(&customer["CompanyName"]) {
        r.customer.company_name = name;
    }
    if let Some(website) = text(&customer["WebsiteUrl"]) {
        r.customer.website = website;
    }
    if let Some(country) = text(&customer["Address"]["CountryCode"]) {
        r.customer.country = country;
    }
    if let Some(industry) = text(&customer["Industry"]) {
        r.customer.industry = Some(industry);
    }
    let contact = &lead["Interaction"]["Contact"];
    if contact.is_object() {
        let name = [text(&contact["FirstName"]), text(&contact["LastName"])].into_iter().flatten().collect::<Vec<_>>().join(" ");
        if !name.is_empty() {
            r.contact.name = Some(name);
        }
        if let Some(email) = text(&contact["Email"]) {
            r.contact.email = Some(email);
        }
        if let Some(phone) = text(&contact["Phone"]) {
            r.contact.phone = Some(phone);
        }
        if let Some(title) = text(&contact["BusinessTitle"]) {
            r.contact.title = Some(title);
        }
    }
    if problem.is_some() {
        r.problem = problem;
    }
    Ok(())
}

/// Whether a referral's context names a customer contact (REF-1: its reads are audited).
pub fn referral_context_has_contact(r: &Referral) -> bool {
    !r.data_deleted
        && r.kind == ReferralKind::Lead
        && (r.contact.email.is_some() || r.contact.name.is_some() || r.contact.phone.is_some())
}

impl Engagement {
    /// A new engagement created by `account`, its contexts numbered from 1.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        catalog: Catalog,
        id: String,
        title: String,
        description: String,
        contexts: Vec<(ContextType, Value)>,
        account: &str,
        now: Instant,
    ) -> Result<Engagement, EngagementError> {
        if contexts.len() > CONTEXTS_MAX {
            return Err(EngagementError::TooManyContexts);
        }
        let contexts = contexts
            .into_iter()
            .enumerate()
            .map(|(i, (kind, payload))| Context { id: (i + 1).to_string(), kind, payload })
            .collect();
        Ok(Engagement {
            catalog,
            id,
            title,
            description,
            created: now,
            created_by: account.to_string(),
            modified: now,
            modified_by: account.to_string(),
            contexts,
            referral_id: None,
        })
    }

    pub fn arn(&self) -> String {
        engagement_arn(self.catalog, &self.id)
    }

    /// The next `ModifiedAt`: `now`, but always later than the current one (each change is a
    /// new optimistic-lock token, even within one millisecond).
    fn touch(&mut self, account: &str, now: Instant) {
        self.modified = if now > self.modified { now } else { self.modified + chrono::TimeDelta::milliseconds(1) };
        self.modified_by = account.to_string();
    }

    /// Adds a context; its id is the next number. The caller checked the payload.
    pub fn add_context(
        &mut self,
        kind: ContextType,
        payload: Value,
        account: &str,
        now: Instant,
    ) -> Result<String, EngagementError> {
        if self.contexts.len() >= CONTEXTS_MAX {
            return Err(EngagementError::TooManyContexts);
        }
        let next = self.contexts.iter().filter_map(|c| c.id.parse::<u32>().ok()).max().unwrap_or(0) + 1;
        let id = next.to_string();
        self.contexts.push(Context { id: id.clone(), kind, payload });
        self.touch(account, now);
        Ok(id)
    }

    /// Whether `context_id` is the context that stands for the engagement's referral.
    pub fn is_referral_context(&self, context_id: &str) -> bool {
        self.referral_id.is_some() && self.context(context_id).is_some_and(|c| c.payload.is_null())
    }

    /// A change to the referral's lead through its context (UpdateEngagementContext): the lead
    /// data lives in the referral ([`apply_lead_update`]); the engagement only takes the new
    /// `ModifiedAt`, if `expected_modified` is still its own.
    pub fn touch_referral_context(
        &mut self,
        context_id: &str,
        expected_modified: Instant,
        kind: ContextType,
        account: &str,
        now: Instant,
    ) -> Result<(), EngagementError> {
        let Some(context) = self.context(context_id).filter(|_| self.is_referral_context(context_id)) else {
            return Err(EngagementError::ContextNotFound(context_id.to_string()));
        };
        if crate::time::truncate_to_millis(expected_modified) != self.modified {
            return Err(EngagementError::Stale { current: crate::time::format_timestamp(self.modified) });
        }
        if context.kind != ContextType::Lead || kind != ContextType::Lead {
            return Err(invalid(
                "Type",
                FieldErrorCode::ActionNotPermitted,
                format!(
                    "Type: context {context_id} is the operator's {} referral; a partner updates a lead's context",
                    context.kind.as_str()
                ),
            ));
        }
        self.touch(account, now);
        Ok(())
    }

    /// Replaces a context's payload, if `expected_modified` is still the engagement's
    /// `ModifiedAt` (optimistic locking) and the payload is of the context's type.
    pub fn update_context(
        &mut self,
        context_id: &str,
        expected_modified: Instant,
        kind: ContextType,
        payload: Value,
        account: &str,
        now: Instant,
    ) -> Result<(), EngagementError> {
        let Some(index) = self.contexts.iter().position(|c| c.id == context_id) else {
            return Err(EngagementError::ContextNotFound(context_id.to_string()));
        };
        if crate::time::truncate_to_millis(expected_modified) != self.modified {
            return Err(EngagementError::Stale { current: crate::time::format_timestamp(self.modified) });
        }
        if self.contexts[index].payload.is_null() {
            return Err(invalid(
                "ContextIdentifier",
                FieldErrorCode::ActionNotPermitted,
                format!("ContextIdentifier: context {context_id} is the operator's referral; it changes with the referral"),
            ));
        }
        if self.contexts[index].kind != kind {
            return Err(invalid(
                "Type",
                FieldErrorCode::InvalidValue,
                format!("Type: context {context_id} is a {} context, not {}", self.contexts[index].kind.as_str(), kind.as_str()),
            ));
        }
        self.contexts[index].payload = payload;
        self.touch(account, now);
        Ok(())
    }

    pub fn context(&self, id: &str) -> Option<&Context> {
        self.contexts.iter().find(|c| c.id == id)
    }

    pub fn context_types(&self) -> Vec<ContextType> {
        let mut types: Vec<ContextType> = Vec::new();
        for c in &self.contexts {
            if !types.contains(&c.kind) {
                types.push(c.kind);
            }
        }
        types
    }
}

/// `InvitationStatus` of an invitation between partners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Rejected,
    Expired,
}

impl InvitationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "PENDING",
            InvitationStatus::Accepted => "ACCEPTED",
            InvitationStatus::Rejected => "REJECTED",
            InvitationStatus::Expired => "EXPIRED",
        }
    }
}

/// One side of an invitation between partners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    pub partner_id: String,
    pub account_id: String,
    pub company_name: String,
}

/// An invitation from one partner to another into an engagement of the sender's (issue 18).
/// Rejected and expired invitations stay readable by both with that status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerInvitation {
    /// `engi-` and 13 base-36 characters, as the operator's invitations.
    pub id: String,
    pub catalog: Catalog,
    pub engagement_id: String,
    pub sender: Party,
    pub receiver: Party,
    /// The `Alias` the sender gave the receiver's account, if any.
    pub receiver_alias: Option<String>,
    pub message: String,
    /// The member of the model's `Payload` union that is set, by name.
    pub payload_type: String,
    /// The `Payload` union as sent.
    pub payload: Value,
    pub status: InvitationStatus,
    pub invited_at: Instant,
    pub expires_at: Instant,
    pub decided_at: Option<Instant>,
    pub rejection_reason: Option<String>,
    /// The receiver's opportunity made from it by StartEngagementByAcceptingInvitationTask.
    #[serde(default)]
    pub opportunity_id: Option<String>,
    /// Optimistic concurrency: an invitation is decided once, whatever the node.
    pub version: i64,
}

impl PartnerInvitation {
    /// The status as of `now`: a pending invitation past its expiry has expired.
    pub fn status_at(&self, now: Instant) -> InvitationStatus {
        if self.status == InvitationStatus::Pending && now >= self.expires_at {
            InvitationStatus::Expired
        } else {
            self.status
        }
    }

    fn decide(&mut self, to: InvitationStatus, now: Instant) -> Result<(), EngagementError> {
        match self.status_at(now) {
            InvitationStatus::Pending => {
                self.status = to;
                self.decided_at = Some(now);
                Ok(())
            }
            other => Err(EngagementError::Invalid(vec![FieldError::new(
                "Identifier",
                FieldErrorCode::InvalidResourceState,
                format!("Identifier: invitation {} is {}, not PENDING", self.id, other.as_str()),
            )])),
        }
    }

    pub fn accept(&mut self, now: Instant) -> Result<(), EngagementError> {
        self.decide(InvitationStatus::Accepted, now)
    }

    /// When an unanswered invitation falls due for expiry; `None` once it is answered.
    pub fn expires_pending(&self) -> Option<Instant> {
        (self.status == InvitationStatus::Pending).then_some(self.expires_at)
    }

    /// Records the expiry of an invitation left unanswered past its date; `false` when it is
    /// not due (answered, or not expired yet).
    pub fn expire(&mut self, now: Instant) -> bool {
        if self.status == InvitationStatus::Pending && now >= self.expires_at {
            self.status = InvitationStatus::Expired;
            self.decided_at = Some(now);
            true
        } else {
            false
        }
    }

    pub fn reject(&mut self, reason: Option<String>, now: Instant) -> Result<(), EngagementError> {
        self.decide(InvitationStatus::Rejected, now)?;
        self.rejection_reason = reason;
        Ok(())
    }
}

/// Who an invitation may go to: another partner, known by its account, still in the program
/// (REM-1), not yet a member. `receiver` is the partner the account names, if any.
pub fn check_receiver(
    sender_account: &str,
    receiver_account: &str,
    receiver: Option<&crate::partner::PartnerProfile>,
    already_member: bool,
) -> Result<(), EngagementError> {
    const FIELD: &str = "Invitation.Receiver.Account.AwsAccountId";
    let refuse = |message: String| invalid(FIELD, FieldErrorCode::InvalidValue, format!("{FIELD}: {message}"));
    if receiver_account == sender_account {
        return Err(refuse("a partner does not invite itself".into()));
    }
    let Some(partner) = receiver else {
        return Err(refuse(format!("no partner of the program has account {receiver_account}")));
    };
    if partner.removal.as_ref().is_some_and(|r| r.scope == crate::partner::RemovalScope::All) {
        return Err(refuse(format!("account {receiver_account} was removed from the program (REM-1)")));
    }
    if already_member {
        return Err(refuse(format!("account {receiver_account} is already a member of the engagement")));
    }
    Ok(())
}

/// SUB-5 over what an invitation shares: its message and the payload's free text.
pub fn check_invitation_text(message: &str, payload: &Value) -> Result<(), EngagementError> {
    let mut texts: Vec<(String, &str)> = vec![("Invitation.Message".into(), message)];
    if let Some((kind, body)) = payload.as_object().and_then(|o| o.iter().next()) {
        for path in [["Project", "Title"], ["Project", "BusinessProblem"], ["Interaction", "Usecase"]] {
            if let Some(text) = body.get(path[0]).and_then(|v| v.get(path[1])).and_then(Value::as_str) {
                texts.push((format!("Invitation.Payload.{kind}.{}.{}", path[0], path[1]), text));
            }
        }
    }
    screen(texts)
}

/// The opportunity document an invitation's payload becomes when its receiver accepts it by
/// task: its customer and project.
pub fn opportunity_document_of_invitation(payload: &Value) -> serde_json::Map<String, Value> {
    let (customer, project) = match payload.as_object().and_then(|o| o.iter().next()) {
        Some((_, body)) => {
            (body.get("Customer").cloned().unwrap_or(Value::Null), body.get("Project").cloned().unwrap_or(Value::Null))
        }
        None => (Value::Null, Value::Null),
    };
    opportunity_document_of(&serde_json::json!({"CustomerProject": {"Customer": customer, "Project": project}}))
}

/// An engagement group (issue 18): the operator's named slice of engagements by their
/// customer's industry and country, which partners list (`ListEngagementGroups`) and search in
/// (`SearchEngagements` with `GroupId`). An empty list of industries or countries means any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngagementGroup {
    /// `eng-grp-` and 14 base-36 characters.
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub industries: Vec<String>,
    #[serde(default)]
    pub countries: Vec<String>,
    pub updated: Instant,
}

impl EngagementGroup {
    /// A group as the operator defines it: the id in the model's pattern, a name of 1 to 255
    /// characters, a description of at most 2,048, industries of the model's enum, ISO country
    /// codes. The message names the flag to fix.
    pub fn new(
        id: &str,
        name: &str,
        description: Option<String>,
        industries: Vec<String>,
        countries: Vec<String>,
        now: Instant,
    ) -> Result<EngagementGroup, String> {
        let id_ok = id
            .strip_prefix("eng-grp-")
            .is_some_and(|rest| rest.len() == 14 && rest.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
        if !id_ok {
            return Err(format!("--id {id:?}: an engagement group id is eng-grp- and 14 digits or lower-case letters"));
        }
        if name.trim().is_empty() || name.chars().count() > 255 {
            return Err("--name: 1 to 255 characters".into());
        }
        if description.as_ref().is_some_and(|d| d.is_empty() || d.chars().count() > 2048) {
            return Err("--description: 1 to 2,048 characters".into());
        }
        let model = crate::model::Model::get();
        let known = |shape: &str, value: &str| model.enum_values(shape).is_some_and(|values| values.iter().any(|v| v == value));
        if let Some(bad) = industries.iter().find(|i| !known("Industry", i)) {
            return Err(format!("--industry {bad:?} is not one of the Selling API's industries (e.g. Retail, Healthcare)"));
        }
        if let Some(bad) = countries.iter().find(|c| !known("CountryCode", c)) {
            return Err(format!("--country {bad:?} is not an ISO 3166 country code the Selling API knows (e.g. US, DE)"));
        }
        Ok(EngagementGroup { id: id.into(), name: name.into(), description, industries, countries, updated: now })
    }

    /// Whether an engagement with these (rendered) contexts is in the group: its customer's
    /// industry and country, read from the first context that names a customer.
    pub fn includes(&self, contexts: &[Context]) -> bool {
        let customer = contexts.iter().find_map(|c| {
            let body = c.payload.get(c.kind.as_str())?;
            body.get("Customer")
        });
        let Some(customer) = customer else { return self.industries.is_empty() && self.countries.is_empty() };
        let industry = customer.get("Industry").and_then(Value::as_str);
        let country = customer
            .get("CountryCode")
            .or_else(|| customer.get("Address").and_then(|a| a.get("CountryCode")))
            .and_then(Value::as_str);
        (self.industries.is_empty() || industry.is_some_and(|i| self.industries.iter().any(|x| x == i)))
            && (self.countries.is_empty() || country.is_some_and(|c| self.countries.iter().any(|x| x == c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(ms: i64) -> Instant {
        crate::time::from_millis(ms)
    }

    fn project(problem: &str) -> Value {
        json!({"CustomerProject": {
            "Customer": {"CompanyName": "Example Corp", "CountryCode": "US", "Industry": "Retail", "WebsiteUrl": "https://example.com"},
            "Project": {"Title": "Data lake", "BusinessProblem": problem, "TargetCompletionDate": "2027-06-30"}}})
    }

    fn engagement() -> Engagement {
        Engagement::new(
            Catalog::Sandbox,
            "eng-00000000000001".into(),
            "Co-sell".into(),
            String::new(),
            vec![(ContextType::CustomerProject, project("Move the data warehouse to the cloud"))],
            "111111111111",
            at(1_000),
        )
        .unwrap()
    }

    #[test]
    fn contexts_are_numbered_from_one_and_capped_at_five() {
        let mut e = engagement();
        assert_eq!(e.contexts[0].id, "1");
        for n in 2..=5 {
            assert_eq!(e.add_context(ContextType::CustomerProject, project("x"), "1", at(2_000)).unwrap(), n.to_string());
        }
        assert_eq!(
            e.add_context(ContextType::CustomerProject, project("x"), "1", at(2_000)),
            Err(EngagementError::TooManyContexts)
        );
        let six = (0..6).map(|_| (ContextType::CustomerProject, project("x"))).collect();
        assert_eq!(
            Engagement::new(Catalog::Aws, "eng-x".into(), String::new(), String::new(), six, "1", at(0)),
            Err(EngagementError::TooManyContexts)
        );
    }

    #[test]
    fn each_change_moves_modified_at_strictly_forward() {
        let mut e = engagement();
        let before = e.modified;
        e.add_context(ContextType::CustomerProject, project("x"), "2", before).unwrap();
        assert!(e.modified > before, "a change in the same millisecond still moves the token");
        assert_eq!(e.modified_by, "2");
    }

    #[test]
    fn a_stale_last_modified_at_is_refused_and_nothing_changes() {
        let mut e = engagement();
        let token = e.modified;
        e.update_context("1", token, ContextType::CustomerProject, project("first update of the project"), "1", at(5_000))
            .unwrap();
        let after_first = e.clone();
        let stale = e.update_context("1", token, ContextType::CustomerProject, project("second"), "1", at(6_000));
        assert!(matches!(stale, Err(EngagementError::Stale { .. })), "{stale:?}");
        assert_eq!(e, after_first);
        assert_eq!(
            e.update_context("9", e.modified, ContextType::CustomerProject, project("x"), "1", at(7_000)),
            Err(EngagementError::ContextNotFound("9".into()))
        );
        assert!(matches!(
            e.update_context("1", e.modified, ContextType::Lead, json!({"Lead": {}}), "1", at(7_000)),
            Err(EngagementError::Invalid(_))
        ));
    }

    #[test]
    fn a_payload_must_be_the_member_its_type_names() {
        assert!(check_partner_context("", ContextType::CustomerProject, &project("Move the warehouse")).is_ok());
        let Err(EngagementError::Invalid(fields)) =
            check_partner_context("Contexts[0]", ContextType::CustomerProject, &json!({"Lead": {}}))
        else {
            panic!("a mismatched payload is refused")
        };
        assert_eq!(fields[0].field_name, "Contexts[0].Payload");
        let Err(EngagementError::Invalid(fields)) = check_partner_context("", ContextType::Lead, &json!({"Lead": {}})) else {
            panic!("partners do not add lead contexts")
        };
        assert_eq!(fields[0].field_name, "Type");
        assert_eq!(fields[0].code, FieldErrorCode::ActionNotPermitted);
    }

    #[test]
    fn sub_5_personal_data_in_shared_free_text_is_refused_naming_the_field() {
        let problem = "Customer card 4111 1111 1111 1111 must be charged for the migration";
        let Err(EngagementError::Invalid(fields)) = check_partner_context("", ContextType::CustomerProject, &project(problem))
        else {
            panic!("a card number in a shared context is refused")
        };
        assert_eq!(fields[0].field_name, "Payload.CustomerProject.Project.BusinessProblem");
        assert!(fields[0].message.contains("SUB-5"), "{}", fields[0].message);
        assert!(check_engagement_text("Co-sell", "billed to card 4111 1111 1111 1111").is_err());
        assert!(check_engagement_text("Co-sell", "A data lake for the retail team").is_ok());
    }

    #[test]
    fn an_opportunity_is_shared_as_its_customer_and_project() {
        let document = json!({
            "Customer": {"Account": {"CompanyName": "Example Corp", "Industry": "Retail", "WebsiteUrl": "https://example.com",
                                     "Address": {"CountryCode": "DE"}}},
            "Project": {"Title": "Migration", "CustomerBusinessProblem": "Move 40 VMs to the cloud this year"},
            "LifeCycle": {"TargetCloseDate": "2027-03-01"}});
        let payload = project_context_of(document.as_object().unwrap());
        assert_eq!(payload["CustomerProject"]["Customer"]["CountryCode"], "DE");
        assert_eq!(payload["CustomerProject"]["Project"]["BusinessProblem"], "Move 40 VMs to the cloud this year");
        assert_eq!(payload["CustomerProject"]["Project"]["TargetCompletionDate"], "2027-03-01");
        assert_eq!(title_of(&"x".repeat(50)).len(), 40);
        let back = opportunity_document_of(&payload);
        assert_eq!(back["Customer"]["Account"], document["Customer"]["Account"], "the round trip keeps the customer");
        assert_eq!(back["Project"]["CustomerBusinessProblem"], document["Project"]["CustomerBusinessProblem"]);
        assert_eq!(back["LifeCycle"]["TargetCloseDate"], "2027-03-01");
    }

    fn lead_referral() -> Referral {
        use crate::referral::{ReferralContact, ReferralCustomer, ReferralIds, ReferralRequest};
        let request = ReferralRequest {
            partner_id: "P".into(),
            catalog: Catalog::Aws,
            kind: ReferralKind::Lead,
            customer: ReferralCustomer {
                company_name: "Acme".into(),
                website: "https://acme.com".into(),
                country: "US".into(),
                industry: Some("Retail".into()),
            },
            title: None,
            problem: Some("Wants a data lake".into()),
            contact: ReferralContact {
                name: Some("Jane Doe".into()),
                email: Some("jane@acme.com".into()),
                phone: None,
                title: Some("CTO".into()),
            },
        };
        let ids = ReferralIds { invitation: "engi-0000000000001".into(), engagement: "eng-00000000000001".into() };
        Referral::pending(request, ids, at(1_000), at(2_000), at(3_000))
    }

    #[test]
    fn a_lead_referral_is_an_engagement_of_the_operator_with_a_lead_context_rendered_from_it() {
        let r = lead_referral();
        let (e, operator) = referral_engagement(&r);
        assert_eq!((e.id.as_str(), e.created_by.as_str()), ("eng-00000000000001", OPERATOR_ACCOUNT));
        assert_eq!((operator.account_id.as_str(), operator.partner_id.as_ref()), (OPERATOR_ACCOUNT, None));
        assert_eq!(e.context_types(), vec![ContextType::Lead]);
        assert!(e.contexts[0].payload.is_null(), "the data stays in the sealed referral");
        assert_eq!((e.title.as_str(), referral_title(&r).as_str()), ("", "Acme"), "the title names the customer: rendered too");
        let lead = referral_context(&r).unwrap();
        let contact = &lead["Lead"]["Interactions"][0]["Contact"];
        assert_eq!((contact["FirstName"].as_str(), contact["LastName"].as_str()), (Some("Jane"), Some("Doe")));
        assert_eq!(contact["Email"], "jane@acme.com");
        assert!(referral_context_has_contact(&r));
        // REM-2: once shredded, nothing is rendered.
        let shredded = Referral { data_deleted: true, ..r.without_customer_data() };
        assert_eq!(referral_context(&shredded), None);
        assert!(!referral_context_has_contact(&shredded));
        // The placeholder is not a partner's to overwrite: a lead's update goes to the referral.
        let mut e = e;
        let refused = e.update_context("1", e.modified, ContextType::Lead, json!({"Lead": {}}), "1", at(9_000));
        assert!(matches!(refused, Err(EngagementError::Invalid(ref f)) if f[0].code == FieldErrorCode::ActionNotPermitted));
        let stale = e.touch_referral_context("1", at(1), ContextType::Lead, "1", at(9_000));
        assert!(matches!(stale, Err(EngagementError::Stale { .. })));
        let before = e.modified;
        e.touch_referral_context("1", before, ContextType::Lead, "1", at(9_000)).unwrap();
        assert!(e.modified > before);
        let mut updated = r.clone();
        let payload = json!({"Lead": {"Customer": {"CompanyName": "Acme Corp", "Industry": "Retail"},
            "Interaction": {"Contact": {"FirstName": "Jane", "LastName": "Roe", "Email": "jane.roe@acme.com", "BusinessTitle": "CIO"},
                            "BusinessProblem": "Wants a data lake and a new warehouse"}}});
        apply_lead_update(&mut updated, &payload).unwrap();
        assert_eq!((updated.customer.company_name.as_str(), updated.contact.name.as_deref()), ("Acme Corp", Some("Jane Roe")));
        assert_eq!(updated.contact.email.as_deref(), Some("jane.roe@acme.com"));
        let card = json!({"Lead": {"Customer": {"CompanyName": "Acme"}, "Interaction": {"BusinessProblem": "card 4111 1111 1111 1111"}}});
        assert!(apply_lead_update(&mut updated.clone(), &card).is_err(), "SUB-5");
    }

    fn invitation() -> PartnerInvitation {
        let party = |p: &str| Party { partner_id: p.into(), account_id: format!("{p}-account"), company_name: p.into() };
        PartnerInvitation {
            id: "engi-0000000000001".into(),
            catalog: Catalog::Aws,
            engagement_id: "eng-00000000000001".into(),
            sender: party("A"),
            receiver: party("B"),
            receiver_alias: None,
            message: "Join us".into(),
            payload_type: "OpportunityInvitation".into(),
            payload: json!({"OpportunityInvitation": {}}),
            status: InvitationStatus::Pending,
            invited_at: at(0),
            expires_at: at(10_000),
            decided_at: None,
            rejection_reason: None,
            opportunity_id: None,
            version: 1,
        }
    }

    #[test]
    fn an_invitation_is_decided_once_and_expires_unanswered() {
        let mut i = invitation();
        i.accept(at(5_000)).unwrap();
        assert_eq!(i.status, InvitationStatus::Accepted);
        assert!(matches!(i.reject(None, at(6_000)), Err(EngagementError::Invalid(_))), "decided once");
        let mut late = invitation();
        assert!(!late.clone().expire(at(9_999)), "not due yet");
        assert!(late.clone().expire(at(10_000)));
        assert_eq!(late.status_at(at(10_000)), InvitationStatus::Expired);
        assert!(late.accept(at(10_000)).is_err(), "an expired invitation cannot be accepted");
        let mut rejected = invitation();
        rejected.reject(Some("No capacity".into()), at(1)).unwrap();
        assert_eq!(
            (rejected.status_at(at(20_000)), rejected.rejection_reason.as_deref()),
            (InvitationStatus::Rejected, Some("No capacity"))
        );
    }

    #[test]
    fn rem_1_an_invitation_goes_to_another_partner_still_in_the_program() {
        let mut profile: crate::partner::PartnerProfile = serde_json::from_value(json!({
            "id": "B", "name": "B Ltd", "path": "consulting", "tier": "select", "account_id": "222222222222", "timezone": "UTC"}))
        .unwrap();
        assert!(check_receiver("111111111111", "222222222222", Some(&profile), false).is_ok());
        let field = |r: Result<(), EngagementError>| match r {
            Err(EngagementError::Invalid(f)) => f[0].field_name.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(check_receiver("111111111111", "111111111111", Some(&profile), false)),
            "Invitation.Receiver.Account.AwsAccountId"
        );
        assert!(check_receiver("111111111111", "333333333333", None, false).is_err(), "an unknown account");
        assert!(check_receiver("111111111111", "222222222222", Some(&profile), true).is_err(), "already a member");
        profile.removal =
            Some(crate::partner::Removal { scope: crate::partner::RemovalScope::All, reason: None, at: at(0), by: "op".into() });
        assert!(check_receiver("111111111111", "222222222222", Some(&profile), false).is_err(), "removed from the program");
    }

    #[test]
    fn sub_5_an_invitation_shares_no_personal_data() {
        let payload =
            json!({"OpportunityInvitation": {"Project": {"Title": "Lake", "BusinessProblem": "card 4111 1111 1111 1111"}}});
        let Err(EngagementError::Invalid(fields)) = check_invitation_text("Join us", &payload) else { panic!("refused") };
        assert_eq!(fields[0].field_name, "Invitation.Payload.OpportunityInvitation.Project.BusinessProblem");
        assert!(check_invitation_text("Join us on the lake", &json!({"LeadInvitation": {}})).is_ok());
    }

    #[test]
    fn an_engagement_group_is_checked_and_includes_by_industry_and_country() {
        let group =
            EngagementGroup::new("eng-grp-retailus000001", "Retail US", None, vec!["Retail".into()], vec!["US".into()], at(0))
                .unwrap();
        let retail_us = Context { id: "1".into(), kind: ContextType::CustomerProject, payload: project("x") };
        assert!(group.includes(std::slice::from_ref(&retail_us)));
        let mut de = retail_us.clone();
        de.payload["CustomerProject"]["Customer"]["CountryCode"] = json!("DE");
        assert!(!group.includes(&[de]));
        assert!(!group.includes(&[]), "no customer, not in a group that asks for one");
        for (id, name, industry, country) in [
            ("grp-1", "x", "Retail", "US"),
            ("eng-grp-retailus000001", "", "Retail", "US"),
            ("eng-grp-retailus000001", "x", "Shoes", "US"),
            ("eng-grp-retailus000001", "x", "Retail", "XX"),
        ] {
            assert!(
                EngagementGroup::new(id, name, None, vec![industry.into()], vec![country.into()], at(0)).is_err(),
                "{id} {name}"
            );
        }
    }

    #[test]
    fn a_prospecting_result_names_the_engagements_customer_or_says_why_not() {
        let project_context = Context { id: "1".into(), kind: ContextType::CustomerProject, payload: project("x") };
        let task = json!({"TaskId": "task-00000000000001", "TaskName": "Q3 prospects"});
        let result = prospecting_result(std::slice::from_ref(&project_context), &task).unwrap();
        let aws = &result["ProspectingResult"]["Aws"];
        assert_eq!(
            (aws["Customer"]["AccountName"].as_str(), aws["Customer"]["Country"].as_str()),
            (Some("Example Corp"), Some("US"))
        );
        assert_eq!(aws["TaskName"], "Q3 prospects");
        assert_eq!(prospecting_result(&[], &task), Err(ProspectingRefusal::NoCustomer));
        let full = vec![project_context; CONTEXTS_MAX];
        assert_eq!(prospecting_result(&full, &task), Err(ProspectingRefusal::ContextLimit));
    }

    #[test]
    fn identifiers_may_be_arns() {
        let arn = engagement_arn(Catalog::Aws, "eng-abcdefghijklmn");
        assert_eq!(engagement_id(&arn), "eng-abcdefghijklmn");
        assert_eq!(engagement_id("eng-abcdefghijklmn"), "eng-abcdefghijklmn");
    }
}
