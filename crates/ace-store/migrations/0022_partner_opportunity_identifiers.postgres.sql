UPDATE opportunities SET crm_id = (doc::jsonb -> 'document') ->> 'PartnerOpportunityIdentifier'
 WHERE jsonb_typeof((doc::jsonb -> 'document') -> 'PartnerOpportunityIdentifier') = 'string';
