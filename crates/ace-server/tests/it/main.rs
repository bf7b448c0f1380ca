//! Integration tests: a real server on 127.0.0.1:0, driven by the official
//! `aws-sdk-partnercentralselling` crate (and raw signed requests for inputs no SDK sends).

mod auth;
mod backup;
mod bad_input;
mod bulk;
mod checks;
mod concurrency;
mod customer_accounts;
mod eligibility;
mod engagements;
mod governance;
mod isolation;
mod operator;
mod operator_audit;
mod opportunities;
mod referrals;
mod review;
mod search;
mod snapshots;
mod support;
mod web;
mod webhooks;
