//! CSV import of leads: the file is read (delimiter, header, BOM), its columns mapped
//! (phone required; name and status optional), every row checked → a dry run (new,
//! matching existing leads, duplicates inside the file, invalid rows with their line
//! numbers and reasons) → the import itself, in ONE transaction.
//!
//! Rules, and why:
//! - A row's number is read exactly as a number typed by staff is (`E164::parse_typed`
//!   in the workspace's region, after an optional `tel:`), so `0812…`, `+62 812…`,
//!   `62812…` and `tel:+62-812-…` are one person — the same key the webhook files a
//!   WhatsApp sender under, so the person's first message lands on the imported lead.
//! - An existing lead is never overwritten silently: its manual name wins. The import
//!   fills an *empty* manual name, and sets the status, only when asked to; each such
//!   change is recorded in the lead's history like any manual edit.
//! - New leads get `source = import` and no activity, so they sort after active leads.
//! - Importing the same file again finds every row matching and changes nothing.
//! - One transaction: a failure half-way leaves nothing imported. The transaction starts
//!   by taking the write lock, so the check and the writes see the same database.
//!
//! All finding and creating of leads by phone goes through [`identity`], the one place
//! to change if leads get more than one identity.

use crate::model::{clean_manual_name, LeadStatus};
use crate::server::csv_import_progress::{Progress, Stage};
use crate::server::{
    clock::now_ms,
    db::{Db, Engine},
    error::{AppError, AppResult},
    ids::LeadId,
    phone::{Region, E164},
    workspaces::Workspace,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Largest file accepted (about 400,000 typical rows).
pub const MAX_BYTES: usize = 32 * 1024 * 1024;
/// Most data rows in one file.
pub const MAX_ROWS: usize = 200_000;
/// Rows shown in the mapping preview.
pub const PREVIEW_ROWS: usize = 5;

/// A file read and understood: its delimiter, header, and first rows.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Sniffed {
    pub delimiter: char,
    /// Whether the first row names the columns (otherwise they are "Column 1", …).
    pub has_header: bool,
    pub columns: Vec<String>,
    pub preview: Vec<Vec<String>>,
    /// The mapping guessed from the column names.
    pub guess: Mapping,
}

/// Which column holds what (0-based), and what may change on existing leads.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Mapping {
    pub phone: usize,
    pub name: Option<usize>,
    pub status: Option<usize>,
    /// Fill an existing lead's manual name when it has none.
    #[serde(default)]
    pub fill_empty_names: bool,
    /// Set an existing lead's status to the file's.
    #[serde(default)]
    pub set_status: bool,
}

/// One row that will not be imported, and why.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rejected {
    pub line: u64,
    pub phone: String,
    pub name: String,
    pub reason: String,
}

/// What an import does (dry run) or did.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Report {
    /// Data rows read (blank rows not included).
    pub rows: usize,
    pub new: usize,
    /// Rows whose number is already a lead of the workspace.
    pub matching: usize,
    /// Of those, leads the import changes (empty name filled / status set, when asked).
    pub updated: usize,
    /// Rows whose number an earlier row of the file already has.
    pub duplicates: usize,
    pub blank: usize,
    /// Invalid rows and in-file duplicates, by line.
    pub rejected: Vec<Rejected>,
    pub imported: bool,
}

impl Report {
    pub fn invalid(&self) -> usize {
        self.rows - self.new - self.matching - self.duplicates
    }
}

// ---- Reading the file ----

/// UTF-8 text without its byte order mark; a clear refusal for anything else.
pub fn decode(bytes: &[u8]) -> AppResult<&str> {
    if bytes.len() > MAX_BYTES {
        return Err(AppError::PayloadTooLarge(MAX_BYTES));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        AppError::Unprocessable(format!(
            "the file is not UTF-8 text (byte {}); in Excel use \"Save as → CSV UTF-8\"",
            e.valid_up_to()
        ))
    })
}

fn reader(text: &str, delimiter: u8) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(text.as_bytes())
}

/// The delimiter (comma, semicolon or tab) that splits the first lines into the same,
/// largest number of fields.
fn sniff_delimiter(text: &str) -> u8 {
    let mut best = (b',', 0usize);
    for delimiter in [b',', b';', b'\t'] {
        let mut counts = Vec::new();
        for record in reader(text, delimiter).records().take(20) {
            match record {
                Ok(r) => counts.push(r.len()),
                Err(_) => break,
            }
        }
        let Some(&first) = counts.first() else { continue };
        let consistent = counts.iter().filter(|&&n| n == first).count();
        // Prefer more columns, when most rows agree on the count.
        let score = if first > 1 && consistent * 2 >= counts.len() { first * 1000 + consistent } else { 0 };
        if score > best.1 {
            best = (delimiter, score);
        }
    }
    best.0
}

const PHONE_WORDS: [&str; 11] =
    ["phone", "tel", "mobile", "whatsapp", "wa", "hp", "nomor", "telepon", "handphone", "number", "no"];
const NAME_WORDS: [&str; 4] = ["name", "nama", "contact", "customer"];
const STATUS_WORDS: [&str; 3] = ["status", "stage", "lead_status"];

fn words(header: &str) -> Vec<String> {
    header.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(String::from).collect()
}

fn guess_column(columns: &[String], vocabulary: &[&str], taken: &[usize]) -> Option<usize> {
    columns
        .iter()
        .enumerate()
        .find(|(i, name)| !taken.contains(i) && words(name).iter().any(|w| vocabulary.contains(&w.as_str())))
        .map(|(i, _)| i)
}

pub fn sniff(text: &str, region: Region) -> AppResult<Sniffed> {
    let delimiter = sniff_delimiter(text);
    let mut records = reader(text, delimiter).into_records();
    let first = loop {
        match records.next() {
            Some(Ok(r)) if r.iter().all(|f| f.trim().is_empty()) => continue,
            Some(Ok(r)) => break r,
            Some(Err(e)) => return Err(AppError::Unprocessable(format!("the file is not valid CSV: {e}"))),
            None => return Err(AppError::Unprocessable("the file has no rows".into())),
        }
    };
    // A first row holding a phone number is data, not a header.
    let has_header = !first.iter().any(|cell| phone_key(cell, region).is_ok());
    let columns: Vec<String> = if has_header {
        first
            .iter()
            .enumerate()
            .map(|(i, c)| if c.trim().is_empty() { column_label(i) } else { c.trim().into() })
            .collect()
    } else {
        (0..first.len()).map(column_label).collect()
    };
    let mut preview: Vec<Vec<String>> = Vec::new();
    if !has_header {
        preview.push(first.iter().map(String::from).collect());
    }
    for record in records.flatten() {
        if preview.len() >= PREVIEW_ROWS {
            break;
        }
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        preview.push(record.iter().map(String::from).collect());
    }
    let phone = guess_column(&columns, &PHONE_WORDS, &[])
        .or_else(|| {
            // No telling name: the first column whose preview cells are numbers.
            (0..columns.len())
                .find(|&i| preview.iter().any(|row| row.get(i).is_some_and(|c| phone_key(c, region).is_ok())))
        })
        .unwrap_or(0);
    let name = guess_column(&columns, &NAME_WORDS, &[phone]);
    let status = guess_column(&columns, &STATUS_WORDS, &[phone]);
    Ok(Sniffed {
        delimiter: delimiter as char,
        has_header,
        columns,
        preview,
        guess: Mapping { phone, name, status, fill_empty_names: false, set_status: false },
    })
}

fn column_label(index: usize) -> String {
    format!("Column {}", index + 1)
}

/// A number as written in a file → the lead identity key (E.164).
pub fn phone_key(raw: &str, region: Region) -> Result<E164, String> {
    let trimmed = raw.trim();
    let number = trimmed.get(..4).filter(|p| p.eq_ignore_ascii_case("tel:")).map(|_| &trimmed[4..]).unwrap_or(trimmed);
    // RFC 3966 parameters (`;ext=…`) are not part of the number.
    let number = number.split(';').next().unwrap_or_default();
    E164::parse_typed(number, region).map_err(|e| e.to_string())
}

/// A data row, checked.
#[derive(Clone, Debug)]
struct Row {
    raw_phone: String,
    key: E164,
    name: Option<String>,
    status: Option<LeadStatus>,
}

/// Reads every row: the valid ones (first occurrence of each number), and the report's
/// counts of blank, duplicate and invalid rows.
fn check_rows(text: &str, sniffed: &Sniffed, mapping: &Mapping, region: Region) -> AppResult<(Vec<Row>, Report)> {
    if mapping.phone >= sniffed.columns.len() {
        return Err(AppError::Unprocessable("choose the column that holds the phone numbers".into()));
    }
    for (what, column) in [("name", mapping.name), ("status", mapping.status)] {
        if column.is_some_and(|c| c >= sniffed.columns.len()) {
            return Err(AppError::Unprocessable(format!("the {what} column does not exist in the file")));
        }
    }
    let mut report = Report::default();
    let mut rows = Vec::new();
    let mut first_line: HashMap<String, u64> = HashMap::new();
    let mut header_skipped = !sniffed.has_header;
    // (line number, byte offset it was counted to)
    let mut line_of: (u64, usize) = (1, 0);
    for record in reader(text, sniffed.delimiter as u8).into_records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            AppError::Unprocessable(format!("line {line}: not valid CSV ({e})"))
        })?;
        // Counted from the record's byte offset: the csv crate's own line count skips
        // empty lines, and its offsets point before the empty lines it skipped.
        let mut offset = record.position().map(|p| p.byte() as usize).unwrap_or(0).min(text.len());
        while matches!(text.as_bytes().get(offset), Some(b'\r' | b'\n')) {
            offset += 1;
        }
        line_of.0 += bytecount_newlines(&text.as_bytes()[line_of.1..offset.max(line_of.1)]);
        line_of.1 = offset.max(line_of.1);
        let line = line_of.0;
        if record.iter().all(|f| f.trim().is_empty()) {
            if header_skipped {
                report.blank += 1;
            }
            continue;
        }
        if !header_skipped {
            header_skipped = true;
            continue;
        }
        report.rows += 1;
        if report.rows > MAX_ROWS {
            return Err(AppError::Unprocessable(format!("the file has more than {MAX_ROWS} rows: split it")));
        }
        let cell = |column: Option<usize>| column.and_then(|c| record.get(c)).unwrap_or("").trim().to_string();
        let raw_phone = cell(Some(mapping.phone));
        let raw_name = cell(mapping.name);
        let reject = |reason: String| Rejected { line, phone: raw_phone.clone(), name: raw_name.clone(), reason };
        let key = match phone_key(&raw_phone, region) {
            Ok(key) => key,
            Err(reason) => {
                report.rejected.push(reject(reason));
                continue;
            }
        };
        let name = match clean_manual_name(&raw_name) {
            Ok(name) => name,
            Err(problem) => {
                report.rejected.push(reject(problem.to_string()));
                continue;
            }
        };
        let raw_status = cell(mapping.status);
        let status = if raw_status.is_empty() {
            None
        } else {
            match LeadStatus::parse(&raw_status.to_lowercase()) {
                Some(status) => Some(status),
                None => {
                    let choices: Vec<&str> = LeadStatus::ALL.iter().map(|s| s.as_str()).collect();
                    report
                        .rejected
                        .push(reject(format!("unknown status `{raw_status}`: use one of {}", choices.join(", "))));
                    continue;
                }
            }
        };
        if let Some(earlier) = first_line.get(key.as_str()) {
            report.duplicates += 1;
            report.rejected.push(reject(format!("duplicate: line {earlier} has the same number ({key})")));
            continue;
        }
        first_line.insert(key.as_str().to_string(), line);
        rows.push(Row { raw_phone, key, name, status });
    }
    if report.rows == 0 {
        return Err(AppError::Unprocessable("the file has no data rows".into()));
    }
    Ok((rows, report))
}

fn bytecount_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

// ---- Finding and creating leads by phone: the one place that knows how ----

pub mod identity {
    //! Every lookup and creation of a lead by phone number the import makes, through the
    //! lead identities the webhook matches on (`lead_identities`, kind `phone`): a number
    //! that is any lead's primary or other number matches that lead, and an imported lead's
    //! number becomes its primary phone identity, so the person's first WhatsApp message
    //! lands on it.

    use super::*;
    use sqlx::{AnyConnection, Row as _};

    /// A lead already in the workspace with one of the numbers.
    #[derive(Clone, Debug)]
    pub struct Existing {
        pub id: String,
        pub name: Option<String>,
        pub status: String,
    }

    /// The workspace's leads with these numbers (E.164 keys), by key.
    pub async fn find_by_phones(
        conn: &mut AnyConnection,
        workspace_id: &str,
        keys: &[&str],
    ) -> Result<HashMap<String, Existing>, sqlx::Error> {
        let mut found = HashMap::new();
        for chunk in keys.chunks(500) {
            let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT l.id, i.value AS phone_normalized, l.name, l.lead_status FROM lead_identities i \
                 JOIN leads l ON l.id = i.lead_id WHERE i.workspace_id = $1 AND i.kind = 'phone' AND i.value IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(workspace_id);
            for key in chunk {
                query = query.bind(*key);
            }
            for row in query.fetch_all(&mut *conn).await? {
                found.insert(
                    row.try_get("phone_normalized")?,
                    Existing {
                        id: row.try_get("id")?,
                        name: row.try_get("name")?,
                        status: row.try_get("lead_status")?,
                    },
                );
            }
        }
        Ok(found)
    }

    /// A lead to create from an imported row.
    pub struct NewImported<'a> {
        pub raw_phone: &'a str,
        pub key: &'a E164,
        pub name: Option<&'a str>,
        pub status: LeadStatus,
    }

    /// Creates the leads (source = import, no activity); returns how many were created.
    /// A number that became a lead meanwhile is left as it is (never a second lead).
    pub async fn create(
        conn: &mut AnyConnection,
        workspace_id: &str,
        leads: &[NewImported<'_>],
        now: i64,
        progress: Option<&Progress>,
    ) -> Result<u64, sqlx::Error> {
        const COLUMNS: usize = 6;
        let mut created = 0;
        // Many rows per statement: one round trip per 400 leads instead of per lead (100,000
        // rows: 200 a statement took 11.1 s, 400 took 8.4–8.9 s, 1,000 took 9.0 s).
        for chunk in leads.chunks(400) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p = i * COLUMNS + 3;
                    format!(
                        "(${p}, $1, ${}, ${}, ${}, 1, ${}, ${}, 'import', $2, $2)",
                        p + 1,
                        p + 2,
                        p + 3,
                        p + 4,
                        p + 5
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO leads (id, workspace_id, phone_raw, phone_normalized, phone_digits, phone_valid, name, \
                 lead_status, source, created_at, updated_at) VALUES {} \
                 ON CONFLICT (workspace_id, phone_normalized) DO NOTHING",
                values.join(", ")
            );
            let ids: Vec<String> = chunk.iter().map(|_| LeadId::generate().into_string()).collect();
            let mut query = sqlx::query(&sql).bind(workspace_id).bind(now);
            for (lead, id) in chunk.iter().zip(&ids) {
                query = query
                    .bind(id.as_str())
                    .bind(lead.raw_phone)
                    .bind(lead.key.as_str())
                    .bind(lead.key.digits())
                    .bind(lead.name)
                    .bind(lead.status.as_str());
            }
            created += query.execute(&mut *conn).await?.rows_affected();
            // Each new lead's number becomes its primary phone identity (only the leads
            // this statement made: a number that was already a key stays with its lead).
            let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 3)).collect();
            let sql = format!(
                "INSERT INTO lead_identities (workspace_id, kind, value, lead_id, is_primary, created_at) \
                 SELECT l.workspace_id, 'phone', l.phone_normalized, l.id, 1, $2 FROM leads l \
                 WHERE l.workspace_id = $1 AND l.id IN ({}) ON CONFLICT DO NOTHING",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(workspace_id).bind(now);
            for id in &ids {
                query = query.bind(id.as_str());
            }
            query.execute(&mut *conn).await?;
            if let Some(progress) = progress {
                progress.advance(chunk.len() as u64);
            }
        }
        Ok(created)
    }
}

// ---- Dry run and import ----

/// Who runs the import; recorded in the history of every lead it changes.
#[derive(Clone, Debug)]
pub struct Importer {
    pub user_id: Option<String>,
    pub label: String,
}

/// Checks the file against the workspace without changing anything.
pub async fn dry_run(db: &Db, workspace: &Workspace, text: &str, mapping: &Mapping) -> AppResult<Report> {
    let sniffed = sniff(text, workspace.region)?;
    let (rows, mut report) = check_rows(text, &sniffed, mapping, workspace.region)?;
    let mut conn = db.pool.acquire().await?;
    plan(&mut conn, workspace, &rows, mapping, &mut report).await?;
    Ok(report)
}

/// Counts new and matching rows; returns the changes to make to matching leads and the
/// rows that are new.
async fn plan<'r>(
    conn: &mut sqlx::AnyConnection,
    workspace: &Workspace,
    rows: &'r [Row],
    mapping: &Mapping,
    report: &mut Report,
) -> AppResult<(Vec<Change>, Vec<&'r Row>)> {
    let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
    let existing = identity::find_by_phones(conn, workspace.id.as_str(), &keys).await?;
    let mut changes = Vec::new();
    let mut new_rows = Vec::new();
    for row in rows {
        let Some(lead) = existing.get(row.key.as_str()) else {
            report.new += 1;
            new_rows.push(row);
            continue;
        };
        report.matching += 1;
        let fill_name = if mapping.fill_empty_names && lead.name.is_none() { row.name.clone() } else { None };
        let set_status = match row.status {
            Some(status) if mapping.set_status && status.as_str() != lead.status => Some(status),
            _ => None,
        };
        if fill_name.is_some() || set_status.is_some() {
            report.updated += 1;
            changes.push(Change { lead_id: lead.id.clone(), old_status: lead.status.clone(), fill_name, set_status });
        }
    }
    Ok((changes, new_rows))
}

struct Change {
    lead_id: String,
    old_status: String,
    fill_name: Option<String>,
    set_status: Option<LeadStatus>,
}

/// An import of a file uploaded through the pages: marked imported with its report, and
/// its progress counted for the page's progress bar.
pub struct Upload<'a> {
    pub id: &'a str,
    pub progress: Option<&'a Progress>,
}

/// Imports the file in one transaction and returns what it did.
pub async fn import(
    db: &Db,
    workspace: &Workspace,
    text: &str,
    mapping: &Mapping,
    importer: &Importer,
    upload: Option<Upload<'_>>,
) -> AppResult<Report> {
    let sniffed = sniff(text, workspace.region)?;
    let (rows, report) = check_rows(text, &sniffed, mapping, workspace.region)?;
    let mut conn = db.pool.acquire().await?;
    if db.engine == Engine::Sqlite {
        // The whole import is one transaction: with SQLite's default 2 MB page cache its
        // pages spill to the WAL and are read back with `pread` over and over (a quarter
        // of a 100,000-row import's CPU). Room for them while importing; the default
        // again before the connection goes back to the pool.
        sqlx::query("PRAGMA cache_size = -32768").execute(&mut *conn).await?;
    }
    let imported = import_on(&mut conn, workspace, rows, report, mapping, importer, upload).await;
    if db.engine == Engine::Sqlite {
        sqlx::query("PRAGMA cache_size = -2000").execute(&mut *conn).await?;
    }
    imported
}

/// The import's one transaction, on `conn`.
async fn import_on(
    conn: &mut sqlx::pool::PoolConnection<sqlx::Any>,
    workspace: &Workspace,
    rows: Vec<Row>,
    mut report: Report,
    mapping: &Mapping,
    importer: &Importer,
    upload: Option<Upload<'_>>,
) -> AppResult<Report> {
    let progress = upload.as_ref().and_then(|u| u.progress);
    let upload_id = upload.as_ref().map(|u| u.id);
    let stage = |stage: Stage, total: usize| {
        if let Some(progress) = progress {
            progress.stage(stage, total as u64);
        }
    };
    stage(Stage::Matching, rows.len());
    let now = now_ms();
    let mut tx = sqlx::Connection::begin(&mut **conn).await?;
    // Take the write lock first (SQLite: the database's; PostgreSQL: this workspace's
    // row), so what the plan reads cannot change before the writes, and two imports into
    // one workspace run one after the other.
    sqlx::query("UPDATE workspaces SET updated_at = updated_at WHERE id = $1")
        .bind(workspace.id.as_str())
        .execute(&mut *tx)
        .await?;
    let (changes, new_rows) = plan(&mut tx, workspace, &rows, mapping, &mut report).await?;
    let new_rows: Vec<identity::NewImported> = new_rows
        .iter()
        .map(|r| identity::NewImported {
            raw_phone: &r.raw_phone,
            key: &r.key,
            name: r.name.as_deref(),
            status: r.status.unwrap_or_default(),
        })
        .collect();
    stage(Stage::Creating, new_rows.len());
    let created = identity::create(&mut tx, workspace.id.as_str(), &new_rows, now, progress).await?;
    if created as usize != report.new {
        // A number became a lead meanwhile (a WhatsApp message on PostgreSQL): start over.
        return Err(AppError::Unavailable(format!(
            "{} of the new numbers became leads while importing; nothing was imported: run the import again",
            report.new - created as usize
        )));
    }
    stage(Stage::Updating, changes.len());
    for change in &changes {
        apply_change(&mut tx, workspace, change, importer, now).await?;
        if let Some(progress) = progress {
            progress.advance(1);
        }
    }
    stage(Stage::Saving, 1);
    report.imported = true;
    if let Some(id) = upload_id {
        // The upload's content goes (the leads hold it now); the report stays.
        let stored = serde_json::to_string(&(mapping, &report)).map_err(|e| AppError::Internal(e.to_string()))?;
        let marked = sqlx::query(
            "UPDATE csv_imports SET status = 'imported', content = '', report = $1, imported_at = $2 \
             WHERE workspace_id = $3 AND id = $4 AND status = 'uploaded'",
        )
        .bind(stored)
        .bind(now)
        .bind(workspace.id.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() == 0 {
            return Err(AppError::Conflict { message: "this file was already imported".into(), existing_id: None });
        }
    }
    tx.commit().await?;
    metrics::counter!("leadline_leads_imported_total").increment(created);
    Ok(report)
}

async fn apply_change(
    conn: &mut sqlx::AnyConnection,
    workspace: &Workspace,
    change: &Change,
    importer: &Importer,
    now: i64,
) -> AppResult<()> {
    let mut history: Vec<(&str, Option<String>, String)> = Vec::new();
    if let Some(name) = &change.fill_name {
        // `name IS NULL` again here: a name typed meanwhile still wins.
        let done = sqlx::query(
            "UPDATE leads SET name = $1, updated_at = $2 WHERE workspace_id = $3 AND id = $4 AND name IS NULL",
        )
        .bind(name)
        .bind(now)
        .bind(workspace.id.as_str())
        .bind(&change.lead_id)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 1 {
            history.push(("name", None, name.clone()));
        }
    }
    if let Some(status) = change.set_status {
        sqlx::query("UPDATE leads SET lead_status = $1, updated_at = $2 WHERE workspace_id = $3 AND id = $4")
            .bind(status.as_str())
            .bind(now)
            .bind(workspace.id.as_str())
            .bind(&change.lead_id)
            .execute(&mut *conn)
            .await?;
        history.push(("lead_status", Some(change.old_status.clone()), status.as_str().to_string()));
    }
    for (field, old, new) in history {
        sqlx::query(
            "INSERT INTO lead_changes (id, workspace_id, lead_id, actor_user_id, actor_label, field, old_value, new_value, changed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(workspace.id.as_str())
        .bind(&change.lead_id)
        .bind(importer.user_id.as_deref())
        .bind(&importer.label)
        .bind(field)
        .bind(old)
        .bind(new)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The rejected rows as a CSV file (line, phone, name, reason), for the report download.
pub fn rejected_csv(report: &Report) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    let _ = writer.write_record(["line", "phone", "name", "reason"]);
    for row in &report.rejected {
        let _ = writer.write_record([
            row.line.to_string(),
            crate::server::csv_export::spreadsheet_safe(&row.phone),
            crate::server::csv_export::spreadsheet_safe(&row.name),
            row.reason.clone(),
        ]);
    }
    writer.into_inner().unwrap_or_default()
}

// ---- Command line: `leadline leads import FILE --workspace …` ----

pub struct CliImport {
    pub file: std::path::PathBuf,
    pub workspace: String,
    pub phone_column: Option<String>,
    pub name_column: Option<String>,
    pub status_column: Option<String>,
    pub fill_empty_names: bool,
    pub set_status: bool,
    pub dry_run: bool,
}

/// A column named by its header (any case) or its number (1 = first).
fn cli_column(given: &str, columns: &[String]) -> AppResult<usize> {
    if let Ok(n) = given.trim().parse::<usize>() {
        if (1..=columns.len()).contains(&n) {
            return Ok(n - 1);
        }
    }
    columns
        .iter()
        .position(|c| c.eq_ignore_ascii_case(given.trim()))
        .ok_or_else(|| AppError::BadRequest(format!("no column `{given}`: the file has {}", columns.join(", "))))
}

pub async fn run_cli(db: &Db, options: CliImport) -> AppResult<serde_json::Value> {
    let workspace = crate::server::workspaces::find_by_reference(db, &options.workspace)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no workspace `{}`", options.workspace)))?;
    let bytes = std::fs::read(&options.file)
        .map_err(|e| AppError::BadRequest(format!("cannot read {}: {e}", options.file.display())))?;
    let text = decode(&bytes)?;
    let sniffed = sniff(text, workspace.region)?;
    let optional = |given: &Option<String>, guess: Option<usize>| -> AppResult<Option<usize>> {
        match given.as_deref() {
            None => Ok(guess),
            Some(v) if v.eq_ignore_ascii_case("none") => Ok(None),
            Some(v) => cli_column(v, &sniffed.columns).map(Some),
        }
    };
    let mapping = Mapping {
        phone: match &options.phone_column {
            Some(v) => cli_column(v, &sniffed.columns)?,
            None => sniffed.guess.phone,
        },
        name: optional(&options.name_column, sniffed.guess.name)?,
        status: optional(&options.status_column, sniffed.guess.status)?,
        fill_empty_names: options.fill_empty_names,
        set_status: options.set_status,
    };
    let report = if options.dry_run {
        dry_run(db, &workspace, text, &mapping).await?
    } else {
        let importer = Importer { user_id: None, label: "CSV import (command line)".into() };
        import(db, &workspace, text, &mapping, &importer, None).await?
    };
    let column = |c: Option<usize>| c.map(|i| sniffed.columns[i].clone());
    Ok(serde_json::json!({
        "file": options.file.display().to_string(),
        "delimiter": sniffed.delimiter.to_string(),
        "columns": { "phone": sniffed.columns[mapping.phone], "name": column(mapping.name), "status": column(mapping.status) },
        "dry_run": options.dry_run,
        "rows": report.rows,
        "new": report.new,
        "matching": report.matching,
        "updated": report.updated,
        "duplicates": report.duplicates,
        "invalid": report.invalid(),
        "blank": report.blank,
        "rejected": report.rejected,
        "imported": report.imported,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Region {
        Region::parse("ID").unwrap()
    }

    #[test]
    fn line_numbers_count_every_line_of_the_file() {
        for newline in ["\n", "\r\n"] {
            let text = ["phone;name", "081234567890;A", ";;", "12;B", "", "081234567890;C"].join(newline);
            let sniffed = sniff(&text, id()).unwrap();
            assert_eq!(sniffed.delimiter, ';');
            assert!(sniffed.has_header);
            let (rows, report) = check_rows(&text, &sniffed, &sniffed.guess, id()).unwrap();
            assert_eq!(rows.len(), 1);
            let lines: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();
            assert_eq!(lines, [4, 6], "{newline:?}: {:?}", report.rejected);
            assert_eq!((report.rows, report.blank, report.duplicates), (3, 1, 1));
        }
    }

    #[test]
    fn delimiters_headers_and_columns_are_guessed() {
        let tabs = sniff("Nama\tNo. HP\tStatus\nBudi\t0812 3456 7890\thot\n", id()).unwrap();
        assert_eq!((tabs.delimiter, tabs.guess.phone, tabs.guess.name, tabs.guess.status), ('\t', 1, Some(0), Some(2)));
        let bare = sniff("081234567890,Budi\n081234567891,Ani\n", id()).unwrap();
        assert!(!bare.has_header, "a first row with a number is data");
        assert_eq!((bare.delimiter, bare.guess.phone, bare.columns[0].as_str()), (',', 0, "Column 1"));
        assert_eq!(bare.preview.len(), 2);
    }

    #[test]
    fn numbers_are_read_as_staff_type_them() {
        for typed in [
            "0812-3456-7890",
            "+62 812 3456 7890",
            "6281234567890",
            "tel:+62-812-3456-7890",
            "TEL:0812 3456 7890;ext=2",
        ] {
            assert_eq!(phone_key(typed, id()).unwrap().as_str(), "+6281234567890", "{typed}");
        }
        assert!(phone_key("tel:", id()).unwrap_err().contains("required"));
    }
}
