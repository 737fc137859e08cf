//! The import's web steps, for signed-in owners and admins. Each step is a plain HTML
//! form, so the whole import works without JavaScript:
//!
//! 1. `POST /import/upload` (multipart, the file) stores the upload and redirects to
//!    `/import/{id}`, the page with the column mapping and a preview of the first rows.
//! 2. The mapping form is a GET to the same page (`?phone=0&name=1&…&check=1`), which
//!    then also shows the dry run (`import_view`, the page's server function).
//! 3. `POST /import/{id}/confirm` (the mapping again) imports in one transaction and
//!    redirects back to the page, now showing what was done.
//! 4. `GET /import/{id}/rejected.csv`: the rejected rows, with line numbers and reasons.
//!
//! Uploads are stored in `csv_imports` (not in memory) so any replica serves any step;
//! an upload is only ever visible to its own workspace.

use crate::app::import::{ImportMapping, ImportSummary, ImportView, RejectedRow};
use crate::server::{
    auth::{member_from_headers, Member},
    clock::now_ms,
    csv_import::{self, Importer, Mapping, Report},
    db::Db,
    error::{AppError, AppResult},
    http::AppState,
    workspaces::Workspace,
};
use axum::{
    extract::{DefaultBodyLimit, Multipart, Path, State},
    http::{header, HeaderMap},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Form, Router,
};
use serde::Deserialize;
use sqlx::Row;

/// Rejected rows listed on the page (all of them are in the downloadable report).
const SHOWN_REJECTED: usize = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/import/upload", post(upload).layer(DefaultBodyLimit::max(csv_import::MAX_BYTES + 64 * 1024)))
        .route("/import/{id}/confirm", post(confirm))
        .route("/import/{id}/progress", get(crate::server::csv_import_progress::stream))
        .route("/import/{id}/rejected.csv", get(rejected_report))
}

/// Owners and admins import; agents work leads one by one.
async fn importer(state: &AppState, headers: &HeaderMap) -> AppResult<Member> {
    let member =
        member_from_headers(state, headers).await?.ok_or_else(|| AppError::Unauthorized("sign in first".into()))?;
    member.require(member.role.can_manage_members(), "import leads")?;
    Ok(member)
}

struct Stored {
    file_name: String,
    content: String,
    report: Option<Report>,
    mapping: Option<Mapping>,
}

async fn load(db: &Db, workspace: &Workspace, id: &str) -> AppResult<Stored> {
    let row = sqlx::query("SELECT file_name, content, report FROM csv_imports WHERE workspace_id = $1 AND id = $2")
        .bind(workspace.id.as_str())
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| AppError::not_found("import"))?;
    let stored: Option<String> = row.try_get("report")?;
    let done: Option<(Mapping, Report)> = stored.as_deref().and_then(|s| serde_json::from_str(s).ok());
    Ok(Stored {
        file_name: row.try_get("file_name")?,
        content: row.try_get("content")?,
        mapping: done.as_ref().map(|d| d.0.clone()),
        report: done.map(|d| d.1),
    })
}

/// Stores an uploaded file for the next steps; returns its id.
pub async fn store(
    db: &Db,
    workspace: &Workspace,
    user: Option<&str>,
    file_name: &str,
    text: &str,
) -> AppResult<String> {
    let now = now_ms();
    // Uploads never confirmed are dropped after a day.
    sqlx::query("DELETE FROM csv_imports WHERE workspace_id = $1 AND status = 'uploaded' AND created_at < $2")
        .bind(workspace.id.as_str())
        .bind(now - 24 * 3600 * 1000)
        .execute(&db.pool)
        .await?;
    let id = uuid::Uuid::now_v7().simple().to_string();
    sqlx::query(
        "INSERT INTO csv_imports (id, workspace_id, created_by, file_name, content, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(workspace.id.as_str())
    .bind(user)
    .bind(file_name)
    .bind(text)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(id)
}

async fn upload(State(state): State<AppState>, headers: HeaderMap, mut multipart: Multipart) -> AppResult<Response> {
    let member = importer(&state, &headers).await?;
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = multipart.next_field().await.map_err(|e| AppError::BadRequest(e.body_text()))? {
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or("leads.csv").chars().take(200).collect::<String>();
            let bytes = field.bytes().await.map_err(|e| AppError::BadRequest(e.body_text()))?;
            file = Some((name, bytes.to_vec()));
        }
    }
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return Ok(Redirect::to("/import?error=empty").into_response());
    };
    let text = match csv_import::decode(&bytes).and_then(|t| csv_import::sniff(t, member.workspace.region).map(|_| t)) {
        Ok(text) => text,
        Err(AppError::Unprocessable(why)) => {
            return Ok(Redirect::to(&format!("/import?error={}", crate::url::encode(&why))).into_response())
        }
        Err(err) => return Err(err),
    };
    let id = store(&state.db, &member.workspace, Some(member.user_id.as_str()), &name, text).await?;
    Ok(Redirect::to(&format!("/import/{id}")).into_response())
}

/// The mapping as the forms send it: column numbers, empty for "ignore".
#[derive(Debug, Default, Deserialize)]
pub struct MappingForm {
    pub phone: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub fill_empty_names: Option<String>,
    pub set_status: Option<String>,
}

fn column(value: Option<&str>) -> Option<usize> {
    value.map(str::trim).filter(|v| !v.is_empty()).and_then(|v| v.parse().ok())
}

impl MappingForm {
    fn mapping(&self, guess: &Mapping) -> Mapping {
        let checked = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty() && v != "0");
        Mapping {
            phone: column(self.phone.as_deref()).unwrap_or(guess.phone),
            name: if self.phone.is_some() { column(self.name.as_deref()) } else { guess.name },
            status: if self.phone.is_some() { column(self.status.as_deref()) } else { guess.status },
            fill_empty_names: checked(&self.fill_empty_names),
            set_status: checked(&self.set_status),
        }
    }
}

async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<MappingForm>,
) -> AppResult<Response> {
    let member = importer(&state, &headers).await?;
    let stored = load(&state.db, &member.workspace, &id).await?;
    if stored.report.is_some() {
        // Already imported (a second click): show what the first did.
        return Ok(Redirect::to(&format!("/import/{id}")).into_response());
    }
    let sniffed = csv_import::sniff(&stored.content, member.workspace.region)?;
    let mapping = form.mapping(&sniffed.guess);
    let importer =
        Importer { user_id: Some(member.user_id.to_string()), label: format!("{} (CSV import)", member.email) };
    let running = state.csv_imports.start(&id);
    let upload = csv_import::Upload { id: &id, progress: Some(&running.progress) };
    match csv_import::import(&state.db, &member.workspace, &stored.content, &mapping, &importer, Some(upload)).await {
        Ok(_) => Ok(Redirect::to(&format!("/import/{id}")).into_response()),
        Err(AppError::Unprocessable(why)) | Err(AppError::Unavailable(why)) => {
            Ok(Redirect::to(&format!("/import/{id}?phone={}&error={}", mapping.phone, crate::url::encode(&why)))
                .into_response())
        }
        Err(err) => Err(err),
    }
}

async fn rejected_report(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let member = importer(&state, &headers).await?;
    let stored = load(&state.db, &member.workspace, &id).await?;
    let report = match stored.report {
        Some(report) => report,
        None => {
            let sniffed = csv_import::sniff(&stored.content, member.workspace.region)?;
            csv_import::dry_run(&state.db, &member.workspace, &stored.content, &sniffed.guess).await?
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"rejected-rows.csv\"".to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        csv_import::rejected_csv(&report),
    )
        .into_response())
}

/// What the import page shows: the mapping and preview, the dry run when asked for
/// (`check`), or the result once imported.
pub async fn view(
    state: &AppState,
    member: &Member,
    id: &str,
    form: &MappingForm,
    check: bool,
) -> AppResult<ImportView> {
    member.require(member.role.can_manage_members(), "import leads")?;
    let stored = load(&state.db, &member.workspace, id).await?;
    if let (Some(report), Some(mapping)) = (&stored.report, &stored.mapping) {
        return Ok(ImportView {
            id: id.to_string(),
            file_name: stored.file_name,
            columns: Vec::new(),
            preview: Vec::new(),
            delimiter: String::new(),
            mapping: mapping_view(mapping),
            summary: Some(summary(report)),
            imported: true,
        });
    }
    let sniffed = csv_import::sniff(&stored.content, member.workspace.region)?;
    let mapping = form.mapping(&sniffed.guess);
    let summary = if check {
        Some(summary(&csv_import::dry_run(&state.db, &member.workspace, &stored.content, &mapping).await?))
    } else {
        None
    };
    Ok(ImportView {
        id: id.to_string(),
        file_name: stored.file_name,
        columns: sniffed.columns,
        preview: sniffed.preview,
        delimiter: match sniffed.delimiter {
            '\t' => "tab".into(),
            ';' => "semicolon".into(),
            _ => "comma".into(),
        },
        mapping: mapping_view(&mapping),
        summary,
        imported: false,
    })
}

fn mapping_view(mapping: &Mapping) -> ImportMapping {
    ImportMapping {
        phone: mapping.phone,
        name: mapping.name,
        status: mapping.status,
        fill_empty_names: mapping.fill_empty_names,
        set_status: mapping.set_status,
    }
}

fn summary(report: &Report) -> ImportSummary {
    ImportSummary {
        rows: report.rows,
        new: report.new,
        matching: report.matching,
        updated: report.updated,
        duplicates: report.duplicates,
        invalid: report.invalid(),
        blank: report.blank,
        rejected_total: report.rejected.len(),
        rejected: report
            .rejected
            .iter()
            .take(SHOWN_REJECTED)
            .map(|r| RejectedRow { line: r.line, phone: r.phone.clone(), reason: r.reason.clone() })
            .collect(),
    }
}
