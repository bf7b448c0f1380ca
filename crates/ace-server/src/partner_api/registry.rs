//! The partner API's operation registry: every operation this server serves — the Selling
//! API's and this project's `AcePartner` extensions — is declared here once, as one line:
//!
//! ```text
//! <service> <WireName> <Read|Write> [@ <own rate per second>] => <handler> [, <subject>];
//! ```
//!
//! and everything else derives from that line: the `Operation` enum the portal calls through,
//! the target an `X-Amz-Target` names, the model its input is validated against (and whether
//! that input carries a `Catalog`), its quota class (USE-5), whether its success is audited as a
//! `partner.write`, whether a not-found answer counts as a probe (USE-2), and dispatch to its
//! handler. Adding an operation is one line here and one handler; an operation of the Selling
//! API model with no line here answers `UnknownOperationException` naming it.

use std::sync::OnceLock;

use ace_domain::model::Model;
use ace_domain::quota::OperationClass;

use super::{
    bulk_jobs, checks, customer_accounts, engagements, extensions, feed, invitations, opportunities, opportunity_search, program,
    referral_obligations, snapshots, solutions, tags, tasks,
};
use super::{ApiResult, Request};

/// The API an operation belongs to: its `X-Amz-Target` prefix and the model it is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `AWSPartnerCentralSelling.*`, the published Selling API (`reference/`).
    Selling,
    /// `AcePartner.*`, this project's extensions (`models/ace-partner`).
    AcePartner,
}

impl Service {
    pub const fn target_prefix(self) -> &'static str {
        match self {
            Service::Selling => "AWSPartnerCentralSelling.",
            Service::AcePartner => "AcePartner.",
        }
    }

    pub fn model(self) -> &'static Model {
        match self {
            Service::Selling => Model::get(),
            Service::AcePartner => Model::ace_partner(),
        }
    }
}

/// What an operation's identifiers name, for USE-2's probe detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The partner's own records: an unknown id is how a scanner looks, so not-found counts.
    Records,
    /// The program's own documents (terms, support contact): not published yet is no probe.
    ProgramDocument,
}

/// One registry line.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    pub service: Service,
    pub class: OperationClass,
    /// USE-5: a per-second rate Partner Central documents for this operation alone.
    pub own_rate: Option<u32>,
    pub subject: Subject,
}

macro_rules! registry {
    (@subject) => { Subject::Records };
    (@subject $subject:ident) => { Subject::$subject };
    (@rate) => { None };
    (@rate $rate:literal) => { Some($rate) };
    ($( $service:ident $op:ident $class:ident $(@ $rate:literal)? => $handler:path $(, $subject:ident)? ; )*) => {
        /// The operations this server serves, named exactly as their API names them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Operation { $( $op, )* }

        /// Every registry line, in the order written.
        const SPECS: &[Spec] = &[ $( Spec {
            name: stringify!($op),
            service: Service::$service,
            class: OperationClass::$class,
            own_rate: registry!(@rate $($rate)?),
            subject: registry!(@subject $($subject)?),
        }, )* ];

        impl Operation {
            pub const ALL: &'static [Operation] = &[ $( Operation::$op, )* ];
        }

        /// Runs the operation's handler.
        pub(super) async fn dispatch(request: Request) -> ApiResult {
            match request.operation { $( Operation::$op => $handler(request).await, )* }
        }
    };
}

registry! {
    Selling CreateOpportunity Write => opportunities::create;
    Selling GetOpportunity Read => opportunities::get;
    Selling UpdateOpportunity Write => opportunities::update;
    Selling ListOpportunities Read => opportunities::list;
    Selling SearchOpportunities Read => opportunity_search::search;
    Selling StartOpportunityBulkJob Write => bulk_jobs::start;
    Selling ListOpportunityBulkJobs Read => bulk_jobs::list;
    Selling ListOpportunityBulkJobResults Read => bulk_jobs::results;
    Selling GetOpportunityBulkJobReportUrl Read => bulk_jobs::report_url;
    Selling AssociateOpportunity Write => opportunities::associate;
    Selling DisassociateOpportunity Write => opportunities::disassociate;
    Selling AssignOpportunity Write => opportunities::assign;
    Selling SubmitOpportunity Write => opportunities::submit;
    Selling StartEngagementFromOpportunityTask Write => tasks::start_from_opportunity;
    Selling ListEngagementFromOpportunityTasks Read => tasks::list_from_opportunity;
    Selling GetAwsOpportunitySummary Read => opportunities::get_aws_summary;
    Selling ListSolutions Read => solutions::list;
    Selling TagResource Write => tags::tag;
    Selling UntagResource Write => tags::untag;
    Selling ListTagsForResource Read => tags::list;
    Selling CreateEngagement Write @ 15 => engagements::create;
    Selling GetEngagement Read => engagements::get;
    Selling ListEngagements Read => engagements::list;
    Selling ListEngagementMembers Read => engagements::list_members;
    Selling SearchEngagements Read => engagements::search;
    Selling ListEngagementGroups Read => engagements::list_groups;
    Selling CreateEngagementContext Write => engagements::create_context;
    Selling UpdateEngagementContext Write => engagements::update_context;
    Selling CreateEngagementInvitation Write => engagements::create_invitation;
    Selling StartOpportunityFromEngagementTask Write => engagements::start_opportunity_task;
    Selling ListOpportunityFromEngagementTasks Read => engagements::list_opportunity_tasks;
    Selling StartProspectingFromEngagementTask Write @ 2 => engagements::start_prospecting_task;
    Selling GetProspectingFromEngagementTask Read @ 100 => engagements::get_prospecting_task;
    Selling ListProspectingFromEngagementTasks Read @ 50 => engagements::list_prospecting_tasks;
    Selling ListEngagementInvitations Read => invitations::list;
    Selling GetEngagementInvitation Read => invitations::get;
    Selling AcceptEngagementInvitation Write => invitations::accept;
    Selling RejectEngagementInvitation Write => invitations::reject;
    Selling StartEngagementByAcceptingInvitationTask Write => invitations::start_by_accepting;
    Selling ListEngagementByAcceptingInvitationTasks Read => invitations::list_accept_tasks;
    Selling CreateResourceSnapshot Write => snapshots::create_snapshot;
    Selling GetResourceSnapshot Read => snapshots::get_snapshot;
    Selling ListResourceSnapshots Read => snapshots::list_snapshots;
    Selling CreateResourceSnapshotJob Write => snapshots::create_job;
    Selling StartResourceSnapshotJob Write => snapshots::start_job;
    Selling StopResourceSnapshotJob Write => snapshots::stop_job;
    Selling GetResourceSnapshotJob Read => snapshots::get_job;
    Selling ListResourceSnapshotJobs Read => snapshots::list_jobs;
    Selling DeleteResourceSnapshotJob Write => snapshots::delete_job;
    Selling GetSellingSystemSettings Read => snapshots::get_settings;
    Selling PutSellingSystemSettings Write => snapshots::put_settings;
    Selling ListEngagementResourceAssociations Read => snapshots::list_associations;
    Selling CreateCustomerAccount Write => customer_accounts::create;
    Selling GetCustomerAccount Read => customer_accounts::get;
    Selling UpdateCustomerAccount Write => customer_accounts::update;
    Selling DeleteCustomerAccount Write => customer_accounts::delete;
    Selling SearchCustomerAccounts Read => customer_accounts::search;
    Selling GetCustomerAccountStatistics Read => customer_accounts::statistics;
    Selling StartCustomerAccountBulkJob Write => bulk_jobs::start_customer_accounts;
    Selling GetCustomerAccountBulkJob Read => bulk_jobs::get_customer_accounts;
    Selling ListCustomerAccountBulkJobs Read => bulk_jobs::list_customer_accounts;
    Selling ListCustomerAccountBulkJobResults Read => bulk_jobs::results_customer_accounts;
    Selling GetCustomerAccountBulkJobReportUrl Read => bulk_jobs::report_url_customer_accounts;
    AcePartner PutSubmissionAttestation Write => extensions::put_attestation;
    AcePartner GetSubmissionAttestation Read => extensions::get_attestation;
    AcePartner ListConsentEvidenceRequests Read => extensions::list_evidence_requests;
    AcePartner RespondToConsentEvidenceRequest Write => extensions::respond_to_evidence_request;
    AcePartner GetReferralEligibility Read => extensions::get_referral_eligibility;
    AcePartner RecordReferralContact Write => referral_obligations::record_contact;
    AcePartner GetReferralObligations Read => referral_obligations::get_obligations;
    AcePartner AttestRetention Write => referral_obligations::attest_retention;
    AcePartner GetOutreachTemplate Read => referral_obligations::outreach;
    AcePartner RelayOptOut Write => referral_obligations::relay_opt_out;
    AcePartner PutWebhook Write => feed::put_webhook;
    AcePartner ListWebhooks Read => feed::list_webhooks;
    AcePartner DeleteWebhook Write => feed::delete_webhook;
    AcePartner ListEvents Read => feed::list_events;
    AcePartner GetCurrentTerms Read => program::get_current_terms, ProgramDocument;
    AcePartner AcceptTerms Write => program::accept_terms, ProgramDocument;
    AcePartner GetSupportContact Read => program::get_support_contact, ProgramDocument;
    AcePartner StartIntegrationCheck Write => checks::start;
    AcePartner GetIntegrationCheck Read => checks::get;
    AcePartner ListIntegrationChecks Read => checks::list;
}

impl Operation {
    /// The operation's registry line.
    pub fn spec(self) -> &'static Spec {
        &SPECS[self as usize]
    }

    /// The wire name (`CreateOpportunity`), without the target prefix.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    pub fn service(self) -> Service {
        self.spec().service
    }

    pub fn class(self) -> OperationClass {
        self.spec().class
    }

    /// What a call draws on for USE-5: its class, or the rate Partner Central documents for it.
    pub fn meter(self) -> ace_domain::quota::Meter {
        match self.spec().own_rate {
            Some(per_second) => ace_domain::quota::Meter::Operation { name: self.name(), class: self.class(), per_second },
            None => ace_domain::quota::Meter::Class(self.class()),
        }
    }

    pub fn is_extension(self) -> bool {
        self.service() == Service::AcePartner
    }

    /// The model the operation's input is validated against.
    pub fn model(self) -> &'static Model {
        self.service().model()
    }

    /// The operation an `X-Amz-Target` names, if this server serves it.
    pub fn from_target(target: &str) -> Option<Operation> {
        Operation::ALL.iter().copied().find(|o| target.strip_prefix(o.service().target_prefix()) == Some(o.name()))
    }

    /// The operation with wire name `name` (`GetOpportunity`), if this server serves it.
    pub fn named(name: &str) -> Option<Operation> {
        Operation::ALL.iter().copied().find(|o| o.name() == name)
    }

    /// Whether the operation acts in one catalog: its input requires `Catalog` (read from the
    /// model). The Tag operations carry a resource ARN instead, the partner's own settings
    /// (eligibility, webhooks, terms) are in no catalog, and `ListEvents` only filters by one.
    pub fn has_catalog(self) -> bool {
        static HAS_CATALOG: OnceLock<Vec<bool>> = OnceLock::new();
        HAS_CATALOG.get_or_init(|| {
            Operation::ALL
                .iter()
                .map(|o| {
                    let model = o.model();
                    model.operation_input(o.name()).is_some_and(|shape| model.is_required(shape, "Catalog"))
                })
                .collect()
        })[self as usize]
    }

    /// Operations of the published Selling API model that this server does not serve yet.
    pub fn unserved_selling_operations() -> Vec<&'static str> {
        Model::get()
            .operation_names()
            .filter(|name| !Operation::ALL.iter().any(|o| o.service() == Service::Selling && o.name() == *name))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_operation_is_in_its_model_with_an_input_shape() {
        for op in Operation::ALL {
            assert!(op.model().has_operation(op.name()), "{} is not in the {:?} model", op.name(), op.service());
            assert!(op.model().operation_input(op.name()).is_some(), "{} has no input shape", op.name());
            assert_eq!(Operation::from_target(&format!("{}{}", op.service().target_prefix(), op.name())), Some(*op));
        }
    }

    #[test]
    fn a_name_under_the_other_prefix_is_not_an_operation() {
        assert_eq!(Operation::from_target("AcePartner.CreateOpportunity"), None);
        assert_eq!(Operation::from_target("AWSPartnerCentralSelling.PutWebhook"), None);
        assert_eq!(Operation::from_target("AWSPartnerCentralSelling."), None);
        assert_eq!(Operation::from_target("CreateOpportunity"), None);
    }

    #[test]
    fn use_5_reads_are_the_get_list_and_search_operations_and_everything_else_writes() {
        for op in Operation::ALL {
            let read = ["Get", "List", "Search"].iter().any(|p| op.name().starts_with(p));
            let expected = if read { OperationClass::Read } else { OperationClass::Write };
            assert_eq!(op.class(), expected, "{}", op.name());
        }
    }

    #[test]
    fn the_catalog_member_is_read_from_the_model() {
        assert!(Operation::CreateOpportunity.has_catalog());
        assert!(Operation::RecordReferralContact.has_catalog());
        for op in [
            Operation::TagResource,
            Operation::ListTagsForResource,
            Operation::PutWebhook,
            Operation::GetCurrentTerms,
            Operation::ListEvents,
        ] {
            assert!(!op.has_catalog(), "{}", op.name());
        }
    }

    #[test]
    fn served_and_unserved_make_the_whole_selling_model() {
        let served = Operation::ALL.iter().filter(|o| o.service() == Service::Selling).count();
        let unserved = Operation::unserved_selling_operations();
        assert_eq!(served + unserved.len(), Model::get().operation_names().count());
        assert!(!unserved.contains(&"StartOpportunityBulkJob"));
        assert!(!unserved.contains(&"StartCustomerAccountBulkJob"));
        assert!(!unserved.contains(&"SearchOpportunities"));
        assert!(!unserved.contains(&"CreateResourceSnapshot"));
        assert!(!unserved.contains(&"CreateEngagement"));
        assert!(!unserved.contains(&"CreateOpportunity"));
    }
}
