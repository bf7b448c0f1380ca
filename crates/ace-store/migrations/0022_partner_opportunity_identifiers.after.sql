-- Rows written before the rule may share an identifier: the first opportunity keeps the claim.
CREATE INDEX opportunities_crm_backfill ON opportunities (partner_id, catalog, crm_id, id_number);
UPDATE opportunities SET crm_id = NULL WHERE crm_id IS NOT NULL AND EXISTS (
    SELECT 1 FROM opportunities earlier WHERE earlier.partner_id = opportunities.partner_id
       AND earlier.catalog = opportunities.catalog AND earlier.crm_id = opportunities.crm_id
       AND earlier.id_number < opportunities.id_number);
DROP INDEX opportunities_crm_backfill;
CREATE UNIQUE INDEX opportunities_by_crm_id ON opportunities (partner_id, catalog, crm_id) WHERE crm_id IS NOT NULL;
