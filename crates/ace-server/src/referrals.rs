//! Customer Engagement Referrals at the edge: creating them (behind the eligibility gate and
//! the suppression list), their invitation views, revocation with deletion (REM-2), and the
//! deadline sweep (REF-3). The rules are `ace_domain::referral`'s; this loads and stores.

use chrono::{Datelike, TimeDelta};
use serde_json::{json, Value};

use ace_domain::audit::AuditEntry;
use ace_domain::business_days::{contact_deadline, HolidayCalendar};
use ace_domain::engagement::{invitation_arn, referral_engagement};
use ace_domain::events::{partner_event_in, OutboxEvent};
use ace_domain::ids::{base36, REGION};
use ace_domain::referral::{
    due_action, DueAction, MissedDeadlinePolicy, Referral, ReferralIds, ReferralKind, ReferralRequest, Revocation,
};
use ace_domain::time::{format_timestamp, Instant};
use ace_store::{StoreError, StoreResult, WriteBatch};

use ace_domain::referral::{ACCEPTANCE_DAYS_DEFAULT, CONTACT_BUSINESS_DAYS, REMINDER_HOURS_DEFAULT};

use crate::AppState;

/// Settings the operator may change.
pub const POLICY_SETTING: &str = "referrals.missed_deadline_policy";
pub const ACCEPTANCE_DAYS_SETTING: &str = "referrals.acceptance_days";
pub const REMINDER_HOURS_SETTING: &str = "referrals.reminder_hours";
pub const UNSUBSCRIBE_LINKS_SETTING: &str = "referrals.unsubscribe_links";
/// A limit on everything: referrals looked at per sweep.
const SWEEP_MAX: usize = 10_000;
/// Due referrals acted on at once by the sweep.
const SWEEP_CONCURRENCY: usize = 128;

pub fn new_id(prefix: &str, len: usize) -> String {
    format!("{prefix}{}", base36(&crate::crypto::random_bytes(len), len))
}

/// How long an invitation waits for an answer (the operator's setting; invitations between
/// partners wait as long as referrals).
pub async fn acceptance_days(state: &AppState) -> StoreResult<i64> {
    setting_i64(state, ACCEPTANCE_DAYS_SETTING, ACCEPTANCE_DAYS_DEFAULT).await
}

/// How long before the contact deadline the partner is reminded (the operator's setting).
pub async fn reminder_hours(state: &AppState) -> StoreResult<i64> {
    setting_i64(state, REMINDER_HOURS_SETTING, REMINDER_HOURS_DEFAULT).await
}

async fn setting_i64(state: &AppState, key: &str, default: i64) -> StoreResult<i64> {
    Ok(state.store.get_setting(key).await?.and_then(|v| v.parse().ok()).unwrap_or(default))
}

pub async fn policy(state: &AppState) -> StoreResult<MissedDeadlinePolicy> {
    Ok(match state.store.get_setting(POLICY_SETTING).await?.as_deref() {
        Some("flag") => MissedDeadlinePolicy::Flag,
        _ => MissedDeadlinePolicy::Revoke,
    })
}

pub async fn unsubscribe_links(state: &AppState) -> StoreResult<Vec<String>> {
    Ok(match state.store.get_setting(UNSUBSCRIBE_LINKS_SETTING).await? {
        Some(v) => serde_json::from_str(&v).unwrap_or_default(),
        None => vec![
            "https://pages.awscloud.com/Partner-Communication-Preferences.html".into(),
            "https://pages.awscloud.com/communication-preferences.html".into(),
        ],
    })
}

/// The partner's holiday calendar: a built-in one or one the operator imported.
pub async fn calendar(state: &AppState, name: Option<&str>, year: i32) -> StoreResult<HolidayCalendar> {
    let Some(name) = name else { return Ok(HolidayCalendar::default()) };
    if let Some(c) = HolidayCalendar::built_in(name, year - 1, year + 1) {
        return Ok(c);
    }
    Ok(state.store.get_calendar(name).await?.unwrap_or_default())
}

/// Why a referral cannot be made.
pub enum Refusal {
    PartnerNotFound,
    NotEligible(Box<ace_domain::eligibility::EligibilityReport>),
    Suppressed(String),
    /// MOD-1: the program has ended.
    ProgramTerminated(String),
}

/// An `Engagement Invitation …` event of a referral, to its partner (digest §3.6).
pub fn invitation_event(state: &AppState, detail_type: &str, r: &Referral, account_id: &str, now: Instant) -> OutboxEvent {
    let arn = invitation_arn(r.catalog, &r.id);
    let envelope = json!({
        "version": "0", "id": state.new_event_id(), "detail-type": detail_type, "source": ace_domain::events::SOURCE,
        "account": account_id, "time": format_timestamp(now), "region": REGION, "resources": [arn],
        "detail": {"catalog": r.catalog.as_str(), "engagementInvitation": {
            "arn": arn, "id": r.id, "engagementId": r.engagement_id, "senderAccountId": "aws", "receiverAccountId": account_id,
            "senderCompanyName": "AWS", "expirationDate": format_timestamp(r.expires_at), "participantType": "Receiver",
            "payloadType": r.kind.payload_type()}},
    });
    OutboxEvent {
        id: envelope["id"].as_str().unwrap_or_default().to_string(),
        partner_id: r.partner_id.clone(),
        catalog: r.catalog,
        detail_type: detail_type.into(),
        resource: arn,
        time: now,
        envelope,
        changes: Vec::new(),
    }
}

/// Creates a referral behind the eligibility gate (ELIG-2, REF-6) and the suppression list (REF-5),
/// committed with `audit` (the entries of whoever referred it, each naming the new referral).
pub async fn create(
    state: &AppState,
    request: ReferralRequest,
    mut audit: Vec<AuditEntry>,
) -> StoreResult<Result<Referral, Refusal>> {
    if let Some(message) = crate::governance::terminated(state, "new referrals").await? {
        return Ok(Err(Refusal::ProgramTerminated(message)));
    }
    let Some(partner) = state.store.get_partner(&request.partner_id).await? else { return Ok(Err(Refusal::PartnerNotFound)) };
    if let Err(report) = crate::app::eligibility::referral_gate(state, &request.partner_id).await? {
        return Ok(Err(match report {
            Some(r) => Refusal::NotEligible(Box::new(r)),
            None => Refusal::PartnerNotFound,
        }));
    }
    let referral = match build(state, &partner, request).await? {
        Ok(r) => r,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let event = created_event(state, &referral, &partner.account_id);
    // Issue 18: every referral is an invitation into an engagement of the operator's.
    let (engagement, operator) = referral_engagement(&referral);
    for entry in &mut audit {
        entry.partner_id.get_or_insert_with(|| referral.partner_id.clone());
        entry.referral_id.get_or_insert_with(|| referral.id.clone());
    }
    let batch = WriteBatch {
        insert_referrals: vec![referral.clone()],
        insert_engagements: vec![engagement],
        add_engagement_members: vec![operator],
        events: vec![event],
        audit,
        ..Default::default()
    };
    state.store.commit(batch).await?;
    Ok(Ok(Referral { version: 1, ..referral }))
}

/// A new PENDING referral with its deadlines, not yet stored; refused when its contact or
/// company is suppressed (REF-5) — whichever path refers it.
pub async fn build(
    state: &AppState,
    partner: &ace_domain::partner::PartnerProfile,
    request: ReferralRequest,
) -> StoreResult<Result<Referral, Refusal>> {
    if let Some(s) = state.store.find_suppression(&request.suppression_keys()).await? {
        return Ok(Err(Refusal::Suppressed(format!(
            "REF-5: this {} asked not to be referred (relayed {})",
            if s.key.starts_with("email:") { "contact" } else { "company" },
            format_timestamp(s.recorded_at)
        ))));
    }
    let now = state.now();
    let tz: chrono_tz::Tz = partner.timezone.parse().unwrap_or(chrono_tz::UTC);
    let holidays = calendar(state, partner.holiday_calendar.as_deref(), now.year()).await?;
    let acceptance_days = acceptance_days(state).await?;
    let ids = ReferralIds { invitation: new_id("engi-", 13), engagement: new_id("eng-", 14) };
    let expires_at = now + TimeDelta::days(acceptance_days);
    let deadline = contact_deadline(now, tz, &holidays, CONTACT_BUSINESS_DAYS);
    Ok(Ok(Referral::pending(request, ids, now, expires_at, deadline)))
}

/// The `Engagement Invitation Created` event of a new referral.
pub fn created_event(state: &AppState, r: &Referral, account_id: &str) -> OutboxEvent {
    invitation_event(state, "Engagement Invitation Created", r, account_id, r.provided_at)
}

/// REF-3, REM-2: revokes a referral. The partner loses access; the opportunity created from
/// it is deleted unless the partner attested it may keep the data (REM-3); an event tells its
/// integrations to delete their copies. `audit` holds the entries of whoever revoked it (none
/// when a rule did), committed with it. `Ok(false)` when another node acted first.
pub async fn revoke(state: &AppState, referral: &Referral, reason: &str, audit: Vec<AuditEntry>) -> StoreResult<bool> {
    let Some(revocation) = revocation(state, referral, reason, audit).await? else { return Ok(false) };
    match state.store.commit(revocation.batch).await {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A revocation as one batch, not yet committed (the integration check commits it with its
/// step), and the id of the `Data Deletion Required` event it emits (none when the partner
/// keeps the opportunity under retention, REM-3).
pub struct RevocationBatch {
    pub batch: WriteBatch,
    pub deletion_event: Option<String>,
}

/// What revoking `referral` writes; `None` when it is no longer open (acted on first, by
/// another node or the partner).
pub async fn revocation(
    state: &AppState,
    referral: &Referral,
    reason: &str,
    audit: Vec<AuditEntry>,
) -> StoreResult<Option<RevocationBatch>> {
    let now = state.now();
    // Decided by the domain: what is kept and what goes (REM-2, REM-3).
    let Ok(Revocation { referral: revoked, keeps_opportunity: keep }) = referral.revoke(now, reason) else { return Ok(None) };
    let mut batch = WriteBatch::default();
    let mut deletion_event = None;
    if let (Some(opportunity), false) = (&referral.opportunity_id, keep) {
        batch.delete_opportunities.push((referral.catalog, opportunity.clone()));
        // Issue 19: its snapshots go with it; the jobs that kept them stop, saying why.
        for mut job in state.store.running_snapshot_jobs(referral.catalog, opportunity).await? {
            job.fail(format!("opportunity {opportunity} was removed with its revoked referral (REM-2)"));
            batch.update_snapshot_jobs.push(job);
        }
    }
    let account = state.store.get_partner(&referral.partner_id).await?.map(|p| p.account_id).unwrap_or_default();
    let detail = json!({
        "catalog": referral.catalog.as_str(), "engagementInvitationId": referral.id, "opportunityId": referral.opportunity_id,
        "reason": reason, "deleteCopies": !keep, "retentionAttested": keep,
    });
    batch.events.push(partner_event_in(
        referral.catalog,
        "Engagement Invitation Revoked",
        state.new_event_id(),
        &referral.partner_id,
        &account,
        detail,
        now,
    ));
    if !keep {
        // REM-2: integrations must delete their copies; ids only, never the data itself.
        let deletion = json!({
            "catalog": referral.catalog.as_str(), "engagementInvitationId": referral.id,
            "opportunityId": referral.opportunity_id, "reason": reason,
        });
        let id = state.new_event_id();
        deletion_event = Some(id.clone());
        batch.events.push(partner_event_in(
            referral.catalog,
            "Data Deletion Required",
            id,
            &referral.partner_id,
            &account,
            deletion,
            now,
        ));
    }
    // REM-2: the customer data is destroyed with its key; REM-3: a retained opportunity stays.
    batch.shred_referrals.push(referral.id.clone());
    // The partner leaves the referral's engagement: it no longer exists for it.
    batch.leave_engagements.push((referral.catalog, referral.engagement_id.clone(), referral.partner_id.clone()));
    let record = json!({
        "deleted": ["referral customer data (crypto-shredded)"],
        "opportunity": referral.opportunity_id, "opportunity_deleted": referral.opportunity_id.is_some() && !keep,
        "reason": reason, "retention": referral.retention.as_ref().map(|r| r.reason),
    });
    let record = AuditEntry::new(now, "system", ace_domain::audit::action::DATA_DELETED, record);
    batch.audit.extend(audit);
    batch.audit.push(record.partner(&referral.partner_id).referral(&referral.id));
    batch.update_referrals.push(revoked);
    Ok(Some(RevocationBatch { batch, deletion_event }))
}

/// Applies what is due on every active referral; returns a line per action taken. Safe on
/// several nodes: each update is conditional on the version read.
pub async fn sweep(state: &AppState) -> StoreResult<Vec<String>> {
    let now = state.now();
    let policy = policy(state).await?;
    let reminder = TimeDelta::hours(reminder_hours(state).await?);
    let horizon = (now + reminder).timestamp_millis();
    let mut done = Vec::new();
    // Several at a time: their writes share commits (and fsyncs) instead of queueing one by one.
    let mut tasks = tokio::task::JoinSet::new();
    let joined = |result: Result<StoreResult<Option<String>>, tokio::task::JoinError>, done: &mut Vec<String>| {
        done.extend(result.map_err(|e| StoreError::Other(format!("sweep task: {e}")))??);
        StoreResult::Ok(())
    };
    for r in state.store.due_referrals(horizon, SWEEP_MAX).await? {
        if tasks.len() >= SWEEP_CONCURRENCY {
            if let Some(result) = tasks.join_next().await {
                joined(result, &mut done)?;
            }
        }
        let state = state.clone();
        tasks.spawn(async move { sweep_one(&state, r, now, policy, reminder, horizon).await });
    }
    while let Some(result) = tasks.join_next().await {
        joined(result, &mut done)?;
    }
    done.sort();
    Ok(done)
}

/// What the sweep does to one listed referral; a line for the report when it did something.
async fn sweep_one(
    state: &AppState,
    r: Referral,
    now: Instant,
    policy: MissedDeadlinePolicy,
    reminder: TimeDelta,
    horizon: i64,
) -> StoreResult<Option<String>> {
    let Some(action) = due_action(&r, now, policy, reminder) else {
        // Listed but nothing to do (a reminder already sent, or a row from before the due
        // index): writing it back stores when it is really next due.
        if ace_domain::referral::sweep_after(&r).is_none_or(|t| t.timestamp_millis() > horizon) {
            let _ = state.store.commit(WriteBatch { update_referrals: vec![r.clone()], ..Default::default() }).await;
        }
        return Ok(None);
    };
    let account = state.store.get_partner(&r.partner_id).await?.map(|p| p.account_id).unwrap_or_default();
    let next = r.after(action, now);
    let event = match action {
        DueAction::Revoke => {
            let revoked = revoke(state, &r, "REF-3: the customer was not contacted within 3 business days", Vec::new()).await?;
            return Ok(revoked.then(|| format!("revoked {} (no contact by {})", r.id, format_timestamp(r.contact_deadline))));
        }
        DueAction::Flag => {
            let detail = json!({"engagementInvitationId": r.id, "contactDeadline": format_timestamp(r.contact_deadline)});
            partner_event_in(
                r.catalog,
                "Referral Contact Deadline Missed",
                state.new_event_id(),
                &r.partner_id,
                &account,
                detail,
                now,
            )
        }
        DueAction::Expire => invitation_event(state, "Engagement Invitation Expired", &r, &account, now),
        DueAction::Remind => {
            let detail = json!({"engagementInvitationId": r.id, "contactDeadline": format_timestamp(r.contact_deadline)});
            partner_event_in(
                r.catalog,
                "Referral Contact Deadline Approaching",
                state.new_event_id(),
                &r.partner_id,
                &account,
                detail,
                now,
            )
        }
    };
    match state.store.commit(WriteBatch { update_referrals: vec![next], events: vec![event], ..Default::default() }).await {
        Ok(_) => Ok(Some(format!("{action:?} {}", r.id).to_lowercase())),
        Err(StoreError::Conflict(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The invitation as the partner sees it: no customer contact, ever.
pub fn invitation_view(r: &Referral, account_id: &str) -> Value {
    let simulated = |group: &str, member: &str| r.simulated.as_ref()?.get(group)?.get(member).cloned();
    // The Sandbox's simulated referral shows the payload's own dates and spend (issue 22).
    let target = simulated("LifeCycle", "TargetCloseDate")
        .unwrap_or_else(|| json!(format!("{}", (r.provided_at + TimeDelta::days(90)).date_naive())));
    let spend = simulated("Project", "ExpectedCustomerSpend").unwrap_or_else(|| json!([]));
    let payload = match r.kind {
        ReferralKind::Opportunity => json!({"OpportunityInvitation": {
            "Customer": {"CompanyName": r.customer.company_name, "WebsiteUrl": r.customer.website, "CountryCode": r.customer.country,
                         "Industry": r.customer.industry.clone().unwrap_or_else(|| "Other".into())},
            "Project": {"Title": r.title.clone().unwrap_or_else(|| format!("{} opportunity", r.customer.company_name)),
                        "BusinessProblem": r.problem.clone().unwrap_or_else(|| "The customer asked for help with its AWS plans.".into()),
                        "TargetCompletionDate": target,
                        "ExpectedCustomerSpend": spend},
            "ReceiverResponsibilities": ["Services Partner"],
            "SenderContacts": [],
        }}),
        ReferralKind::Lead => json!({"LeadInvitation": {
            "Customer": {"CompanyName": r.customer.company_name, "WebsiteUrl": r.customer.website, "CountryCode": r.customer.country},
            "Interaction": {"ContactBusinessTitle": r.contact.title.clone().unwrap_or_else(|| "Not provided".into()),
                            "Usecase": r.problem.clone().unwrap_or_default()},
        }}),
    };
    json!({
        "Id": r.id, "Arn": invitation_arn(r.catalog, &r.id), "Catalog": r.catalog.as_str(), "EngagementId": r.engagement_id,
        "EngagementTitle": r.customer.company_name.chars().take(40).collect::<String>(),
        "InvitationDate": format_timestamp(r.provided_at), "ExpirationDate": format_timestamp(r.expires_at),
        "Status": r.status.as_str(), "PayloadType": r.kind.payload_type(), "Payload": payload,
        "SenderAwsAccountId": "aws", "SenderCompanyName": "AWS", "ParticipantType": "RECEIVER",
        "Receiver": {"Account": {"AwsAccountId": account_id}},
    })
}
