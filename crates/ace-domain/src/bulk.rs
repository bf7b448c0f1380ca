//! Bulk jobs (issue 20): a CSV file of records, each applied as the single-record operation
//! would apply it, each with its own result. Pure: what a job is, how a file becomes rows (the
//! header decides the template — create or update — and every column must be a member path of
//! that operation's input in the model), and what its report holds.
//!
//! Columns are member paths of the operation's input: `Customer.Account.CompanyName`, a list
//! element by index (`Project.ExpectedCustomerSpend[0].Amount`), a list of strings in one cell
//! separated by `;` (`Project.DeliveryModels`). `RequestId` names a row in the results (the
//! row's line number when the file has no such column). A file with an `Identifier` column is
//! an update file (each row an `UpdateOpportunity`, which needs `LastModifiedDate` too);
//! otherwise each row is a `CreateOpportunity`. An empty cell leaves its member out.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::Catalog;
use crate::model::Model;
use crate::time::Instant;

/// Ids are `bulkjob-` and 13 characters of `[0-9a-z]` (the model's `BulkJobId`).
pub const ID_PREFIX: &str = "bulkjob-";
pub const ID_BODY_CHARS: usize = 13;

/// The largest file a job reads (the API reference: "no larger than 100 MB").
pub const MAX_FILE_BYTES: usize = 100 * 1024 * 1024;

/// The column naming a row in the results.
pub const REQUEST_ID: &str = "RequestId";

/// How long a finished job's report can be asked for (the API reference: about 7 days).
pub const REPORT_KEPT: chrono::TimeDelta = chrono::TimeDelta::days(7);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Submitted,
    InProgress,
    Completed,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Submitted => "SUBMITTED",
            JobStatus::InProgress => "IN_PROGRESS",
            JobStatus::Completed => "COMPLETED",
            JobStatus::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<JobStatus> {
        [JobStatus::Submitted, JobStatus::InProgress, JobStatus::Completed, JobStatus::Failed]
            .into_iter()
            .find(|j| j.as_str() == s)
    }

    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Completed | JobStatus::Failed)
    }
}

/// What a job's rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobKind {
    Opportunity,
    CustomerAccount,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Opportunity => "Opportunity",
            JobKind::CustomerAccount => "CustomerAccount",
        }
    }

    pub fn parse(s: &str) -> Option<JobKind> {
        [JobKind::Opportunity, JobKind::CustomerAccount].into_iter().find(|k| k.as_str() == s)
    }

    /// The single-record operation a row of a file of `operation_type` is.
    pub fn operation(self, operation_type: OperationType) -> &'static str {
        match (self, operation_type) {
            (JobKind::Opportunity, OperationType::BulkCreate) => "CreateOpportunity",
            (JobKind::Opportunity, OperationType::BulkUpdate) => "UpdateOpportunity",
            (JobKind::CustomerAccount, _) => "CreateCustomerAccount",
        }
    }
}

/// A customer-account bulk job's ARN (the model's `BulkJobArn`).
pub fn customer_account_job_arn(account_id: &str, catalog: Catalog, id: &str) -> String {
    format!("arn:aws:partnercentral:{}:{account_id}:catalog/{catalog}/customer-account-bulk-job/{id}", crate::ids::REGION)
}

/// What the file's header chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OperationType {
    BulkCreate,
    BulkUpdate,
}

impl OperationType {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationType::BulkCreate => "BULK_CREATE",
            OperationType::BulkUpdate => "BULK_UPDATE",
        }
    }
}

/// A bulk job. Its counts are its results' (kept by the store, not here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkJob {
    pub id: String,
    pub kind: JobKind,
    pub catalog: Catalog,
    pub partner_id: String,
    /// The access key of the user who started it: its rows are that user's writes.
    pub access_key_id: String,
    pub client_token: String,
    pub file_uri: String,
    pub status: JobStatus,
    pub operation_type: Option<OperationType>,
    pub total_records: i64,
    pub created_at: Instant,
    pub started_at: Option<Instant>,
    pub completed_at: Option<Instant>,
    pub failure_reason: Option<String>,
    /// SHA-256 of the file as read (hex), once read.
    pub file_sha256: Option<String>,
    /// The node running it and until when (epoch ms), so one node runs a job at a time.
    pub lease: Option<(String, i64)>,
    pub version: i64,
}

impl BulkJob {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        kind: JobKind,
        catalog: Catalog,
        partner_id: &str,
        access_key_id: &str,
        client_token: &str,
        file_uri: &str,
        now: Instant,
    ) -> BulkJob {
        BulkJob {
            id,
            kind,
            catalog,
            partner_id: partner_id.into(),
            access_key_id: access_key_id.into(),
            client_token: client_token.into(),
            file_uri: file_uri.into(),
            status: JobStatus::Submitted,
            operation_type: None,
            total_records: 0,
            created_at: now,
            started_at: None,
            completed_at: None,
            failure_reason: None,
            file_sha256: None,
            lease: None,
            version: 1,
        }
    }

    /// The job failed as a whole (the file could not be read or is not a template): nothing
    /// of it was applied.
    pub fn fail(&mut self, reason: impl Into<String>, now: Instant) {
        self.status = JobStatus::Failed;
        self.failure_reason = Some(reason.into());
        self.completed_at = Some(now);
        self.lease = None;
    }

    /// The file's name as its user knows it (the last segment of its URI).
    pub fn file_name(&self) -> String {
        file_name(&self.file_uri)
    }

    /// Whether the job finished so long ago that its report is no longer made.
    pub fn report_expired(&self, now: Instant) -> bool {
        self.completed_at.is_some_and(|done| now - done > REPORT_KEPT)
    }

    pub fn complete(&mut self, now: Instant) {
        self.status = JobStatus::Completed;
        self.completed_at = Some(now);
        self.lease = None;
    }
}

/// The last segment of the URI's path, without its query: the file's name as a user knows it.
pub fn file_name(uri: &str) -> String {
    let path = uri.split(['?', '#']).next().unwrap_or(uri);
    let name = path.rsplit('/').next().unwrap_or(path);
    let name: String = name.chars().take(255).collect();
    if name.is_empty() {
        "file.csv".into()
    } else {
        name
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecordStatus {
    Succeeded,
    Failed,
}

impl RecordStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Succeeded => "SUCCEEDED",
            RecordStatus::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<RecordStatus> {
        [RecordStatus::Succeeded, RecordStatus::Failed].into_iter().find(|r| r.as_str() == s)
    }
}

/// One row's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowResult {
    pub job_id: String,
    /// The row's line number in the file (the header is line 1).
    pub row: i64,
    pub request_id: String,
    pub status: RecordStatus,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub resource_id: Option<String>,
}

/// One record of the file, as the single-record operation's input (without `Catalog` and
/// `ClientToken`, which the job adds).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub line: i64,
    pub request_id: String,
    /// Cells that are not a value of their column's shape (a number that is not one): the row
    /// fails with these, as the operation would refuse them.
    pub errors: Vec<String>,
    pub input: Map<String, Value>,
}

/// A file read: its template and rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub operation_type: OperationType,
    pub rows: Vec<Row>,
}

/// One step of a column's path: a member, perhaps an element of it.
#[derive(Debug, Clone, PartialEq)]
struct Step {
    member: String,
    index: Option<usize>,
}

/// The largest list index a column may name.
const MAX_INDEX: usize = 99;

fn steps(column: &str) -> Option<Vec<Step>> {
    column
        .split('.')
        .map(|part| {
            let (member, index) = match part.split_once('[') {
                Some((m, rest)) => {
                    let n = rest.strip_suffix(']')?.parse::<usize>().ok().filter(|n| *n <= MAX_INDEX)?;
                    (m, Some(n))
                }
                None => (part, None),
            };
            (!member.is_empty() && member.chars().all(|c| c.is_ascii_alphanumeric()))
                .then(|| Step { member: member.into(), index })
        })
        .collect()
}

/// What a column's cells hold.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Leaf {
    Text,
    Integer,
    Double,
    Boolean,
    /// A list of strings, `;`-separated in one cell.
    Texts,
}

/// The leaf a column names under `shape`, or why it names none.
fn resolve(model: &Model, shape: &str, column: &str) -> Result<(Vec<Step>, Leaf), String> {
    let unknown = || format!("the column {column:?} is not a member of the template");
    let path = steps(column).ok_or_else(unknown)?;
    let mut at = shape.to_string();
    for (i, step) in path.iter().enumerate() {
        if model.shape_type(&at) != Some("structure") {
            return Err(unknown());
        }
        let mut member = model.member_shape(&at, &step.member).ok_or_else(unknown)?.to_string();
        if step.index.is_some() {
            if model.shape_type(&member) != Some("list") {
                return Err(format!("the column {column:?}: {} is not a list", step.member));
            }
            member = model.list_member(&member).ok_or_else(unknown)?.to_string();
        }
        let last = i + 1 == path.len();
        if last {
            let leaf = match model.shape_type(&member) {
                Some("string") | Some("timestamp") => Leaf::Text,
                Some("integer") | Some("long") => Leaf::Integer,
                Some("double") | Some("float") => Leaf::Double,
                Some("boolean") => Leaf::Boolean,
                Some("list") if model.list_member(&member).and_then(|m| model.shape_type(m)) == Some("string") => Leaf::Texts,
                _ => return Err(format!("the column {column:?} names a group of members, not one value: name its members")),
            };
            return Ok((path, leaf));
        }
        at = member;
    }
    Err(unknown())
}

fn cell_value(leaf: Leaf, cell: &str) -> Result<Value, String> {
    match leaf {
        Leaf::Text => Ok(Value::String(cell.to_string())),
        Leaf::Integer => cell.parse::<i64>().map(Value::from).map_err(|_| format!("{cell:?} is not a whole number")),
        Leaf::Double => {
            cell.parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::from).ok_or_else(|| format!("{cell:?} is not a number"))
        }
        Leaf::Boolean => match cell.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("{cell:?} is not true or false")),
        },
        Leaf::Texts => {
            Ok(Value::Array(cell.split(';').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.into())).collect()))
        }
    }
}

/// Puts `value` at `path` in `doc`, making the objects and list elements on the way.
fn put(doc: &mut Map<String, Value>, path: &[Step], value: Value) {
    let Some((step, rest)) = path.split_first() else { return };
    let slot =
        doc.entry(step.member.clone()).or_insert_with(|| if step.index.is_some() { Value::Array(vec![]) } else { Value::Null });
    let target = match step.index {
        Some(i) => {
            let Value::Array(items) = slot else { return };
            while items.len() <= i {
                items.push(Value::Object(Map::new()));
            }
            &mut items[i]
        }
        None => slot,
    };
    if rest.is_empty() {
        *target = value;
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        put(map, rest, value);
    }
}

/// Reads a bulk file of `kind`. `Err` is why the job fails as a whole (nothing applied): not
/// UTF-8, not CSV, no rows, an unknown or repeated column, a column the template needs missing.
/// A customer-account file is always one of creates.
pub fn parse(kind: JobKind, bytes: &[u8]) -> Result<Parsed, String> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(format!("the file is larger than {} MB", MAX_FILE_BYTES / (1024 * 1024)));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("the file is not UTF-8 text (byte {} is not): save it as CSV UTF-8", e.valid_up_to()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(text.as_bytes());
    let headers: Vec<String> =
        reader.headers().map_err(|e| format!("the file is not CSV: {e}"))?.iter().map(|h| h.trim().to_string()).collect();
    if headers.iter().all(|h| h.is_empty()) {
        return Err("the file has no header row".into());
    }
    for (i, h) in headers.iter().enumerate() {
        if headers[..i].contains(h) {
            return Err(format!("the column {h:?} appears twice"));
        }
    }
    // Only opportunities have an update template; elsewhere `Identifier` is an unknown column.
    let updates = kind == JobKind::Opportunity && headers.iter().any(|h| h == "Identifier");
    let operation_type = if updates { OperationType::BulkUpdate } else { OperationType::BulkCreate };
    if operation_type == OperationType::BulkUpdate && !headers.iter().any(|h| h == "LastModifiedDate") {
        return Err("an update file (it has an Identifier column) needs a LastModifiedDate column: each row updates the \
                    opportunity as last read"
            .into());
    }
    let model = Model::get();
    let shape = model.operation_input(kind.operation(operation_type)).ok_or("the template's operation is not in the model")?;
    let mut columns: Vec<Option<(Vec<Step>, Leaf)>> = Vec::new();
    for h in &headers {
        if h == REQUEST_ID {
            columns.push(None);
            continue;
        }
        if h == "Catalog" || h == "ClientToken" {
            return Err(format!("the column {h:?} is the job's own: leave it out"));
        }
        columns.push(Some(resolve(model, shape, h)?));
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i as i64 + 2;
        let record = record.map_err(|e| format!("line {line} is not a CSV row of the header's columns: {e}"))?;
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let mut input = Map::new();
        let mut errors = Vec::new();
        let mut request_id = line.to_string();
        for (cell, (header, column)) in record.iter().zip(headers.iter().zip(columns.iter())) {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            match column {
                None => request_id = cell.to_string(),
                Some((path, leaf)) => match cell_value(*leaf, cell) {
                    Ok(v) => put(&mut input, path, v),
                    Err(e) => errors.push(format!("{header}: {e}")),
                },
            }
        }
        rows.push(Row { line, request_id, errors, input });
    }
    if rows.is_empty() {
        return Err("the file has no rows".into());
    }
    Ok(Parsed { operation_type, rows })
}

/// The report of a finished job: a CSV of its results (`RequestId`, `Status`, `ResourceIdentifier`,
/// `ErrorCode`, `ErrorMessage`), in file order.
pub fn report_csv(results: &[RowResult]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let _ = writer.write_record(["RequestId", "Line", "Status", "ResourceIdentifier", "ErrorCode", "ErrorMessage"]);
    for r in results {
        let line = r.row.to_string();
        let _ = writer.write_record([
            r.request_id.as_str(),
            line.as_str(),
            r.status.as_str(),
            r.resource_id.as_deref().unwrap_or(""),
            r.error_code.as_deref().unwrap_or(""),
            r.error_message.as_deref().unwrap_or(""),
        ]);
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_create_file_becomes_operation_inputs_with_lists_and_request_ids() {
        let csv = "RequestId,Customer.Account.CompanyName,Customer.Account.Address.CountryCode,Project.DeliveryModels,\
                   Project.ExpectedCustomerSpend[0].Amount,Project.ExpectedCustomerSpend[0].CurrencyCode,LifeCycle.Stage\n\
                   crm-1,Acme,US,SaaS or PaaS;Managed Services,1200,USD,Qualified\n\
                   ,Globex,,,,,Prospect\n\
                   ,,,,,,\n";
        let parsed = parse(JobKind::Opportunity, csv.as_bytes()).unwrap();
        assert_eq!(parsed.operation_type, OperationType::BulkCreate);
        assert_eq!(parsed.rows.len(), 2, "a blank line is no record");
        let first = &parsed.rows[0];
        assert_eq!((first.line, first.request_id.as_str()), (2, "crm-1"));
        assert_eq!(
            Value::Object(first.input.clone()),
            json!({"Customer": {"Account": {"CompanyName": "Acme", "Address": {"CountryCode": "US"}}},
                   "Project": {"DeliveryModels": ["SaaS or PaaS", "Managed Services"],
                               "ExpectedCustomerSpend": [{"Amount": "1200", "CurrencyCode": "USD"}]},
                   "LifeCycle": {"Stage": "Qualified"}})
        );
        assert_eq!(parsed.rows[1].request_id, "3", "without a RequestId, the line number");
        assert_eq!(
            Value::Object(parsed.rows[1].input.clone()),
            json!({"Customer": {"Account": {"CompanyName": "Globex"}}, "LifeCycle": {"Stage": "Prospect"}})
        );
    }

    #[test]
    fn the_header_decides_update_and_an_update_needs_its_date() {
        let parsed =
            parse(JobKind::Opportunity, b"Identifier,LastModifiedDate,LifeCycle.NextSteps\nO1,2026-01-01T00:00:00Z,Call\n")
                .unwrap();
        assert_eq!(parsed.operation_type, OperationType::BulkUpdate);
        assert_eq!(parsed.rows[0].input["Identifier"], "O1");
        let e = parse(JobKind::Opportunity, b"Identifier,LifeCycle.NextSteps\nO1,Call\n").unwrap_err();
        assert!(e.contains("LastModifiedDate"), "{e}");
    }

    #[test]
    fn a_bad_file_fails_as_a_whole_naming_why() {
        let cases: [(&[u8], &str); 8] = [
            (b"Customer.Account.Colour\nred\n", "\"Customer.Account.Colour\" is not a member"),
            (b"Customer.Account\nAcme\n", "names a group of members"),
            (b"Customer.Account.CompanyName,Customer.Account.CompanyName\na,b\n", "appears twice"),
            (b"Customer.Account.CompanyName\n", "no rows"),
            (b"Customer.Account.CompanyName\n\xff\xfeAcme\n", "not UTF-8"),
            (b"Catalog,Customer.Account.CompanyName\nAWS,Acme\n", "the job's own"),
            (b"Customer.Account.CompanyName,LifeCycle.Stage\nAcme\n", "line 2"),
            (b"Project.Title[0]\nx\n", "is not a list"),
        ];
        for (file, expected) in cases {
            let e = parse(JobKind::Opportunity, file).unwrap_err();
            assert!(e.contains(expected), "{expected:?} in {e:?}");
        }
        let huge = vec![b'a'; MAX_FILE_BYTES + 1];
        assert!(parse(JobKind::Opportunity, &huge).unwrap_err().contains("larger than 100 MB"));
    }

    #[test]
    fn a_cell_that_is_not_its_columns_kind_fails_its_row_only() {
        let parsed = parse(
            JobKind::Opportunity,
            b"Customer.Account.CompanyName,Project.ExpectedCustomerSpend[0].Amount\n\xef\xbb\xbfAcme,12\n",
        )
        .unwrap();
        assert!(parsed.rows[0].errors.is_empty());
        assert_eq!(file_name("s3://bucket/111/uploads/q3.csv?versionId=7"), "q3.csv");
    }

    #[test]
    fn a_customer_account_file_is_creates_of_the_create_template() {
        let parsed = parse(
            JobKind::CustomerAccount,
            b"Account.CompanyName,Account.Domain,Tags[0].Key,Tags[0].Value\nAcme,acme.com,team,east\n",
        )
        .unwrap();
        assert_eq!(parsed.operation_type, OperationType::BulkCreate);
        assert_eq!(
            Value::Object(parsed.rows[0].input.clone()),
            json!({"Account": {"CompanyName": "Acme", "Domain": "acme.com"}, "Tags": [{"Key": "team", "Value": "east"}]})
        );
        let e = parse(JobKind::CustomerAccount, b"Identifier,Account.CompanyName\nx,Acme\n").unwrap_err();
        assert!(e.contains("\"Identifier\" is not a member"), "{e}");
        assert!(customer_account_job_arn("111122223333", Catalog::Aws, "bulkjob-1")
            .ends_with(":111122223333:catalog/AWS/customer-account-bulk-job/bulkjob-1"));
    }

    #[test]
    fn the_report_lists_each_result_in_csv() {
        let r = RowResult {
            job_id: "bulkjob-1".into(),
            row: 3,
            request_id: "crm, 7".into(),
            status: RecordStatus::Failed,
            error_code: Some("ValidationException".into()),
            error_message: Some("Customer.Account.CompanyName is required".into()),
            resource_id: None,
        };
        let csv = report_csv(&[r]);
        assert_eq!(
            csv,
            "RequestId,Line,Status,ResourceIdentifier,ErrorCode,ErrorMessage\n\"crm, 7\",3,FAILED,,ValidationException,Customer.Account.CompanyName is required\n"
        );
    }
}
