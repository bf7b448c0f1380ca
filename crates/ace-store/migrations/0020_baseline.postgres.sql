-- PostgreSQL's part of the baseline: the search words as a weighted tsvector under GIN.
ALTER TABLE opportunity_search ADD COLUMN words tsvector NOT NULL DEFAULT ''::tsvector;
CREATE INDEX opportunity_search_words ON opportunity_search USING GIN (words);
