//! CSV export of leads: `GET /leads.csv` (signed-in member; what the Database page's
//! "Export CSV" link points at, with the page's search, status filter and sort) and
//! `GET /api/v1/leads.csv` (workspace API token), with the same parameters as
//! `/api/v1/leads`: `q`, `status`, `sort`, `order`, and `bom=1`.
//!
//! Why streamed page by page: the response body is produced one keyset page (the Database
//! view's own query and cursor, `leads::list`) at a time, so memory stays flat however
//! many leads there are, and the first bytes leave before the last page is read.
//! Phones are E.164; times are ISO 8601 in the workspace's time zone (with its offset),
//! so a spreadsheet shows the times the team sees. `bom=1` starts the file with a UTF-8
//! byte order mark, which Excel needs to read UTF-8 names correctly.

use crate::model::LeadStatus;
use crate::server::{
    auth::{member_from_headers, ApiWorkspace},
    error::{AppError, AppResult},
    http::AppState,
    leads::{self, LeadQuery, LeadRecord, SortKey},
    workspaces::Workspace,
};
use axum::{
    body::{Body, Bytes},
    extract::{Query, State},
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Redirect, Response},
    routing::get,
    Router,
};
use serde::Deserialize;
use std::sync::Arc;

/// Rows fetched per page (the most `leads::list` returns at once).
const PAGE: usize = 500;

pub fn router() -> Router<AppState> {
    Router::new().route("/leads.csv", get(export_for_member)).route("/api/v1/leads.csv", get(export_for_api))
}

#[derive(Debug, Default, Deserialize)]
pub struct ExportParams {
    pub q: Option<String>,
    pub status: Option<String>,
    pub sort: Option<String>,
    pub order: Option<String>,
    pub bom: Option<String>,
    pub needs_reply: Option<String>,
}

impl ExportParams {
    fn query(&self) -> AppResult<LeadQuery> {
        let status = match self.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => Some(LeadStatus::parse(s).ok_or_else(|| AppError::BadRequest(format!("unknown status `{s}`")))?),
            None => None,
        };
        let needs_reply = crate::server::leads::query::is_on(self.needs_reply.as_deref());
        let sort = match self.sort.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => SortKey::parse(s).ok_or_else(|| {
                AppError::BadRequest(format!("unknown sort `{s}`: use last_activity, name, created or waiting"))
            })?,
            None if needs_reply => SortKey::Waiting,
            None => SortKey::default(),
        };
        let descending = match self.order.as_deref().map(str::trim) {
            None | Some("") => sort.default_descending(),
            Some("desc") => true,
            Some("asc") => false,
            Some(other) => return Err(AppError::BadRequest(format!("unknown order `{other}`: use asc or desc"))),
        };
        Ok(LeadQuery {
            search: self.q.clone().filter(|q| !q.trim().is_empty()),
            status,
            needs_reply,
            sort,
            descending,
            cursor: None,
            limit: PAGE,
            only: None,
        })
    }

    fn bom(&self) -> bool {
        matches!(self.bom.as_deref().map(str::trim), Some("1" | "true" | "yes" | "on"))
    }
}

async fn export_for_member(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    params: Result<Query<ExportParams>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Response> {
    let Some(member) = member_from_headers(&state, &headers).await? else {
        // A plain link followed while signed out: sign in, then come back here.
        let back = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/leads.csv");
        return Ok(Redirect::to(&format!("/login?next={}", crate::url::encode(back))).into_response());
    };
    let Query(params) = params.map_err(|e| AppError::BadRequest(e.body_text()))?;
    export(state, member.workspace, &params)
}

async fn export_for_api(
    State(state): State<AppState>,
    ApiWorkspace(workspace): ApiWorkspace,
    params: Result<Query<ExportParams>, axum::extract::rejection::QueryRejection>,
) -> AppResult<Response> {
    let Query(params) = params.map_err(|e| AppError::BadRequest(e.body_text()))?;
    export(state, workspace, &params)
}

pub const HEADER: [&str; 9] =
    ["id", "phone", "name", "whatsapp_name", "status", "source", "last_activity_at", "created_at", "updated_at"];

fn export(state: AppState, workspace: Arc<Workspace>, params: &ExportParams) -> AppResult<Response> {
    let query = params.query()?;
    let mut first = Vec::new();
    if params.bom() {
        first.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let mut writer = csv::Writer::from_writer(first);
    writer.write_record(HEADER).map_err(csv_error)?;
    let head = writer.into_inner().map_err(|e| AppError::Internal(e.to_string()))?;
    let stream = stream_rows(state, workspace.clone(), query);
    let body = futures::StreamExt::chain(
        futures::stream::once(async move { Ok::<Bytes, std::io::Error>(Bytes::from(head)) }),
        stream,
    );
    let file = format!("leads-{}.csv", jiff::Zoned::now().strftime("%Y%m%d-%H%M"));
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("attachment; filename=\"{file}\""))
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        // Fused: the compression layer may poll the body once more after its end.
        Body::from_stream(futures::StreamExt::fuse(body)),
    )
        .into_response())
}

fn csv_error(err: csv::Error) -> AppError {
    AppError::Internal(format!("could not write CSV: {err}"))
}

/// Every lead the query matches, one page of CSV rows per item.
pub fn stream_rows(
    state: AppState,
    workspace: Arc<Workspace>,
    query: LeadQuery,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let zone = jiff::tz::TimeZone::get(&workspace.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    futures::stream::unfold(Some(leads::Walk::new(query)), move |walk| {
        let state = state.clone();
        let workspace = workspace.clone();
        let zone = zone.clone();
        async move {
            let mut walk = walk?;
            let leads = match walk.next_page(&state.db, &workspace).await {
                Ok(Some(leads)) => leads,
                Ok(None) => return None,
                Err(err) => {
                    tracing::error!(error = %err, "CSV export stopped");
                    // The client sees a cut-off download rather than a silently short file.
                    return Some((Err(std::io::Error::other(err.to_string())), None));
                }
            };
            let mut writer = csv::Writer::from_writer(Vec::with_capacity(leads.len() * 160));
            for lead in &leads {
                if let Err(err) = writer.write_record(row(lead, &zone)) {
                    return Some((Err(std::io::Error::other(err.to_string())), None));
                }
            }
            metrics::counter!("leadline_leads_exported_total").increment(leads.len() as u64);
            Some((Ok(Bytes::from(writer.into_inner().unwrap_or_default())), Some(walk)))
        }
    })
}

fn row(lead: &LeadRecord, zone: &jiff::tz::TimeZone) -> [String; 9] {
    [
        lead.id.to_string(),
        lead.phone_normalized.clone(),
        lead.name.as_deref().map(spreadsheet_safe).unwrap_or_default(),
        lead.kapso_name.as_deref().map(spreadsheet_safe).unwrap_or_default(),
        lead.lead_status.as_str().to_string(),
        lead.source.as_str().to_string(),
        lead.last_activity_at.map(|ms| iso_in(ms, zone)).unwrap_or_default(),
        iso_in(lead.created_at, zone),
        iso_in(lead.updated_at, zone),
    ]
}

/// ISO 8601 with the zone's offset: `2026-11-25T14:03:00+07:00`.
pub fn iso_local(ms: i64, zone: &str) -> String {
    iso_in(ms, &jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC))
}

fn iso_in(ms: i64, zone: &jiff::tz::TimeZone) -> String {
    let Ok(ts) = jiff::Timestamp::from_millisecond(ms) else { return String::new() };
    ts.to_zoned(zone.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// A name a customer chose (their WhatsApp profile) must not run as a spreadsheet
/// formula when the file is opened: text starting with `=`, `+`, `-`, `@` (or a tab /
/// carriage return) gets a leading apostrophe, as OWASP recommends for CSV exports.
pub fn spreadsheet_safe(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_plain_names_kept() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("@sum"), "'@sum");
        assert_eq!(spreadsheet_safe("Budi Santoso"), "Budi Santoso");
    }

    #[test]
    fn times_are_local_iso_8601() {
        // 2026-01-01T00:00:00Z is 07:00 in Jakarta.
        assert_eq!(iso_local(1_767_225_600_000, "Asia/Jakarta"), "2026-01-01T07:00:00+07:00");
        assert_eq!(iso_local(1_767_225_600_000, "UTC"), "2026-01-01T00:00:00+00:00");
    }
}
