-- SQLite: `->`/`->>` rather than a `$.` path, which the store would read as a parameter.
UPDATE opportunities SET crm_id = doc -> 'document' ->> 'PartnerOpportunityIdentifier'
 WHERE json_type(doc -> 'document' -> 'PartnerOpportunityIdentifier') = 'text';
