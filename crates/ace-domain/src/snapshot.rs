//! Resource snapshots and snapshot jobs (issue 19): how an opportunity reaches the other
//! members of an engagement. A snapshot is an immutable, numbered copy of the fields a
//! **template** names; a **job** keeps one current by taking a new revision whenever the
//! opportunity changes in a way its template can see.
//!
//! Templates are data: a name, the payload member the model's `ResourceSnapshotPayload` union
//! carries it in, where its fields come from, who it is shared with, and the list of fields
//! (`source path → payload path`). A new template is one more entry in [`TEMPLATES`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::engagement::Member;
use crate::ids::{Catalog, REGION};
use crate::model::{FieldError, FieldErrorCode, Model};
use crate::opportunity::{aws_view, Opportunity, Tag};
use crate::time::Instant;

/// The only `ResourceType` of the model.
pub const OPPORTUNITY: &str = "Opportunity";

/// The template every member reads, with which an opportunity is shared into an engagement.
pub const SUMMARY_TEMPLATE: &str = "OpportunitySummaryView";

/// The model's `AwsAccountIdOrAliasList` holds at most ten accounts.
pub const MAX_TARGETS: usize = 10;

/// What a template's fields are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The partner's opportunity as `GetOpportunity` shows it (its document and its
    /// `RelatedEntityIdentifiers`).
    Opportunity,
    /// The operator's side of it, as `GetAwsOpportunitySummary` shows it.
    AwsView,
}

/// Who a snapshot under a template is shared with (digest §3.6: "the template decides the
/// audience").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every member of the engagement when the snapshot is taken (at most [`MAX_TARGETS`]).
    Members,
    /// The resource's owner only.
    Owner,
}

/// One snapshot template.
#[derive(Debug)]
pub struct Template {
    pub name: &'static str,
    pub resource_type: &'static str,
    /// The `ResourceSnapshotPayload` member the snapshot is carried in, and its model shape.
    pub payload_member: &'static str,
    pub payload_shape: &'static str,
    pub source: Source,
    pub audience: Audience,
    /// `(source path, payload path)`, dot-separated.
    pub fields: &'static [(&'static str, &'static str)],
}

/// The templates Partner Central publishes for opportunities.
pub const TEMPLATES: &[Template] = &[
    Template {
        name: "OpportunitySummaryView",
        resource_type: OPPORTUNITY,
        payload_member: "OpportunitySummary",
        payload_shape: "OpportunitySummaryView",
        source: Source::Opportunity,
        audience: Audience::Members,
        fields: &[
            ("Customer.Account", "Customer.Account"),
            ("Customer.Contacts", "Customer.Contacts"),
            ("LifeCycle.NextSteps", "Lifecycle.NextSteps"),
            ("LifeCycle.ReviewStatus", "Lifecycle.ReviewStatus"),
            ("LifeCycle.Stage", "Lifecycle.Stage"),
            ("LifeCycle.TargetCloseDate", "Lifecycle.TargetCloseDate"),
            ("OpportunityTeam", "OpportunityTeam"),
            ("OpportunityType", "OpportunityType"),
            ("PrimaryNeedsFromAws", "PrimaryNeedsFromAws"),
            ("Project.CustomerUseCase", "Project.CustomerUseCase"),
            ("Project.DeliveryModels", "Project.DeliveryModels"),
            ("Project.ExpectedCustomerSpend", "Project.ExpectedCustomerSpend"),
            ("Project.OtherSolutionDescription", "Project.OtherSolutionDescription"),
            ("Project.SalesActivities", "Project.SalesActivities"),
            ("RelatedEntityIdentifiers", "RelatedEntityIdentifiers"),
        ],
    },
    Template {
        name: "AwsOpportunitySummaryFullView",
        resource_type: OPPORTUNITY,
        payload_member: "AwsOpportunitySummaryFullView",
        payload_shape: "AwsOpportunitySummaryFullView",
        source: Source::AwsView,
        audience: Audience::Owner,
        fields: &[
            ("Origin", "Origin"),
            ("InvolvementType", "InvolvementType"),
            ("Visibility", "Visibility"),
            ("RelatedOpportunityId", "RelatedOpportunityId"),
            ("Customer", "Customer"),
            ("LifeCycle", "LifeCycle"),
            ("OpportunityTeam", "OpportunityTeam"),
            ("Project", "Project"),
        ],
    },
];

/// The template a `ResourceSnapshotTemplateIdentifier` names for `resource_type`, or the field
/// error that says why there is none.
pub fn template(name: &str, resource_type: &str) -> Result<&'static Template, FieldError> {
    match TEMPLATES.iter().find(|t| t.name == name) {
        Some(t) if t.resource_type == resource_type => Ok(t),
        Some(t) => Err(FieldError::new(
            "ResourceSnapshotTemplateIdentifier",
            FieldErrorCode::InvalidValue,
            format!(
                "ResourceSnapshotTemplateIdentifier: template {name} is for {} resources, not {resource_type}",
                t.resource_type
            ),
        )),
        None => Err(FieldError::new(
            "ResourceSnapshotTemplateIdentifier",
            FieldErrorCode::InvalidValue,
            format!(
                "ResourceSnapshotTemplateIdentifier: there is no template {name}; the templates are {}",
                TEMPLATES.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, member| v.get(member)).filter(|v| !v.is_null())
}

fn put(target: &mut Map<String, Value>, path: &str, value: Value) {
    let mut segments = path.split('.').peekable();
    let mut map = target;
    while let Some(member) = segments.next() {
        if segments.peek().is_none() {
            map.insert(member.to_string(), value);
            return;
        }
        let next = map.entry(member.to_string()).or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        map = next.as_object_mut().expect("made an object above");
    }
}

impl Template {
    /// The snapshot's payload (`{payload_member: {...}}`) of `o` under this template, or `None`
    /// when its source does not exist yet (the operator's view of an opportunity not submitted).
    pub fn payload(&self, o: &Opportunity) -> Option<Value> {
        let source = match self.source {
            Source::Opportunity => {
                let mut doc = o.document.clone();
                if o.related.values().any(|v| v.as_array().is_some_and(|a| !a.is_empty())) {
                    doc.insert("RelatedEntityIdentifiers".into(), Value::Object(o.related.clone()));
                }
                Value::Object(doc)
            }
            Source::AwsView => aws_view(o)?,
        };
        let mut body = Map::new();
        for (from, to) in self.fields {
            if let Some(v) = at(&source, from) {
                put(&mut body, to, v.clone());
            }
        }
        let body = Model::get().project(self.payload_shape, &Value::Object(body));
        let mut payload = Map::new();
        payload.insert(self.payload_member.into(), body);
        Some(Value::Object(payload))
    }

    /// The accounts a snapshot under this template is shared with: the owner first, then the
    /// engagement's other members in the order they joined.
    pub fn targets(&self, owner_account: &str, members: &[Member]) -> Vec<String> {
        let mut targets = vec![owner_account.to_string()];
        if self.audience == Audience::Members {
            for m in members {
                if targets.len() == MAX_TARGETS {
                    break;
                }
                if !targets.contains(&m.account_id) {
                    targets.push(m.account_id.clone());
                }
            }
        }
        targets
    }
}

/// One snapshot: immutable once taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub catalog: Catalog,
    pub engagement_id: String,
    pub resource_type: String,
    pub resource_id: String,
    pub template: String,
    pub revision: i64,
    /// The resource owner's account (`CreatedBy`) and partner id.
    pub created_by: String,
    pub partner_id: String,
    pub created_at: Instant,
    pub target_accounts: Vec<String>,
    pub payload: Value,
    /// The job that took it, if one did.
    #[serde(default)]
    pub job_id: Option<String>,
}

impl Snapshot {
    pub fn arn(&self) -> String {
        snapshot_arn(self.catalog, &self.engagement_id, &self.resource_type, &self.resource_id, &self.template, self.revision)
    }

    /// What decides whether a new snapshot is a new revision: its payload and its audience.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.payload, &self.target_accounts)
    }

    /// USE-4: the owner and the accounts it targets read it; to anyone else it does not exist.
    pub fn visible_to(&self, account_id: &str) -> bool {
        self.created_by == account_id || self.target_accounts.iter().any(|a| a == account_id)
    }
}

pub fn fingerprint(payload: &Value, targets: &[String]) -> String {
    let mut h = Sha256::new();
    h.update(payload.to_string().as_bytes());
    for t in targets {
        h.update(b"\0");
        h.update(t.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn snapshot_arn(
    catalog: Catalog,
    engagement: &str,
    resource_type: &str,
    resource: &str,
    template: &str,
    revision: i64,
) -> String {
    format!(
        "arn:aws:partnercentral:{REGION}::catalog/{catalog}/engagement/{engagement}/resource/{resource_type}/{resource}/template/{template}/revision/{revision}"
    )
}

/// Account-scoped, so it is taggable (digest §5: tagging of ResourceSnapshotJob resources).
pub fn job_arn(account_id: &str, catalog: Catalog, id: &str) -> String {
    format!("arn:aws:partnercentral:{REGION}:{account_id}:catalog/{catalog}/resource-snapshot-job/{id}")
}

/// What a new snapshot of a resource is, given the latest one under the same engagement and
/// template: a new revision when its payload or audience changed, else nothing new.
pub fn next_revision(latest: Option<&Snapshot>, candidate: &Snapshot) -> Option<i64> {
    match latest {
        Some(l) if l.fingerprint() == candidate.fingerprint() => None,
        Some(l) => Some(l.revision + 1),
        None => Some(1),
    }
}

/// A partner keeps one job per engagement, resource and template: the one of `jobs` that already
/// does what a new one would.
pub fn existing_job<'a>(
    jobs: &'a [SnapshotJob],
    engagement_id: &str,
    resource_id: &str,
    template: &str,
) -> Option<&'a SnapshotJob> {
    jobs.iter().find(|j| j.engagement_id == engagement_id && j.resource_id == resource_id && j.template == template)
}

/// The role a `ResourceSnapshotJobRoleIdentifier` names for a partner with AWS account
/// `account`: a role's ARN in that account, or a role name in it.
pub fn job_role_arn(identifier: &str, account: &str) -> Result<String, FieldError> {
    let refuse = |message: String| {
        FieldError::new(
            "ResourceSnapshotJobRoleIdentifier",
            FieldErrorCode::InvalidValue,
            format!("ResourceSnapshotJobRoleIdentifier: {message}"),
        )
    };
    if identifier.starts_with("arn:") {
        if identifier.split(':').nth(4) != Some(account) {
            return Err(refuse(format!("the role must be in your account {account}")));
        }
        return Ok(identifier.to_string());
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse("name the role by its full ARN".into()));
    }
    Ok(format!("arn:aws:iam::{account}:role/{identifier}"))
}

/// `ResourceSnapshotJobStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatus {
    Running,
    Stopped,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "Running",
            JobStatus::Stopped => "Stopped",
        }
    }
}

/// Why a job cannot do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    #[error("Resource snapshot job {0} is already running")]
    AlreadyRunning(String),
    #[error("Resource snapshot job {0} is not running: start it before stopping it")]
    NotRunning(String),
    #[error("Resource snapshot job {0} is running: stop it before deleting it")]
    DeleteRunning(String),
}

/// A snapshot job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotJob {
    pub catalog: Catalog,
    pub id: String,
    pub partner_id: String,
    pub account_id: String,
    pub engagement_id: String,
    pub resource_type: String,
    pub resource_id: String,
    pub template: String,
    pub status: JobStatus,
    pub created_at: Instant,
    #[serde(default)]
    pub last_success: Option<Instant>,
    #[serde(default)]
    pub last_failure: Option<String>,
    /// The role the partner named in its selling system settings when the job was created.
    #[serde(default)]
    pub role_arn: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Optimistic concurrency: a job is changed by one writer at a time.
    #[serde(default)]
    pub version: i64,
}

impl SnapshotJob {
    pub fn arn(&self) -> String {
        job_arn(&self.account_id, self.catalog, &self.id)
    }

    pub fn start(&mut self) -> Result<(), JobError> {
        if self.status == JobStatus::Running {
            return Err(JobError::AlreadyRunning(self.id.clone()));
        }
        self.status = JobStatus::Running;
        Ok(())
    }

    pub fn stop(&mut self) -> Result<(), JobError> {
        if self.status != JobStatus::Running {
            return Err(JobError::NotRunning(self.id.clone()));
        }
        self.status = JobStatus::Stopped;
        Ok(())
    }

    pub fn check_delete(&self) -> Result<(), JobError> {
        match self.status {
            JobStatus::Running => Err(JobError::DeleteRunning(self.id.clone())),
            JobStatus::Stopped => Ok(()),
        }
    }

    /// The outcome of a run at `at`: it took (or found current) a snapshot, or its template had
    /// nothing to show yet (the operator's view of an opportunity not submitted).
    pub fn ran(&mut self, took: bool, at: Instant) {
        if took {
            self.last_success = Some(at);
        } else {
            self.last_failure = Some(format!("{}: the operator has no view of {} yet", self.template, self.resource_id));
        }
    }

    /// A job runs only while its owner is a member of its engagement; otherwise it stops, saying
    /// why. Whether it may run.
    pub fn may_run_among(&mut self, members: &[Member]) -> bool {
        if members.iter().any(|m| m.partner_id.as_deref() == Some(self.partner_id.as_str())) {
            return true;
        }
        self.fail(format!("the partner is no longer a member of engagement {}", self.engagement_id));
        false
    }

    /// The job cannot go on (its opportunity or engagement went away): it stops, saying why.
    pub fn fail(&mut self, why: impl Into<String>) {
        self.status = JobStatus::Stopped;
        self.last_failure = Some(why.into());
    }
}

/// A resource shared into an engagement (`ListEngagementResourceAssociations`): recorded the
/// first time a snapshot or a job names the pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Association {
    pub catalog: Catalog,
    pub engagement_id: String,
    pub resource_type: String,
    pub resource_id: String,
    /// The resource owner's account, and its partner id.
    pub created_by: String,
    pub partner_id: String,
    pub created_at: Instant,
}

/// One member changed between two revisions of a snapshot (the operator's side-by-side view).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub path: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// What changed from `before` to `after`, member by member (lists compared whole).
pub fn diff(before: &Value, after: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    diff_at("", Some(before), Some(after), &mut out);
    out
}

fn diff_at(path: &str, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<Change>) {
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                diff_at(&p, b.get(k), a.get(k), out);
            }
        }
        (b, a) if b != a => out.push(Change { path: path.to_string(), before: b.cloned(), after: a.cloned() }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opportunity(doc: Value) -> Opportunity {
        Opportunity {
            catalog: Catalog::Sandbox,
            id: "O1".into(),
            partner_id: "p".into(),
            document: doc.as_object().unwrap().clone(),
            origin: crate::opportunity::Origin::PartnerReferral,
            created: crate::time::from_millis(0),
            last_modified: crate::time::from_millis(0),
            related: Map::new(),
            tags: Vec::new(),
            submission: None,
            approved_at: None,
            review: Default::default(),
            referral_id: None,
        }
    }

    #[test]
    fn every_template_field_exists_in_its_payload_shape() {
        let model = Model::get();
        for t in TEMPLATES {
            assert_eq!(model.member_shape("ResourceSnapshotPayload", t.payload_member), Some(t.payload_shape), "{}", t.name);
            for (_, to) in t.fields {
                let mut shape = t.payload_shape.to_string();
                for member in to.split('.') {
                    shape = model
                        .member_shape(&shape, member)
                        .unwrap_or_else(|| panic!("{}: {to} is not in {}", t.name, t.payload_shape))
                        .to_string();
                }
            }
        }
    }

    #[test]
    fn summary_view_copies_the_named_fields_only() {
        let o = opportunity(json!({
            "Customer": {"Account": {"CompanyName": "Acme"}},
            "LifeCycle": {"Stage": "Prospect", "ReviewStatus": "Pending Submission"},
            "Project": {"Title": "T", "CustomerUseCase": "AI"},
            "PartnerOpportunityIdentifier": "crm-1",
        }));
        let t = template("OpportunitySummaryView", OPPORTUNITY).unwrap();
        let p = t.payload(&o).unwrap();
        assert_eq!(
            p,
            json!({"OpportunitySummary": {
                "Customer": {"Account": {"CompanyName": "Acme"}},
                "Lifecycle": {"Stage": "Prospect", "ReviewStatus": "Pending Submission"},
                "Project": {"CustomerUseCase": "AI"},
            }})
        );
    }

    #[test]
    fn the_operator_view_template_needs_an_operator_view() {
        let o = opportunity(json!({"LifeCycle": {"Stage": "Prospect"}}));
        let t = template("AwsOpportunitySummaryFullView", OPPORTUNITY).unwrap();
        assert_eq!(t.payload(&o), None);
        assert_eq!(t.targets("111122223333", &[]), vec!["111122223333".to_string()]);
    }

    #[test]
    fn unknown_templates_are_named() {
        let e = template("Nope", OPPORTUNITY).unwrap_err();
        assert!(e.message.contains("OpportunitySummaryView"), "{}", e.message);
        assert!(template("OpportunitySummaryView", "Engagement").is_err());
    }

    #[test]
    fn an_unchanged_snapshot_is_no_new_revision() {
        let s = Snapshot {
            catalog: Catalog::Sandbox,
            engagement_id: "eng-1".into(),
            resource_type: OPPORTUNITY.into(),
            resource_id: "O1".into(),
            template: "OpportunitySummaryView".into(),
            revision: 1,
            created_by: "111122223333".into(),
            partner_id: "p".into(),
            created_at: crate::time::from_millis(0),
            target_accounts: vec!["111122223333".into(), "aws".into()],
            payload: json!({"OpportunitySummary": {"OpportunityType": "Net New Business"}}),
            job_id: None,
        };
        assert_eq!(next_revision(None, &s), Some(1));
        assert_eq!(next_revision(Some(&s), &s.clone()), None);
        let changed = Snapshot { payload: json!({"OpportunitySummary": {"OpportunityType": "Expansion"}}), ..s.clone() };
        assert_eq!(next_revision(Some(&s), &changed), Some(2));
        let wider = Snapshot { target_accounts: vec!["111122223333".into()], ..s.clone() };
        assert_eq!(next_revision(Some(&s), &wider), Some(2));
        assert!(s.visible_to("aws") && !s.visible_to("444455556666"));
    }

    #[test]
    fn jobs_start_stop_and_delete_in_order() {
        let mut j = SnapshotJob {
            catalog: Catalog::Sandbox,
            id: "job-1".into(),
            partner_id: "p".into(),
            account_id: "111122223333".into(),
            engagement_id: "eng-1".into(),
            resource_type: OPPORTUNITY.into(),
            resource_id: "O1".into(),
            template: "OpportunitySummaryView".into(),
            status: JobStatus::Stopped,
            created_at: crate::time::from_millis(0),
            last_success: None,
            last_failure: None,
            role_arn: None,
            tags: Vec::new(),
            version: 1,
        };
        assert!(j.stop().is_err());
        j.start().unwrap();
        assert!(matches!(j.start(), Err(JobError::AlreadyRunning(_))));
        assert!(matches!(j.check_delete(), Err(JobError::DeleteRunning(_))));
        j.fail("the opportunity was removed");
        assert_eq!(j.status, JobStatus::Stopped);
        assert!(j.check_delete().is_ok());
    }

    #[test]
    fn a_job_role_is_in_the_partners_own_account() {
        assert_eq!(job_role_arn("Snap", "111122223333").unwrap(), "arn:aws:iam::111122223333:role/Snap");
        assert!(job_role_arn("arn:aws:iam::111122223333:role/Snap", "111122223333").is_ok());
        assert!(job_role_arn("arn:aws:iam::999999999999:role/Snap", "111122223333").is_err());
        assert!(job_role_arn("Snap", "alias").is_err(), "a name needs a 12-digit account to make an ARN");
    }

    #[test]
    fn diff_names_each_changed_member() {
        let d = diff(&json!({"a": {"b": 1, "c": 2}}), &json!({"a": {"b": 1, "c": 3, "d": 4}}));
        assert_eq!(d.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(), vec!["a.c", "a.d"]);
    }
}
