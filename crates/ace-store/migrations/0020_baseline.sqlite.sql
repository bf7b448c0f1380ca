-- SQLite's part of the baseline: the search words in an FTS5 table (tenant and words columns;
-- the tenant term is asked for with each search, USE-4).
CREATE VIRTUAL TABLE opportunity_words USING fts5(tenant, words, detail=column, tokenize='unicode61 remove_diacritics 0');
