//! USE-4, tenant isolation as a property: random sequences of operations by three partners,
//! across both catalogs, through every read path (get, list with filters and pages, page tokens
//! replayed by another partner, tags, tasks, referral invitations and their acceptance, the
//! events feed, the web portal's pages, and engagements: their contexts, members, searches,
//! invitations sent and received, and prospecting tasks; customer accounts, opportunity
//! searches and bulk jobs). No response may ever carry another partner's ids, names or account — except a partner it chose to co-sell with: once one
//! partner invites another into an engagement, the two see each other's name, account and
//! shared customer (never each other's opportunities).

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::support::{Credentials, TestApp};

const PARTNERS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Create {
        actor: usize,
        sandbox: bool,
    },
    Get {
        actor: usize,
        pick: usize,
    },
    Update {
        actor: usize,
        pick: usize,
    },
    List {
        actor: usize,
        sandbox: bool,
        page: i32,
    },
    /// Lists as `owner`, then replays the page token as `actor`.
    ReplayToken {
        owner: usize,
        actor: usize,
    },
    Tag {
        actor: usize,
        pick: usize,
    },
    ListTags {
        actor: usize,
        pick: usize,
    },
    StartTask {
        actor: usize,
        pick: usize,
    },
    ListTasks {
        actor: usize,
    },
    Events {
        actor: usize,
    },
    /// The operator refers a customer to `to`.
    Refer {
        to: usize,
    },
    /// Lists invitations, and reads a picked one (anyone's).
    Invitations {
        actor: usize,
        pick: usize,
    },
    /// Accepts a picked invitation (anyone's).
    Accept {
        actor: usize,
        pick: usize,
    },
    /// Opens portal pages: the pipeline, the referral inbox, a picked opportunity and referral.
    Portal {
        actor: usize,
        pick: usize,
    },
    CreateEngagement {
        actor: usize,
        sandbox: bool,
    },
    /// Reads a picked engagement (anyone's): get, members, a context added, an opportunity made
    /// of its first context and the task list, a search, a list.
    ReadEngagement {
        actor: usize,
        pick: usize,
    },
    /// Invites `to` into a picked engagement (anyone's).
    Invite {
        actor: usize,
        pick: usize,
        to: usize,
    },
    /// Accepts a picked invitation between partners (anyone's), and lists sent and received.
    AnswerInvitation {
        actor: usize,
        pick: usize,
    },
    /// A prospecting task over a picked engagement (anyone's), then the task list.
    Prospect {
        actor: usize,
        pick: usize,
    },
    /// Snapshots a picked opportunity (anyone's) into a picked engagement (anyone's), then reads
    /// the engagement's snapshots, the caller's jobs and its engagements' resources (issue 19).
    Share {
        actor: usize,
        pick: usize,
        engagement: usize,
    },
    /// Creates a customer account, reads a picked one (anyone's), searches and counts its own
    /// (issue 20).
    CustomerAccount {
        actor: usize,
        pick: usize,
    },
    /// Starts a bulk job (issue 20), lists its jobs, reads a picked one's results and report
    /// (anyone's).
    BulkJob {
        actor: usize,
        pick: usize,
    },
    /// Searches opportunities (issue 20) by the words of `owner`'s companies, with a filter.
    Search {
        actor: usize,
        owner: usize,
        sandbox: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let actor = 0..PARTNERS;
    let pick = 0usize..64;
    prop_oneof![
        3 => (actor.clone(), any::<bool>()).prop_map(|(actor, sandbox)| Op::Create { actor, sandbox }),
        2 => (actor.clone(), pick.clone()).prop_map(|(actor, pick)| Op::Get { actor, pick }),
        1 => (actor.clone(), pick.clone()).prop_map(|(actor, pick)| Op::Update { actor, pick }),
        2 => (actor.clone(), any::<bool>(), 1i32..4).prop_map(|(actor, sandbox, page)| Op::List { actor, sandbox, page }),
        1 => (actor.clone(), actor.clone()).prop_map(|(owner, actor)| Op::ReplayToken { owner, actor }),
        1 => (actor.clone(), pick.clone()).prop_map(|(actor, pick)| Op::Tag { actor, pick }),
        1 => (actor.clone(), pick.clone()).prop_map(|(actor, pick)| Op::ListTags { actor, pick }),
        1 => (actor.clone(), pick.clone()).prop_map(|(actor, pick)| Op::StartTask { actor, pick }),
        1 => actor.clone().prop_map(|actor| Op::ListTasks { actor }),
        1 => actor.clone().prop_map(|actor| Op::Events { actor }),
        1 => actor.clone().prop_map(|to| Op::Refer { to }),
        1 => (actor.clone(), pick.clone()).prop_map(|(actor, pick)| Op::Invitations { actor, pick }),
        1 => (actor.clone(), pick.clone()).prop_map(|(actor, pick)| Op::Accept { actor, pick }),
        2 => (actor.clone(), pick.clone()).prop_map(|(actor, pick)| Op::Portal { actor, pick }),
        2 => (actor.clone(), any::<bool>()).prop_map(|(actor, sandbox)| Op::CreateEngagement { actor, sandbox }),
        2 => (actor.clone(), pick.clone()).prop_map(|(actor, pick)| Op::ReadEngagement { actor, pick }),
        1 => (actor.clone(), pick.clone(), actor.clone()).prop_map(|(actor, pick, to)| Op::Invite { actor, pick, to }),
        1 => (actor.clone(), pick.clone()).prop_map(|(actor, pick)| Op::AnswerInvitation { actor, pick }),
        1 => (actor.clone(), pick.clone()).prop_map(|(actor, pick)| Op::Prospect { actor, pick }),
        2 => (actor.clone(), pick.clone(), pick.clone()).prop_map(|(actor, pick, engagement)| Op::Share { actor, pick, engagement }),
        2 => (actor.clone(), pick).prop_map(|(actor, pick)| Op::CustomerAccount { actor, pick }),
        2 => (actor.clone(), actor.clone(), any::<bool>()).prop_map(|(actor, owner, sandbox)| Op::Search { actor, owner, sandbox }),
        1 => (actor, 0usize..64).prop_map(|(actor, pick)| Op::BulkJob { actor, pick }),
    ]
}

/// What each partner owns, and the markers that betray it.
struct World {
    app: TestApp,
    users: Vec<Credentials>,
    accounts: Vec<String>,
    /// id → (owner, catalog, LastModifiedDate)
    owned: BTreeMap<String, (usize, &'static str, String)>,
    /// Referral (invitation) id → the partner it was made for.
    referred: BTreeMap<String, usize>,
    /// Each partner's signed-in portal session.
    browsers: Vec<crate::web::Browser>,
    created: usize,
    /// Engagement id → (catalog, its member partners).
    engagements: BTreeMap<String, (&'static str, std::collections::BTreeSet<usize>)>,
    /// Invitation between partners → (engagement, sender, receiver).
    invitations: BTreeMap<String, (String, usize, usize)>,
    /// Pairs of partners that chose to co-sell (an invitation between them, or a snapshot one
    /// shared with the other): they see each other.
    connected: std::collections::BTreeSet<(usize, usize)>,
    /// Opportunity id → the partners a snapshot of it was shared with.
    shared: BTreeMap<String, std::collections::BTreeSet<usize>>,
    /// Customer account id → its owner.
    customer_accounts: BTreeMap<String, usize>,
    /// Bulk job id → its owner.
    bulk_jobs: BTreeMap<String, usize>,
}

fn company(owner: usize, n: usize) -> String {
    format!("Tenant{owner}Company{n}")
}

impl World {
    fn pick(&self, pick: usize) -> Option<(String, usize, &'static str, String)> {
        if self.owned.is_empty() {
            return None;
        }
        let (id, (owner, catalog, modified)) = self.owned.iter().nth(pick % self.owned.len())?;
        Some((id.clone(), *owner, catalog, modified.clone()))
    }

    /// The property: `body`, answered to `actor`, names nothing of another partner.
    fn assert_clean(&self, actor: usize, what: &str, body: &Value) {
        self.assert_clean_text(actor, what, &body.to_string());
    }

    fn assert_clean_text(&self, actor: usize, what: &str, text: &str) {
        for (id, (owner, _, _)) in &self.owned {
            if *owner != actor && !self.shared.get(id).is_some_and(|with| with.contains(&actor)) {
                // Ids are O<n>: match them whole (in JSON, ARNs, HTML text and links), not as a
                // prefix of a longer id.
                let whole = [format!("\"{id}\""), format!("/{id}\""), format!(">{id}<"), format!("/{id}?")];
                assert!(!whole.iter().any(|w| text.contains(w)), "{what}: partner {actor} saw {id} of partner {owner}: {text}");
            }
        }
        for (id, owner) in &self.customer_accounts {
            assert!(
                *owner == actor || !text.contains(id.as_str()),
                "{what}: partner {actor} saw customer account {id} of partner {owner}"
            );
        }
        for (id, owner) in &self.referred {
            assert!(
                *owner == actor || !text.contains(id.as_str()),
                "{what}: partner {actor} saw referral {id} of partner {owner}"
            );
        }
        for (id, (_, members)) in &self.engagements {
            // An invitation names the engagement it is into: its receiver sees the id.
            let invited = self.invitations.values().any(|(engagement, _, to)| engagement == id && *to == actor);
            assert!(
                members.contains(&actor) || invited || !text.contains(id.as_str()),
                "{what}: partner {actor} saw engagement {id} of partners {members:?}: {text}"
            );
        }
        for other in (0..PARTNERS).filter(|o| *o != actor && !self.connected.contains(&(actor, *o))) {
            assert!(
                !text.contains(&format!("Tenant{other}Company")),
                "{what}: partner {actor} saw partner {other}'s customer: {text}"
            );
            assert!(!text.contains(&self.accounts[other]), "{what}: partner {actor} saw partner {other}'s account: {text}");
            assert!(!text.contains(&format!("P-{other}")), "{what}: partner {actor} saw partner {other}'s id: {text}");
        }
    }

    async fn run(&mut self, op: &Op) {
        match op.clone() {
            Op::CreateEngagement { .. }
            | Op::ReadEngagement { .. }
            | Op::Invite { .. }
            | Op::AnswerInvitation { .. }
            | Op::Prospect { .. }
            | Op::Share { .. } => self.run_engagement(op).await,
            Op::CustomerAccount { actor, pick } => {
                self.created += 1;
                let account =
                    json!({"CompanyName": company(actor, self.created), "Domain": format!("tenant{actor}.example.com")});
                let user = &self.users[actor];
                let (status, v) =
                    self.app.call(user, "CreateCustomerAccount", json!({"Catalog": "AWS", "Account": account})).await;
                assert_eq!(status, 200, "{v}");
                self.assert_clean(actor, "CreateCustomerAccount", &v);
                self.customer_accounts.insert(v["Id"].as_str().unwrap().to_string(), actor);
                let (id, owner) = self.customer_accounts.iter().nth(pick % self.customer_accounts.len()).unwrap();
                let (id, owner) = (id.clone(), *owner);
                let (status, v) = self.app.call(user, "GetCustomerAccount", json!({"Catalog": "AWS", "Identifier": id})).await;
                assert_eq!(status == 200, owner == actor, "GetCustomerAccount {id} of {owner} by {actor}: {v}");
                // A refusal may repeat the identifier the caller sent; nothing else of it.
                self.assert_clean_text(actor, "GetCustomerAccount", &v.to_string().replace(&id, "<asked>"));
                let (status, v) = self.app.call(user, "SearchCustomerAccounts", json!({"Catalog": "AWS"})).await;
                assert_eq!(status, 200, "{v}");
                self.assert_clean(actor, "SearchCustomerAccounts", &v);
                let own = self.customer_accounts.values().filter(|o| **o == actor).count();
                let found = v["CustomerAccountSummaries"].as_array().unwrap().len();
                assert!(found == own.min(20), "SearchCustomerAccounts by {actor}: {found} of its {own}: {v}");
                let body =
                    json!({"Catalog": "AWS", "IncludeMissing": true, "Aggregations": [{"GroupBy": ["ENRICHMENT_STATUS"]}]});
                let (_, v) = self.app.call(user, "GetCustomerAccountStatistics", body).await;
                assert_eq!(v["TotalCount"], own, "GetCustomerAccountStatistics by {actor}: {v}");
            }
            Op::BulkJob { actor, pick } => {
                self.created += 1;
                let user = &self.users[actor];
                // A name that never resolves: the job fails reading it, and is a job all the same.
                let body = json!({"Catalog": "AWS", "ClientToken": format!("job-{}", self.created), "FileFormat": "CSV",
                    "FileURI": format!("https://files-tenant{actor}.invalid/{}.csv", company(actor, self.created))});
                let (status, v) = self.app.call(user, "StartOpportunityBulkJob", body).await;
                assert_eq!(status, 200, "{v}");
                self.bulk_jobs.insert(v["JobId"].as_str().unwrap().to_string(), actor);
                let (status, v) = self.app.call(user, "ListOpportunityBulkJobs", json!({"Catalog": "AWS"})).await;
                assert_eq!(status, 200, "{v}");
                self.assert_clean(actor, "ListOpportunityBulkJobs", &v);
                for job in v["OpportunityBulkJobSummaries"].as_array().unwrap() {
                    let id = job["JobId"].as_str().unwrap();
                    assert_eq!(self.bulk_jobs.get(id), Some(&actor), "ListOpportunityBulkJobs by {actor} shows {id}: {v}");
                }
                let (id, owner) = self.bulk_jobs.iter().nth(pick % self.bulk_jobs.len()).unwrap();
                let (id, owner) = (id.clone(), *owner);
                for (op, body) in [
                    ("ListOpportunityBulkJobResults", json!({"Catalog": "AWS", "JobId": id})),
                    ("GetOpportunityBulkJobReportUrl", json!({"Catalog": "AWS", "JobId": id, "ReportFormat": "CSV"})),
                ] {
                    let (status, v) = self.app.call(user, op, body).await;
                    assert_eq!(status == 200, owner == actor, "{op} {id} of {owner} by {actor}: {v}");
                    self.assert_clean_text(actor, op, &v.to_string().replace(&id, "<asked>"));
                }
            }
            Op::Search { actor, owner, sandbox } => {
                let catalog = if sandbox { "Sandbox" } else { "AWS" };
                let filter = json!({"OrAllFilters": [
                    {"ContainsAny": {"Key": "CustomerCompanyName", "Value": {"StringValue": format!("tenant{owner}")}}},
                    {"EqualsTo": {"Key": "Stage", "Value": {"StringValue": "Qualified"}}}]});
                for body in [
                    json!({"Catalog": catalog, "Keyword": format!("Tenant{owner}Company")}),
                    json!({"Catalog": catalog, "Filter": filter, "MaxResults": 5}),
                ] {
                    let (status, v) = self.app.call(&self.users[actor], "SearchOpportunities", body).await;
                    assert_eq!(status, 200, "{v}");
                    self.assert_clean(actor, "SearchOpportunities", &v);
                    for found in v["OpportunitySearchSummaries"].as_array().unwrap() {
                        let id = found["Id"].as_str().unwrap();
                        if let Some((owner, _, _)) = self.owned.get(id) {
                            assert_eq!(*owner, actor, "SearchOpportunities by {actor} found {id} of {owner}: {v}");
                        }
                    }
                }
            }
            Op::Create { actor, sandbox } => {
                let catalog = if sandbox { "Sandbox" } else { "AWS" };
                self.created += 1;
                let body = json!({"Catalog": catalog, "ClientToken": format!("t-{}", self.created),
                    "Customer": {"Account": {"CompanyName": company(actor, self.created), "WebsiteUrl": "https://tenant.example.com",
                        "Industry": "Retail", "Address": {"CountryCode": "US", "PostalCode": "98101"}}},
                    "Project": {"Title": "Isolation", "CustomerBusinessProblem": "A problem statement long enough for the model."},
                    "LifeCycle": {"Stage": "Qualified", "TargetCloseDate": "2099-01-31"}});
                let (status, v) = self.app.call(&self.users[actor], "CreateOpportunity", body).await;
                assert_eq!(status, 200, "{v}");
                self.assert_clean(actor, "CreateOpportunity", &v);
                let id = v["Id"].as_str().unwrap().to_string();
                self.owned.insert(id, (actor, catalog, v["LastModifiedDate"].as_str().unwrap().to_string()));
            }
            Op::Get { actor, pick } => {
                let Some((id, owner, catalog, _)) = self.pick(pick) else { return };
                let (status, v) =
                    self.app.call(&self.users[actor], "GetOpportunity", json!({"Catalog": catalog, "Identifier": id})).await;
                assert_eq!(status == 200, owner == actor, "GetOpportunity {id} of {owner} by {actor}: {v}");
                self.assert_clean(actor, "GetOpportunity", &v);
            }
            Op::Update { actor, pick } => {
                let Some((id, owner, catalog, modified)) = self.pick(pick) else { return };
                if modified.is_empty() {
                    return;
                }
                let body = json!({"Catalog": catalog, "Identifier": id, "LastModifiedDate": modified,
                    "Customer": {"Account": {"CompanyName": company(actor, 9999), "WebsiteUrl": "https://tenant.example.com",
                        "Industry": "Retail", "Address": {"CountryCode": "US", "PostalCode": "98101"}}},
                    "Project": {"Title": "Updated", "CustomerBusinessProblem": "A problem statement long enough for the model."},
                    "LifeCycle": {"Stage": "Prospect", "TargetCloseDate": "2099-01-31"}});
                let (status, v) = self.app.call(&self.users[actor], "UpdateOpportunity", body).await;
                assert_eq!(status == 200, owner == actor, "UpdateOpportunity {id} of {owner} by {actor}: {v}");
                self.assert_clean(actor, "UpdateOpportunity", &v);
                if status == 200 {
                    self.owned.get_mut(&id).unwrap().2 = v["LastModifiedDate"].as_str().unwrap().to_string();
                }
            }
            Op::List { actor, sandbox, page } => {
                let catalog = if sandbox { "Sandbox" } else { "AWS" };
                let mut next: Option<String> = None;
                loop {
                    let mut body =
                        json!({"Catalog": catalog, "MaxResults": page, "LifeCycle": {"Stage": ["Qualified", "Prospect"]}});
                    if let Some(t) = &next {
                        body["NextToken"] = json!(t);
                    }
                    let (status, v) = self.app.call(&self.users[actor], "ListOpportunities", body).await;
                    assert_eq!(status, 200, "{v}");
                    self.assert_clean(actor, "ListOpportunities", &v);
                    match v["NextToken"].as_str() {
                        Some(t) => next = Some(t.to_string()),
                        None => break,
                    }
                }
            }
            Op::ReplayToken { owner, actor } => {
                let (_, v) =
                    self.app.call(&self.users[owner], "ListOpportunities", json!({"Catalog": "AWS", "MaxResults": 1})).await;
                let Some(token) = v["NextToken"].as_str() else { return };
                let body = json!({"Catalog": "AWS", "MaxResults": 1, "NextToken": token});
                let (status, replayed) = self.app.call(&self.users[actor], "ListOpportunities", body).await;
                if owner != actor {
                    assert_eq!(status, 400, "a token replayed by another partner is refused: {replayed}");
                }
                self.assert_clean(actor, "ListOpportunities (replayed token)", &replayed);
            }
            Op::Tag { actor, pick } | Op::ListTags { actor, pick } => {
                let Some((id, owner, catalog, _)) = self.pick(pick) else { return };
                let arn = format!("arn:aws:partnercentral:us-east-1:{}:catalog/{catalog}/opportunity/{id}", self.accounts[owner]);
                let (operation, body) = match op {
                    Op::Tag { .. } => ("TagResource", json!({"ResourceArn": arn, "Tags": [{"Key": "k", "Value": "v"}]})),
                    _ => ("ListTagsForResource", json!({"ResourceArn": arn})),
                };
                let (status, v) = self.app.call(&self.users[actor], operation, body).await;
                assert_eq!(status == 200, owner == actor, "{operation} {id} of {owner} by {actor}: {v}");
                // The error may echo the ARN the caller itself sent; nothing else of the owner.
                self.assert_clean_text(actor, operation, &v.to_string().replace(&arn, "<the caller's ARN>"));
            }
            Op::StartTask { actor, pick } => {
                let Some((id, owner, catalog, _)) = self.pick(pick) else { return };
                self.created += 1;
                let body = json!({"Catalog": catalog, "Identifier": id, "AwsSubmission": {"InvolvementType": "Co-Sell"},
                    "ClientToken": format!("task-{}", self.created)});
                let (status, v) = self.app.call(&self.users[actor], "StartEngagementFromOpportunityTask", body).await;
                if owner != actor {
                    assert_ne!(status, 200, "a task on another partner's opportunity: {v}");
                }
                self.assert_clean(actor, "StartEngagementFromOpportunityTask", &v);
            }
            Op::ListTasks { actor } => {
                for catalog in ["AWS", "Sandbox"] {
                    let (status, v) = self
                        .app
                        .call(&self.users[actor], "ListEngagementFromOpportunityTasks", json!({"Catalog": catalog}))
                        .await;
                    assert_eq!(status, 200, "{v}");
                    self.assert_clean(actor, "ListEngagementFromOpportunityTasks", &v);
                }
            }
            Op::Events { actor } => {
                let (status, v) = self.app.ext(&self.users[actor], "ListEvents", json!({"MaxResults": 100})).await;
                assert_eq!(status, 200, "{v}");
                self.assert_clean(actor, "ListEvents", &v);
            }
            Op::Refer { to } => {
                self.created += 1;
                let n = self.created;
                let v = self
                    .app
                    .operator(
                        "POST",
                        "/referrals",
                        json!({"partner": format!("P-{to}"), "kind": "opportunity", "company": company(to, n),
                               "website": format!("https://ref{n}.example.com"), "country": "US",
                               "contact_name": "Jane Doe", "contact_email": format!("jane{n}@ref{n}.example.com")}),
                    )
                    .await;
                self.referred.insert(v["Id"].as_str().unwrap().to_string(), to);
            }
            Op::Invitations { actor, pick } => {
                let list = json!({"Catalog": "AWS", "ParticipantType": "RECEIVER"});
                let (status, v) = self.app.call(&self.users[actor], "ListEngagementInvitations", list).await;
                assert_eq!(status, 200, "{v}");
                self.assert_clean(actor, "ListEngagementInvitations", &v);
                let Some((id, owner)) = self.pick_referral(pick) else { return };
                let get = json!({"Catalog": "AWS", "Identifier": id});
                let (status, v) = self.app.call(&self.users[actor], "GetEngagementInvitation", get).await;
                assert_eq!(status == 200, owner == actor, "GetEngagementInvitation {id} of {owner} by {actor}: {v}");
                // A refusal may echo the id the caller itself sent.
                self.assert_clean_text(actor, "GetEngagementInvitation", &v.to_string().replace(&id, "<the caller's id>"));
            }
            Op::Accept { actor, pick } => {
                let Some((id, owner)) = self.pick_referral(pick) else { return };
                let body = json!({"Catalog": "AWS", "Identifier": id, "ClientToken": format!("accept-{id}-{actor}")});
                let (status, v) = self.app.call(&self.users[actor], "StartEngagementByAcceptingInvitationTask", body).await;
                if owner != actor {
                    assert_ne!(status, 200, "accepting another partner's invitation: {v}");
                }
                self.assert_clean_text(
                    actor,
                    "StartEngagementByAcceptingInvitationTask",
                    &v.to_string().replace(&id, "<the caller's id>"),
                );
                if let (200, Some(opportunity)) = (status, v["OpportunityId"].as_str()) {
                    // No LastModifiedDate kept: a referral's opportunity is read, never updated here
                    // (its customer fields are the referral's).
                    self.owned.insert(opportunity.to_string(), (owner, "AWS", String::new()));
                }
            }
            Op::Portal { actor, pick } => {
                let mut pages = vec![("/portal".to_string(), None), ("/portal/referrals".to_string(), None)];
                if let Some((id, owner, catalog, _)) = self.pick(pick) {
                    pages.push((format!("/portal/opportunities/{id}?catalog={catalog}"), Some((id, owner))));
                }
                if let Some((id, owner)) = self.pick_referral(pick) {
                    pages.push((format!("/portal/referrals/{id}"), Some((id, owner))));
                }
                for (path, target) in pages {
                    let page = self.browsers[actor].get(&path).await;
                    match &target {
                        Some((_, owner)) => {
                            assert_eq!(page.status == 200, *owner == actor, "{path} of {owner} by {actor}: {}", page.status)
                        }
                        None => assert_eq!(page.status, 200, "{path}: {}", page.body),
                    }
                    self.assert_clean_text(actor, &path, &page.body);
                }
            }
        }
    }

    fn pick_engagement(&self, pick: usize) -> Option<(String, &'static str, std::collections::BTreeSet<usize>)> {
        let (id, (catalog, members)) = self.engagements.iter().nth(pick % self.engagements.len().max(1))?;
        Some((id.clone(), catalog, members.clone()))
    }

    async fn run_engagement(&mut self, op: &Op) {
        match op.clone() {
            Op::CreateEngagement { actor, sandbox } => {
                let catalog = if sandbox { "Sandbox" } else { "AWS" };
                self.created += 1;
                let body = json!({"Catalog": catalog, "ClientToken": format!("e-{}", self.created), "Title": "Isolation",
                    "Contexts": [{"Type": "CustomerProject", "Payload": {"CustomerProject": {
                        "Customer": {"CompanyName": company(actor, self.created), "CountryCode": "US", "Industry": "Retail",
                                     "WebsiteUrl": "https://tenant.example.com"},
                        "Project": {"Title": "Isolation", "BusinessProblem": "A problem statement long enough for the model.",
                                    "TargetCompletionDate": "2099-01-31"}}}}]});
                let (status, v) = self.app.call(&self.users[actor], "CreateEngagement", body).await;
                assert_eq!(status, 200, "{v}");
                self.assert_clean(actor, "CreateEngagement", &v);
                self.engagements.insert(v["Id"].as_str().unwrap().to_string(), (catalog, [actor].into()));
            }
            Op::ReadEngagement { actor, pick } => {
                let Some((id, catalog, members)) = self.pick_engagement(pick) else { return };
                let member = members.contains(&actor);
                for operation in ["GetEngagement", "ListEngagementMembers"] {
                    let (status, v) =
                        self.app.call(&self.users[actor], operation, json!({"Catalog": catalog, "Identifier": id})).await;
                    assert_eq!(status == 200, member, "{operation} {id} of {members:?} by {actor}: {v}");
                    self.assert_clean_text(actor, operation, &v.to_string().replace(&id, "<the caller's id>"));
                }
                self.created += 1;
                let add = json!({"Catalog": catalog, "ClientToken": format!("c-{}", self.created), "EngagementIdentifier": id,
                    "Type": "CustomerProject", "Payload": {"CustomerProject": {
                        "Customer": {"CompanyName": company(actor, self.created), "CountryCode": "US", "Industry": "Retail",
                                     "WebsiteUrl": "https://tenant.example.com"}}}});
                let (status, v) = self.app.call(&self.users[actor], "CreateEngagementContext", add).await;
                if !member {
                    assert_ne!(status, 200, "a context added to another's engagement: {v}");
                }
                self.assert_clean_text(actor, "CreateEngagementContext", &v.to_string().replace(&id, "<the caller's id>"));
                self.created += 1;
                let task = json!({"Catalog": catalog, "ClientToken": format!("o-{}", self.created), "Identifier": id,
                                  "ContextIdentifier": "1"});
                let (status, v) = self.app.call(&self.users[actor], "StartOpportunityFromEngagementTask", task).await;
                assert_eq!(status == 200, member, "StartOpportunityFromEngagementTask on {id} of {members:?} by {actor}: {v}");
                self.assert_clean_text(
                    actor,
                    "StartOpportunityFromEngagementTask",
                    &v.to_string().replace(&id, "<the caller's id>"),
                );
                if let (200, Some(opportunity)) = (status, v["OpportunityId"].as_str()) {
                    // The member's own opportunity now (read, never updated here).
                    self.owned.insert(opportunity.to_string(), (actor, catalog, String::new()));
                }
                for (operation, body) in [
                    ("ListOpportunityFromEngagementTasks", json!({"Catalog": catalog})),
                    ("ListEngagements", json!({"Catalog": catalog})),
                    ("SearchEngagements", json!({"Catalog": catalog, "Keyword": "Tenant"})),
                ] {
                    let (status, v) = self.app.call(&self.users[actor], operation, body).await;
                    assert_eq!(status, 200, "{v}");
                    self.assert_clean(actor, operation, &v);
                }
            }
            Op::Invite { actor, pick, to } => {
                let Some((id, catalog, members)) = self.pick_engagement(pick) else { return };
                self.created += 1;
                let body = json!({"Catalog": catalog, "ClientToken": format!("i-{}", self.created), "EngagementIdentifier": id,
                    "Invitation": {"Message": "Join us", "Receiver": {"Account": {"AwsAccountId": self.accounts[to]}},
                        "Payload": {"LeadInvitation": {"Customer": {"CompanyName": company(actor, self.created)},
                                                       "Interaction": {"ContactBusinessTitle": "CTO"}}}}});
                let (status, v) = self.app.call(&self.users[actor], "CreateEngagementInvitation", body).await;
                if !members.contains(&actor) {
                    assert_ne!(status, 200, "an invitation into another's engagement: {v}");
                }
                // The refusal of an invitation to `to` may name the account the caller sent.
                self.assert_clean_text(
                    actor,
                    "CreateEngagementInvitation",
                    &v.to_string().replace(&id, "<the caller's id>").replace(&self.accounts[to], "<the caller's receiver>"),
                );
                if status == 200 {
                    self.invitations.insert(v["Id"].as_str().unwrap().to_string(), (id, actor, to));
                    self.connected.insert((actor, to));
                    self.connected.insert((to, actor));
                }
            }
            Op::AnswerInvitation { actor, pick } => {
                for participant in ["SENDER", "RECEIVER"] {
                    for catalog in ["AWS", "Sandbox"] {
                        let list = json!({"Catalog": catalog, "ParticipantType": participant});
                        let (status, v) = self.app.call(&self.users[actor], "ListEngagementInvitations", list).await;
                        assert_eq!(status, 200, "{v}");
                        self.assert_clean(actor, "ListEngagementInvitations", &v);
                    }
                }
                let Some((id, (engagement, sender, receiver))) =
                    self.invitations.iter().nth(pick % self.invitations.len().max(1)).map(|(k, v)| (k.clone(), v.clone()))
                else {
                    return;
                };
                let catalog = self.engagements[&engagement].0;
                let (status, v) = self
                    .app
                    .call(&self.users[actor], "AcceptEngagementInvitation", json!({"Catalog": catalog, "Identifier": id}))
                    .await;
                if actor != receiver {
                    assert_ne!(status, 200, "{actor} accepted an invitation from {sender} to {receiver}: {v}");
                }
                self.assert_clean_text(actor, "AcceptEngagementInvitation", &v.to_string().replace(&id, "<the caller's id>"));
                if status == 200 {
                    self.engagements.get_mut(&engagement).unwrap().1.insert(actor);
                }
            }
            Op::Prospect { actor, pick } => {
                let Some((id, catalog, members)) = self.pick_engagement(pick) else { return };
                self.created += 1;
                let body = json!({"Catalog": catalog, "ClientToken": format!("p-{}", self.created), "TaskName": "isolation",
                    "Identifiers": [id]});
                let (status, v) = self.app.call(&self.users[actor], "StartProspectingFromEngagementTask", body).await;
                assert_eq!(status, 200, "{v}");
                let (_, got) = self
                    .app
                    .call(
                        &self.users[actor],
                        "GetProspectingFromEngagementTask",
                        json!({"Catalog": catalog, "TaskIdentifier": v["TaskId"]}),
                    )
                    .await;
                let completed = got["Engagements"][0]["Status"] == "COMPLETED";
                if !members.contains(&actor) {
                    assert!(!completed, "a prospecting task on another's engagement: {got}");
                }
                self.assert_clean_text(
                    actor,
                    "GetProspectingFromEngagementTask",
                    &got.to_string().replace(&id, "<the caller's id>"),
                );
                let (_, listed) =
                    self.app.call(&self.users[actor], "ListProspectingFromEngagementTasks", json!({"Catalog": catalog})).await;
                self.assert_clean(actor, "ListProspectingFromEngagementTasks", &listed);
            }
            Op::Share { actor, pick, engagement } => {
                let Some((id, catalog, members)) = self.pick_engagement(engagement) else { return };
                if let Some((opportunity, owner, opportunity_catalog, _)) = self.pick(pick) {
                    self.created += 1;
                    let body = json!({"Catalog": catalog, "ClientToken": format!("s-{}", self.created), "EngagementIdentifier": id,
                        "ResourceType": "Opportunity", "ResourceIdentifier": opportunity,
                        "ResourceSnapshotTemplateIdentifier": "OpportunitySummaryView"});
                    let (status, v) = self.app.call(&self.users[actor], "CreateResourceSnapshot", body).await;
                    let allowed = owner == actor && members.contains(&actor) && opportunity_catalog == catalog;
                    assert_eq!(
                        status == 200,
                        allowed,
                        "CreateResourceSnapshot of {opportunity} of {owner} into {id} of {members:?} by {actor}: {v}"
                    );
                    self.assert_clean_text(
                        actor,
                        "CreateResourceSnapshot",
                        &v.to_string().replace(&id, "<the caller's id>").replace(&opportunity, "<the caller's id>"),
                    );
                    if status == 200 {
                        // Shared with the engagement's members: the owner chose to co-sell with them.
                        self.shared.entry(opportunity).or_default().extend(members.iter().copied());
                        for m in members.iter().filter(|m| **m != actor) {
                            self.connected.insert((actor, *m));
                            self.connected.insert((*m, actor));
                        }
                    }
                }
                let (status, v) = self
                    .app
                    .call(&self.users[actor], "ListResourceSnapshots", json!({"Catalog": catalog, "EngagementIdentifier": id}))
                    .await;
                assert_eq!(status == 200, members.contains(&actor), "ListResourceSnapshots {id} of {members:?} by {actor}: {v}");
                self.assert_clean_text(actor, "ListResourceSnapshots", &v.to_string().replace(&id, "<the caller's id>"));
                for operation in ["ListResourceSnapshotJobs", "ListEngagementResourceAssociations"] {
                    for catalog in ["AWS", "Sandbox"] {
                        let (status, v) = self.app.call(&self.users[actor], operation, json!({"Catalog": catalog})).await;
                        assert_eq!(status, 200, "{v}");
                        self.assert_clean(actor, operation, &v);
                    }
                }
            }
            _ => unreachable!("not an engagement operation"),
        }
    }

    fn pick_referral(&self, pick: usize) -> Option<(String, usize)> {
        let (id, owner) = self.referred.iter().nth(pick % self.referred.len().max(1))?;
        Some((id.clone(), *owner))
    }
}

async fn scenario(ops: Vec<Op>) {
    let app = TestApp::start().await;
    let mut users = Vec::new();
    let mut accounts = Vec::new();
    let mut browsers = Vec::new();
    for p in 0..PARTNERS {
        let id = format!("P-{p}");
        // Eligible for referrals, with a portal sign-in.
        users.push(crate::referrals::eligible_partner(&app, &id).await);
        accounts.push(app.account_id(&id).await);
        let email = format!("web{p}@tenant.example");
        let password = crate::web::PASSWORD;
        app.operator("POST", &format!("/partners/{id}/users"), json!({"name": "web", "email": email, "password": password}))
            .await;
        let mut browser = crate::web::Browser::new(&app);
        assert_eq!(browser.sign_in(&email, password).await.status, 303);
        browsers.push(browser);
    }
    let mut world = World {
        app,
        users,
        accounts,
        owned: BTreeMap::new(),
        referred: BTreeMap::new(),
        shared: BTreeMap::new(),
        customer_accounts: BTreeMap::new(),
        bulk_jobs: BTreeMap::new(),
        browsers,
        created: 0,
        engagements: BTreeMap::new(),
        invitations: BTreeMap::new(),
        connected: Default::default(),
    };
    for op in &ops {
        world.run(op).await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn use_4_no_response_ever_carries_another_partners_data(ops in proptest::collection::vec(op(), 1..40)) {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(scenario(ops));
    }
}

/// Issue 21: opportunity ids were one global sequence, so the gap between two of a partner's
/// ids counted the opportunities every other partner created in between. Now they are a keyed
/// permutation of that sequence: the gap says nothing.
#[tokio::test]
async fn use_4_opportunity_ids_do_not_count_other_partners_creates() {
    let app = TestApp::start().await;
    let a = app.client(&app.partner("P-A").await);
    let b = app.client(&app.partner("P-B").await);
    let number = |id: &str| id[1..].parse::<i64>().unwrap();
    let first = crate::opportunities::create(&a, "AWS", "Alpha").await;
    for i in 0..50 {
        crate::opportunities::create(&b, "AWS", &format!("Beta {i}")).await;
    }
    let second = crate::opportunities::create(&a, "AWS", "Alpha Two").await;
    let (first, second) = (number(first.id()), number(second.id()));
    assert_ne!(second - first, 51, "the gap counts the other partner's creates");
    assert!((first - second).abs() > 1_000, "neighbouring creates are far apart: {first} then {second}");
    assert!(first < 1_000_000_000_000 && second < 1_000_000_000_000, "the model's pattern: O and at most 12 digits");
}
