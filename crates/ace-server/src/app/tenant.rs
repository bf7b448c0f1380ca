//! USE-4: what a partner may read of its own, in one catalog. Every read here is scoped by the
//! partner and the catalog, so another partner's record, or another catalog's, is simply not
//! there: the edges answer *not found*, never *forbidden*.

use ace_domain::engagement::{Engagement, PartnerInvitation};
use ace_domain::events::OutboxEvent;
use ace_domain::ids::Catalog;
use ace_domain::listing::OpportunityQuery;
use ace_domain::opportunity::Opportunity;
use ace_domain::referral::Referral;
use ace_domain::snapshot::{Association, SnapshotJob};
use ace_domain::submission::EvidenceRequest;
use ace_domain::webhook::{Webhook, WebhookOwner};
use ace_store::{SolutionRecord, TaskRecord};

use super::AppError;
use crate::AppState;

/// One partner's records in one catalog.
#[derive(Clone, Copy)]
pub struct Tenant<'a> {
    pub state: &'a AppState,
    pub partner_id: &'a str,
    pub catalog: Catalog,
}

impl<'a> Tenant<'a> {
    pub fn new(state: &'a AppState, partner_id: &'a str, catalog: Catalog) -> Tenant<'a> {
        Tenant { state, partner_id, catalog }
    }

    /// The partner's opportunity `id` in this catalog.
    pub async fn opportunity(&self, id: &str) -> Result<Option<Opportunity>, AppError> {
        Ok(self.state.store.get_opportunity(self.partner_id, self.catalog, id).await?)
    }

    /// Issue 25: the partner's opportunity in this catalog that holds CRM `identifier`.
    pub async fn opportunity_identified_as(&self, identifier: &str) -> Result<Option<String>, AppError> {
        Ok(self.state.store.opportunity_identified_as(self.partner_id, self.catalog, identifier).await?)
    }

    /// One page of `ListOpportunities` (the query carries the partner and the catalog: they
    /// must be this tenant's).
    pub async fn opportunities(&self, query: &OpportunityQuery) -> Result<Vec<Opportunity>, AppError> {
        if query.partner_id != self.partner_id || query.catalog != self.catalog {
            return Err(AppError::invalid("a listing of another partner's or catalog's opportunities"));
        }
        Ok(self.state.store.list_opportunities(query).await?)
    }

    pub async fn solutions(&self) -> Result<Vec<SolutionRecord>, AppError> {
        Ok(self.state.store.list_solutions(self.partner_id, self.catalog).await?)
    }

    /// The partner's tasks of every kind, oldest first.
    pub async fn tasks(&self) -> Result<Vec<TaskRecord>, AppError> {
        Ok(self.state.store.list_tasks(self.partner_id, self.catalog).await?)
    }

    pub async fn task(&self, id: &str) -> Result<Option<TaskRecord>, AppError> {
        Ok(self.state.store.get_task(self.partner_id, self.catalog, id).await?)
    }

    pub async fn snapshot_jobs(&self) -> Result<Vec<SnapshotJob>, AppError> {
        Ok(self.state.store.list_snapshot_jobs(self.partner_id, self.catalog).await?)
    }

    /// The engagements the partner is a member of, with each one's last change (ms).
    pub async fn engagements(&self) -> Result<Vec<(Engagement, i64)>, AppError> {
        Ok(self.state.store.list_member_engagements(self.partner_id, self.catalog).await?)
    }

    /// The invitations the partner received (`sent` false) or sent (`sent` true).
    pub async fn invitations(&self, sent: bool) -> Result<Vec<PartnerInvitation>, AppError> {
        Ok(self.state.store.list_partner_invitations(self.partner_id, self.catalog, sent).await?)
    }

    /// The resources the partner associated with engagements.
    pub async fn engagement_resources(&self) -> Result<Vec<Association>, AppError> {
        Ok(self.state.store.list_engagement_resources(self.partner_id, self.catalog).await?)
    }

    /// The partner's referral `id` in this catalog, whatever its status (REF-3: the caller asks
    /// whether the partner may see it yet, or still).
    pub async fn referral(&self, id: &str) -> Result<Option<Referral>, AppError> {
        let referral = self.state.store.get_referral(id).await?;
        Ok(referral.filter(|x| x.partner_id == self.partner_id && x.catalog == self.catalog))
    }

    /// The referrals sent to the partner in this catalog that it may see (REF-3), at most 10,000.
    pub async fn visible_referrals(&self) -> Result<Vec<Referral>, AppError> {
        let all = self.state.store.list_referrals(Some(self.partner_id), 10_000).await?;
        Ok(all.into_iter().filter(|x| x.catalog == self.catalog && x.status.visible_to_partner()).collect())
    }

    /// The engagement invitation `id` the partner sent or received in this catalog.
    pub async fn partner_invitation(&self, id: &str) -> Result<Option<PartnerInvitation>, AppError> {
        let invitation = self.state.store.get_partner_invitation(id).await?;
        Ok(invitation.filter(|i| {
            i.catalog == self.catalog && (i.sender.partner_id == self.partner_id || i.receiver.partner_id == self.partner_id)
        }))
    }

    /// The partner's consent evidence requests in this catalog.
    pub async fn evidence_requests(&self) -> Result<Vec<EvidenceRequest>, AppError> {
        let all = self.state.store.list_evidence_requests(Some(self.partner_id)).await?;
        Ok(all.into_iter().filter(|e| e.catalog == self.catalog).collect())
    }

    pub async fn evidence_request(&self, id: &str) -> Result<Option<EvidenceRequest>, AppError> {
        let request = self.state.store.get_evidence_request(id).await?;
        Ok(request.filter(|e| e.partner_id == self.partner_id && e.catalog == self.catalog))
    }
}

/// A partner's webhook subscriptions (they span catalogs).
pub async fn webhooks(state: &AppState, partner_id: &str) -> Result<Vec<Webhook>, AppError> {
    let owner = WebhookOwner::Partner(partner_id.to_string());
    Ok(state.store.list_webhooks(Some(&owner.key())).await?.into_iter().map(|(h, _)| h).collect())
}

/// The partner's event feed after `after` (every catalog; the partner's own events only).
pub async fn events(state: &AppState, partner_id: &str, after: i64, limit: usize) -> Result<Vec<(i64, OutboxEvent)>, AppError> {
    Ok(state.store.list_partner_events(partner_id, after, limit).await?)
}

/// Where the partner's event `event_id` stands in its feed.
pub async fn event_seq(state: &AppState, partner_id: &str, event_id: &str) -> Result<Option<i64>, AppError> {
    Ok(state.store.event_seq(partner_id, event_id).await?)
}
