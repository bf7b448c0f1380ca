-- A partner's CRM identifier names one of its opportunities per catalog (issue 25: the published
-- integration scenario "a duplicate PartnerOpportunityIdentifier is refused"). `crm_id` is the
-- claim: at most one opportunity of a partner and catalog holds it. A partner's create must
-- claim its identifier (a second create with it is refused); other writes claim it when free.
ALTER TABLE opportunities ADD COLUMN crm_id TEXT;
