//! The integration check (issue 25): the operator's side of the program's published test
//! scenarios, played against a partner's CRM integration in the `Sandbox` catalog, and judged
//! on what the server saw the partner's credentials do. What a scenario is and how a step is
//! judged is `ace_domain::check`'s; this is the use case every edge shares — start, read,
//! list — and the engine that takes the steps.
//!
//! * **Observation, not trust.** While a partner has a run going, each of its signed requests
//!   in the Sandbox is recorded (operation, input, result or error, request id) before it is
//!   answered ([`observe`]); a step passes only on those records.
//! * **One step once.** A run's state is one row changed under its version: the operator's
//!   action of a step commits in the same transaction as the step's end, so two nodes, or a
//!   retry after a crash, never approve twice.
//! * **Resumable.** The engine ([`run_forever`], every second, and at once after an
//!   observation) reads the running runs from the store: a restarted server goes on waiting
//!   where it was. Step timeouts are on the program clock.
//! * **Isolation.** A run acts only on the opportunity its scenario's create bound, in the
//!   Sandbox, of the run's partner; its review entries name the run.

use std::collections::HashSet;
use std::sync::RwLock;
use std::time::Duration;

use serde_json::{json, Value};

use ace_domain::audit::AuditEntry;
use ace_domain::check::{self, Action, CheckRun, Expectation, Observation, Outcome, RunStatus, StepKind, Verdict, OPPORTUNITY};
use ace_domain::ids::Catalog;
use ace_domain::referral::ReferralKind;
use ace_store::{StoreError, WriteBatch};

use super::AppError;
use crate::AppState;

/// What an observation of a webhook delivery the partner's endpoint acknowledged (2xx) is
/// called; its request id is `webhook:` and the event's id.
pub const WEBHOOK_ACKNOWLEDGED: &str = check::WEBHOOK_ACKNOWLEDGED;

/// Observations read per step and pass.
const OBSERVATIONS_PER_PASS: usize = 1000;
/// Runs a list answers at most.
pub const LIST_MAX: usize = 500;

/// The partners with a run going, as this node last read them (refreshed every second), so a
/// request asks a set, not the store, whether it is watched.
#[derive(Default)]
pub struct Watch {
    partners: RwLock<HashSet<String>>,
    nudge: tokio::sync::Notify,
}

impl Watch {
    pub fn watching(&self, partner_id: &str) -> bool {
        self.partners.read().map(|p| p.contains(partner_id)).unwrap_or(false)
    }

    fn replace(&self, partners: HashSet<String>) {
        if let Ok(mut p) = self.partners.write() {
            *p = partners;
        }
    }

    fn add(&self, partner_id: &str) {
        if let Ok(mut p) = self.partners.write() {
            p.insert(partner_id.to_string());
        }
    }

    fn remove(&self, partner_id: &str) {
        if let Ok(mut p) = self.partners.write() {
            p.remove(partner_id);
        }
    }
}

/// What a run is asked to do.
pub struct NewRun {
    pub partner_id: String,
    /// Scenario names; every scenario when empty.
    pub scenarios: Vec<String>,
    /// How long each expectation may take (10 minutes when absent).
    pub step_timeout_ms: Option<i64>,
}

/// Starts a run for a partner; `audit` (the edge's entry) commits with it. One run at a time
/// per partner: what its credentials do must belong to one run.
pub async fn start(state: &AppState, input: NewRun, audit: AuditEntry) -> Result<CheckRun, AppError> {
    let partner = state
        .store
        .get_partner(&input.partner_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("partner {} not found", input.partner_id)))?;
    // REM-1: a partner removed from the whole program has no credentials to check; one
    // removed from referrals still integrates its own opportunities.
    if partner.removal.as_ref().is_some_and(|r| r.scope == ace_domain::partner::RemovalScope::All) {
        return Err(AppError::Invalid(format!("partner {} has been removed from the program", partner.id)));
    }
    let scenarios = check::choose(&input.scenarios).map_err(AppError::Invalid)?;
    let step_timeout_ms =
        check::step_timeout(input.step_timeout_ms.unwrap_or(check::STEP_TIMEOUT_DEFAULT_MS)).map_err(AppError::Invalid)?;
    if let Some(going) =
        state.store.list_check_runs(Some(&partner.id), 1).await?.into_iter().find(|r| r.status == RunStatus::Running)
    {
        return Err(AppError::conflict(
            "check-running",
            format!("partner {} already has a check running: {}", partner.id, going.id),
        ));
    }
    let now = state.now().timestamp_millis();
    let seen_before = state.store.last_check_observation(&partner.id).await?;
    let id = format!("check-{}", uuid::Uuid::new_v4().simple());
    let run = CheckRun::new(id, partner.id.clone(), scenarios, step_timeout_ms, now, seen_before);
    let audit = audit.partner(&partner.id).detail_with("check", &run.id);
    let batch = WriteBatch { insert_check_runs: vec![run.clone()], audit: vec![audit], ..Default::default() };
    state.store.commit(batch).await.map_err(|e| match e {
        // Another start won the race (the store keeps one running run per partner).
        StoreError::Conflict(_) => {
            AppError::conflict("check-running", format!("partner {} already has a check running", partner.id))
        }
        other => other.into(),
    })?;
    state.checks.add(&partner.id);
    state.checks.nudge.notify_one();
    Ok(run)
}

/// A run as its report: every step so far with its outcome, message and request ids.
pub fn report(run: &CheckRun) -> Value {
    let scenarios: Vec<Value> = run
        .scenarios
        .iter()
        .filter_map(|name| check::scenario(name))
        .enumerate()
        .map(|(i, s)| {
            let steps: Vec<Value> = s
                .steps
                .iter()
                .enumerate()
                .map(|(n, step)| {
                    let done = run.results.iter().find(|r| r.scenario == s.name && r.step == n);
                    let waiting = run.status == RunStatus::Running && i == run.scenario && n == run.step;
                    let status = match (done, waiting) {
                        (Some(r), _) => outcome_name(r.outcome),
                        (None, true) => "Waiting",
                        (None, false) => "Pending",
                    };
                    let mut v = json!({"step": n + 1, "title": step.title, "side": side(step), "status": status});
                    if let Some(r) = done {
                        v["message"] = json!(r.message);
                        v["requestIds"] = json!(r.evidence);
                        v["at"] = json!(ace_domain::time::format_timestamp(ace_domain::time::from_millis(r.at_ms)));
                    }
                    v
                })
                .collect();
            let results: Vec<_> = run.results.iter().filter(|r| r.scenario == s.name).collect();
            let status = if results.len() < s.steps.len() {
                if run.status == RunStatus::Running && i >= run.scenario {
                    "Running"
                } else {
                    "Pending"
                }
            } else if results.iter().all(|r| r.outcome == Outcome::Passed) {
                "Passed"
            } else {
                "Failed"
            };
            json!({"name": s.name, "title": s.title, "rules": s.rules, "status": status, "steps": steps})
        })
        .collect();
    json!({
        "id": run.id,
        "partnerId": run.partner_id,
        "catalog": Catalog::Sandbox.as_str(),
        "status": run.status.as_str(),
        "stepTimeoutSeconds": run.step_timeout_ms / 1000,
        "createdAt": ace_domain::time::format_timestamp(ace_domain::time::from_millis(run.created_ms)),
        "updatedAt": ace_domain::time::format_timestamp(ace_domain::time::from_millis(run.updated_ms)),
        "passed": run.results.iter().filter(|r| r.outcome == Outcome::Passed).count(),
        "failed": run.results.iter().filter(|r| matches!(r.outcome, Outcome::Failed | Outcome::TimedOut)).count(),
        "scenarios": scenarios,
    })
}

/// The report as the partner API answers it: [`report`] with the model's PascalCase members
/// (the portal and the console render this one).
pub fn partner_report(run: &CheckRun) -> Value {
    pascal(report(run))
}

/// camelCase members as PascalCase ones, all the way down.
fn pascal(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let mut chars = k.chars();
                    let key = chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default();
                    (key, pascal(v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(pascal).collect()),
        other => other,
    }
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "Passed",
        Outcome::Failed => "Failed",
        Outcome::TimedOut => "TimedOut",
        Outcome::Skipped => "Skipped",
    }
}

fn side(step: &check::Step) -> &'static str {
    match step.kind {
        StepKind::Act(_) => "AWS",
        StepKind::Expect(_) => "Partner",
    }
}

/// A run, for the operator: any partner's.
pub async fn get(state: &AppState, id: &str) -> Result<CheckRun, AppError> {
    state.store.get_check_run(id).await?.ok_or_else(|| AppError::NotFound(format!("check run {id} not found")))
}

/// A run, for a partner: its own only (USE-4: another's is not found, not forbidden).
pub async fn get_own(state: &AppState, partner_id: &str, id: &str) -> Result<CheckRun, AppError> {
    match state.store.get_check_run(id).await? {
        Some(run) if run.partner_id == partner_id => Ok(run),
        _ => Err(AppError::NotFound(format!("check run {id} not found"))),
    }
}

pub async fn list(state: &AppState, partner_id: Option<&str>) -> Result<Vec<CheckRun>, AppError> {
    Ok(state.store.list_check_runs(partner_id, LIST_MAX).await?)
}

/// Records what a watched partner's signed request did in the Sandbox (called before it is
/// answered). A failure to record is logged: the request itself is not refused for it.
pub async fn observe(
    state: &AppState,
    partner_id: &str,
    request_id: &str,
    operation: &str,
    input: Value,
    error: Option<String>,
    output: Value,
) {
    let o = Observation {
        seq: 0,
        request_id: request_id.to_string(),
        at_ms: state.now().timestamp_millis(),
        operation: operation.to_string(),
        error,
        input,
        output,
    };
    match state.store.observe_for_check(partner_id, &o).await {
        Ok(Some(_)) => state.checks.nudge.notify_one(),
        // The run ended meanwhile: this node learns it at its next pass.
        Ok(None) => state.checks.remove(partner_id),
        Err(e) => tracing::error!(error = %e, partner = partner_id, "integration check: could not record an observation"),
    }
}

/// Takes every step of `run` that can be taken now; returns whether anything changed.
pub async fn advance(state: &AppState, mut run: CheckRun) -> Result<bool, AppError> {
    let mut changed = false;
    while run.status == RunStatus::Running {
        let now = state.now().timestamp_millis();
        let Some((_, _, step)) = run.current() else {
            // A scenario this server does not know (a run started by another version): the
            // run cannot go on, and must not hold the partner's one run forever.
            let mut next = run.clone();
            next.stop("this server does not know the scenario", now);
            run = save(state, &run, next).await?;
            changed = true;
            continue;
        };
        match step.kind {
            StepKind::Act(action) if action.review().is_none() => {
                // The operator's side acting other than by a review: each commits with the step.
                let last = state.store.last_check_observation(&run.partner_id).await?;
                let taken = match action {
                    Action::Revoke => revoke_referral(state, &run, now, last).await?,
                    Action::AddNextSteps { next_steps } => add_next_steps(state, &run, next_steps, now, last).await?,
                    _ => send_referral(state, &run, action, now, last).await?,
                };
                match taken {
                    Ok(next) => run = next,
                    Err(message) => run = save_end(state, run, Outcome::Failed, message, Vec::new(), now, last).await?,
                }
                changed = true;
            }
            StepKind::Act(action) => {
                let last = state.store.last_check_observation(&run.partner_id).await?;
                let Some(current) = bound_opportunity(state, &run).await? else {
                    run =
                        save_end(state, run, Outcome::Failed, "the scenario's opportunity is gone".into(), Vec::new(), now, last)
                            .await?;
                    changed = true;
                    continue;
                };
                // (Referrals, revocations and next steps are taken by the arm above.)
                let Some(review) = action.review() else { break };
                let mut next = run.clone();
                next.finish_step(Outcome::Passed, format!("AWS {}", review.done), Vec::new(), now, last);
                // What a read of the change must show, and the event the change emits.
                let event_id = state.new_event_id();
                if let Some(to) = ace_domain::opportunity::review_transition(current.review_status(), review.action) {
                    next.bound.insert(check::REVIEW_STATUS.into(), to.as_str().into());
                }
                next.bound.insert(check::CHANGE_EVENT.into(), event_id.clone());
                if next.current().is_some_and(|(_, _, s)| matches!(s.kind, StepKind::Expect(Expectation::Fixes { .. }))) {
                    // What the partner must change is judged against the opportunity as it
                    // stood when AWS asked (the review changes none of the partner's fields).
                    next.before = Some(Value::Object(current.document.clone()));
                }
                let reviewer = format!("integration check {}", run.id);
                let entry = operator_entry(state, &run, None);
                let batch = WriteBatch { update_check_runs: vec![with_version(&next, run.version)], ..Default::default() };
                let decision = super::review::Decision {
                    action: review.action,
                    comment: review.comment,
                    reason: review.reason.map(|r| r.as_str()),
                    event_id,
                };
                match super::review::decide_in(state, &reviewer, current.clone(), decision, entry, batch).await {
                    Ok(_) => {
                        next.version = run.version + 1;
                        run = next;
                    }
                    Err(AppError::Conflict { code: "invalid-transition", message } | AppError::Invalid(message)) => {
                        let message = format!(
                            "AWS could not act: {message} (the opportunity is {}); the integration's earlier steps left it there",
                            current.review_status().as_str()
                        );
                        run = save_end(state, run, Outcome::Failed, message, Vec::new(), now, last).await?;
                    }
                    // Another node took the step, or the partner changed the opportunity meanwhile: read again.
                    Err(AppError::Conflict { .. }) => return Ok(changed),
                    Err(e) => return Err(e),
                }
                changed = true;
            }
            StepKind::Expect(expectation) => {
                // Everything seen since the step began, a page at a time in order: each judge
                // takes the first observation that decides it, so a page that decides nothing
                // hands over to the next. An expectation that weighs an observation against later
                // ones is judged instead on what matters of all of them at once
                // (`check::keep_for_judging`), at a moment a second back, so that an observation
                // recorded while these were read cannot fall between.
                let whole = check::judged_whole(expectation);
                let mut last = run.seen_before_step;
                let mut kept: Vec<Observation> = Vec::new();
                let verdict = loop {
                    let page = state.store.check_observations(&run.partner_id, last, OBSERVATIONS_PER_PASS).await?;
                    last = page.last().map_or(last, |o| o.seq);
                    let full = page.len() == OBSERVATIONS_PER_PASS;
                    if whole {
                        for o in page {
                            if check::keep_for_judging(expectation, &run.bound, &kept, &o) {
                                kept.push(o);
                            }
                        }
                        if full {
                            continue;
                        }
                        break check::judge_at(expectation, &run.bound, run.before.as_ref(), &kept, now - 1_000);
                    }
                    let verdict = check::judge_at(expectation, &run.bound, run.before.as_ref(), &page, now);
                    if verdict != Verdict::Open || !full {
                        break verdict;
                    }
                };
                // What is met once a quiet time has passed is not timed out while it passes.
                let settling = whole
                    && matches!(
                        check::judge_at(expectation, &run.bound, run.before.as_ref(), &kept, now + check::RECONCILE_QUIET_MS),
                        Verdict::Met { .. }
                    );
                match verdict {
                    Verdict::Met { binds, evidence, seq } => {
                        let mut next = run.clone();
                        next.bound.extend(binds);
                        bind_accepted_referral(state, &mut next).await?;
                        let message = if evidence.is_empty() { "seen with the step before" } else { "seen" };
                        next.finish_step(Outcome::Passed, message.into(), evidence, now, seq.max(run.seen_before_step));
                        run = save(state, &run, next).await?;
                    }
                    Verdict::Broken { message, evidence, seq } => {
                        let seq = seq.max(run.seen_before_step);
                        run = save_end(state, run, Outcome::Failed, message, evidence, now, seq).await?;
                    }
                    Verdict::Open if now - run.step_started_ms >= run.step_timeout_ms && !settling => {
                        let message = check::timed_out(expectation, run.step_timeout_ms);
                        run = save_end(state, run, Outcome::TimedOut, message, Vec::new(), now, last).await?;
                    }
                    Verdict::Open => break,
                }
                changed = true;
            }
        }
    }
    if changed && run.status != RunStatus::Running {
        state.checks.remove(&run.partner_id);
    }
    Ok(changed)
}

/// Stops a run before its end (the operator's cancel); `audit` commits with it. A run that
/// has ended is answered as it is.
pub async fn cancel(state: &AppState, id: &str, audit: AuditEntry) -> Result<CheckRun, AppError> {
    let run = get(state, id).await?;
    if run.status != RunStatus::Running {
        return Ok(run);
    }
    let mut next = run.clone();
    next.stop("cancelled by the operator", state.now().timestamp_millis());
    let audit = audit.partner(&run.partner_id).detail_with("check", &run.id);
    state
        .store
        .commit(WriteBatch {
            update_check_runs: vec![with_version(&next, run.version)],
            audit: vec![audit],
            ..Default::default()
        })
        .await?;
    state.checks.remove(&run.partner_id);
    next.version = run.version + 1;
    Ok(next)
}

/// The run at `version` (what the store must still hold for the save to apply).
fn with_version(run: &CheckRun, version: i64) -> CheckRun {
    CheckRun { version, ..run.clone() }
}

async fn save(state: &AppState, read: &CheckRun, mut next: CheckRun) -> Result<CheckRun, AppError> {
    next.version = read.version;
    state.store.commit(WriteBatch { update_check_runs: vec![next.clone()], ..Default::default() }).await.map_err(
        |e| match e {
            StoreError::Conflict(m) => AppError::conflict("conflict", m),
            other => other.into(),
        },
    )?;
    next.version += 1;
    Ok(next)
}

#[allow(clippy::too_many_arguments)]
async fn save_end(
    state: &AppState,
    run: CheckRun,
    outcome: Outcome,
    message: String,
    evidence: Vec<String>,
    now: i64,
    last_seq: i64,
) -> Result<CheckRun, AppError> {
    let mut next = run.clone();
    next.finish_step(outcome, message, evidence, now, last_seq);
    save(state, &run, next).await
}

/// REF-1: an opportunity referral to the run's partner in the Sandbox, as the Sandbox
/// simulator sends one (no eligibility gate: it is the partner's own test), committed with the
/// step's end. `Err` says why it could not be sent (the suppression list, REF-5).
async fn send_referral(
    state: &AppState,
    run: &CheckRun,
    action: Action,
    now: i64,
    last: i64,
) -> Result<Result<CheckRun, String>, AppError> {
    let Some(partner) = state.store.get_partner(&run.partner_id).await? else {
        return Ok(Err(format!("AWS could not refer: partner {} is gone", run.partner_id)));
    };
    let Some(request) = action.referral(&partner.id, &run.id) else { return Ok(Err("not a referral".into())) };
    let kind = request.kind;
    let referral = match crate::referrals::build(state, &partner, request).await? {
        Ok(referral) => referral,
        Err(crate::referrals::Refusal::Suppressed(m)) => return Ok(Err(format!("AWS could not refer: {m}"))),
        Err(_) => return Ok(Err("AWS could not refer".into())),
    };
    let mut next = run.clone();
    let what = if kind == ReferralKind::Lead { "a lead" } else { "an opportunity" };
    next.finish_step(Outcome::Passed, format!("AWS referred {what}: invitation {}", referral.id), Vec::new(), now, last);
    next.bound.insert(check::REFERRAL.into(), referral.id.clone());
    next.bound.insert(check::ENGAGEMENT.into(), referral.engagement_id.clone());
    let event = crate::referrals::created_event(state, &referral, &partner.account_id);
    let (engagement, operator) = ace_domain::engagement::referral_engagement(&referral);
    let entry = operator_entry(state, run, Some(("referral", &referral.id))).partner(&partner.id);
    let batch = WriteBatch {
        insert_engagements: vec![engagement],
        add_engagement_members: vec![operator],
        insert_referrals: vec![referral],
        events: vec![event],
        audit: vec![entry],
        ..Default::default()
    };
    Ok(Ok(commit_with_step(state, batch, run, next).await?))
}

/// Commits `batch` with the run moved on to `next`, under the version it was read at: a step of
/// the operator's side is taken once, whatever the node.
async fn commit_with_step(
    state: &AppState,
    mut batch: WriteBatch,
    run: &CheckRun,
    mut next: CheckRun,
) -> Result<CheckRun, AppError> {
    batch.update_check_runs.push(with_version(&next, run.version));
    state.store.commit(batch).await.map_err(|e| match e {
        StoreError::Conflict(m) => AppError::conflict("conflict", m),
        other => other.into(),
    })?;
    next.version = run.version + 1;
    Ok(next)
}

/// The audit entry of a step the operator's side takes in `run`, with what else it names.
fn operator_entry(state: &AppState, run: &CheckRun, also: Option<(&str, &str)>) -> AuditEntry {
    let mut detail = json!({"check": run.id, "step": run.step + 1});
    if let Some((name, value)) = also {
        detail[name] = json!(value);
    }
    AuditEntry::new(state.now(), format!("integration check {}", run.id), ace_domain::audit::action::OPERATOR, detail)
}

/// AWS's next steps added to the scenario's opportunity, committed with the step's end. `Err`
/// says why they could not be (the domain's refusal, or the opportunity gone).
async fn add_next_steps(
    state: &AppState,
    run: &CheckRun,
    next_steps: &str,
    now: i64,
    last: i64,
) -> Result<Result<CheckRun, String>, AppError> {
    let Some(current) = bound_opportunity(state, run).await? else {
        return Ok(Err("the scenario's opportunity is gone".into()));
    };
    let mut next = run.clone();
    next.finish_step(Outcome::Passed, "AWS added its next steps".into(), Vec::new(), now, last);
    let event_id = state.new_event_id();
    next.bound.insert(check::AWS_NEXT_STEPS.into(), next_steps.into());
    next.bound.insert(check::CHANGE_EVENT.into(), event_id.clone());
    let batch = WriteBatch { update_check_runs: vec![with_version(&next, run.version)], ..Default::default() };
    let entry = operator_entry(state, run, None);
    match super::review::add_next_steps_in(state, current, next_steps, event_id, entry, batch).await {
        Ok(_) => {
            next.version = run.version + 1;
            Ok(Ok(next))
        }
        Err(AppError::Invalid(message)) => Ok(Err(format!("AWS could not add its next steps: {message}"))),
        // Another node took the step, or the partner changed the opportunity meanwhile: the
        // next pass reads again.
        Err(e) => Err(e),
    }
}

/// REM-2: the scenario's referral revoked as the operator revokes one (its customer data
/// destroyed, its opportunity gone from the partner, the partner told to delete its copies),
/// committed with the step's end. `Err` says why it could not be.
async fn revoke_referral(state: &AppState, run: &CheckRun, now: i64, last: i64) -> Result<Result<CheckRun, String>, AppError> {
    let Some(id) = run.bound.get(check::REFERRAL) else { return Ok(Err("the scenario's referral was never sent".into())) };
    let Some(referral) = state.store.get_referral(id).await? else {
        return Ok(Err(format!("AWS could not revoke: referral {id} is gone")));
    };
    let entry = operator_entry(state, run, Some(("referral", id))).partner(&run.partner_id);
    let reason = format!("revoked by integration check {}", run.id);
    let Some(revocation) = crate::referrals::revocation(state, &referral, &reason, vec![entry]).await? else {
        return Ok(Err(format!(
            "AWS could not revoke: the referral is {}; the integration's earlier steps left it there",
            referral.status.as_str()
        )));
    };
    let mut next = run.clone();
    next.finish_step(Outcome::Passed, "AWS revoked the referral".into(), Vec::new(), now, last);
    match &revocation.deletion_event {
        Some(event) => next.bound.insert(check::CHANGE_EVENT.into(), event.clone()),
        None => next.bound.insert(check::RETAINED.into(), "true".into()),
    };
    Ok(Ok(commit_with_step(state, revocation.batch, run, next).await?))
}

/// Once the scenario's referral is accepted: its opportunity and REF-3 contact deadline.
async fn bind_accepted_referral(state: &AppState, run: &mut CheckRun) -> Result<(), AppError> {
    let Some(id) = run.bound.get(check::REFERRAL).cloned() else { return Ok(()) };
    if run.bound.contains_key(check::CONTACT_DEADLINE) {
        return Ok(());
    }
    let Some(referral) = state.store.get_referral(&id).await? else { return Ok(()) };
    if referral.accepted_at.is_none() {
        return Ok(());
    }
    if let Some(opportunity) = &referral.opportunity_id {
        run.bound.insert(OPPORTUNITY.into(), opportunity.clone());
    }
    run.bound.insert(check::CONTACT_DEADLINE.into(), referral.contact_deadline.timestamp_millis().to_string());
    Ok(())
}

/// The scenario's opportunity, if it is still the run's partner's, in the Sandbox.
async fn bound_opportunity(state: &AppState, run: &CheckRun) -> Result<Option<ace_domain::opportunity::Opportunity>, AppError> {
    let Some(id) = run.bound.get(OPPORTUNITY) else { return Ok(None) };
    let o = state.store.get_opportunity(&run.partner_id, Catalog::Sandbox, id).await?;
    Ok(o.filter(|o| o.catalog == Catalog::Sandbox && o.partner_id == run.partner_id))
}

/// One pass over every running run; returns how many changed.
pub async fn advance_all(state: &AppState) -> Result<usize, AppError> {
    let runs = state.store.running_check_runs().await?;
    state.checks.replace(runs.iter().map(|r| r.partner_id.clone()).collect());
    let mut changed = 0;
    for run in runs {
        let id = run.id.clone();
        match advance(state, run).await {
            Ok(true) => changed += 1,
            Ok(false) => {}
            Err(AppError::Conflict { .. }) => {}
            Err(e) => tracing::warn!(error = ?e, run = %id, "integration check: a step could not be taken"),
        }
    }
    Ok(changed)
}

/// The engine `ace serve` runs: every second, and at once when a watched request was seen.
pub async fn run_forever(state: AppState, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        if let Err(e) = advance_all(&state).await {
            tracing::warn!(error = ?e, "integration checks: a pass failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = state.checks.nudge.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}
