//! The Database view's listing: filters (status, name or username, phone fragments),
//! sort orders and cursors. Merged leads are never listed.

use super::{lead_from_row, LeadRecord, LEAD_COLUMNS};
use crate::model::LeadStatus;
pub use crate::model::SortKey;
use crate::server::{
    cursor,
    db::Db,
    error::{AppError, AppResult},
    ids::LeadId,
    phone::search_prefixes,
    workspaces::Workspace,
};

use sqlx::Row;

impl SortKey {
    /// The column the listing sorts by (server side only).
    fn column(self) -> &'static str {
        match self {
            SortKey::LastActivity => "l.activity_sort",
            SortKey::Name => "l.name_sort",
            SortKey::Created => "l.created_at",
            SortKey::Waiting => "l.awaiting_reply_since",
        }
    }
}

/// A yes/no URL parameter such as `needs_reply=1`.
pub fn is_on(flag: Option<&str>) -> bool {
    matches!(flag.map(str::trim), Some("1" | "true" | "yes" | "on"))
}

#[derive(Clone, Debug, Default)]
pub struct LeadQuery {
    pub search: Option<String>,
    pub status: Option<LeadStatus>,
    /// Only leads whose latest message is the customer's and unanswered (sorted by
    /// `SortKey::Waiting` then).
    pub needs_reply: bool,
    pub sort: SortKey,
    pub descending: bool,
    pub cursor: Option<String>,
    pub limit: usize,
    /// Only this lead (does it match the other filters?).
    pub only: Option<LeadId>,
}

/// What `list` finds: up to `limit` leads after the cursor (with their identities),
/// where the next ones start, and how many match in all.
pub struct LeadSlice {
    pub leads: Vec<LeadRecord>,
    pub next_cursor: Option<String>,
    pub total: i64,
}

/// A position in a sorted listing: the sort key and id of the last row shown. Opaque to
/// clients (hex), and tied to the order it was made for.
#[derive(Debug, PartialEq, Eq)]
enum CursorKey {
    Number(i64),
    Text(String),
}

fn encode_cursor(sort: SortKey, descending: bool, lead: &LeadRecord) -> String {
    let key = match sort {
        SortKey::LastActivity => lead.activity_sort.to_string(),
        SortKey::Created => lead.created_at.to_string(),
        SortKey::Waiting => lead.awaiting_reply_since.unwrap_or_default().to_string(),
        SortKey::Name => lead.name_sort.clone(),
    };
    let direction = if descending { "d" } else { "a" };
    cursor::encode(&[sort.as_str(), direction, lead.id.as_str(), &key])
}

fn decode_cursor(cursor: &str, sort: SortKey, descending: bool) -> AppResult<(CursorKey, String)> {
    let [sort_name, direction, id, key] = cursor::decode::<4>(cursor)?;
    if sort_name != sort.as_str() || direction != if descending { "d" } else { "a" } {
        return Err(AppError::BadRequest("the cursor belongs to another sort order; start again without it".into()));
    }
    let id = LeadId::parse(&id).ok_or_else(cursor::invalid)?.into_string();
    let key = match sort {
        SortKey::Name => CursorKey::Text(key),
        _ => CursorKey::Number(key.parse().map_err(|_| cursor::invalid())?),
    };
    Ok((key, id))
}

/// Both names of a lead and its username, lowercased, as indexed by `leads_by_names`
/// (migrations/0007_lead_identities.sql); it must stay identical to the index's expression.
const NAMES_EXPRESSION: &str =
    "LOWER(COALESCE(l.name, '') || ' ' || COALESCE(l.kapso_name, '') || ' ' || COALESCE(l.username, ''))";

/// Escapes LIKE wildcards so a search for `50%` means those three characters.
fn like_pattern(fragment: &str) -> String {
    let mut escaped = String::with_capacity(fragment.len() + 2);
    escaped.push('%');
    for c in fragment.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
}

/// Filters shared by the page query, its count and the Inbox's search (which joins
/// leads as `l` too), with their bind values in order after the workspace id ($1).
pub struct Filters {
    pub sql: String,
    pub binds: Vec<String>,
    /// Whether a search narrows the rows (then sorting the matches beats walking the
    /// sort index past every lead that does not match).
    pub searching: bool,
}

/// A lead's numbers other than its primary one (which `leads.phone_digits` holds).
const OTHER_NUMBERS: &str = "workspace_id = $1 AND kind = 'phone' AND is_primary = 0";

/// How a phone search matches stored numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PhoneMatch {
    /// The digits begin the number (index range; the usual case).
    Prefix,
    /// The digits appear anywhere in it (a scan; tried when no number begins so).
    Anywhere,
}

/// The first digit string after every string that begins with `prefix`
/// (`629` → `63`); `None` when there is none (`999`).
fn after_prefix(prefix: &str) -> Option<String> {
    let mut digits: Vec<u8> = prefix.bytes().collect();
    while let Some(last) = digits.pop() {
        if last < b'9' {
            digits.push(last + 1);
            return String::from_utf8(digits).ok();
        }
    }
    None
}

pub fn filters(workspace: &Workspace, query: &LeadQuery) -> Filters {
    filters_matching(workspace, query, PhoneMatch::Prefix)
}

fn filters_matching(workspace: &Workspace, query: &LeadQuery, phone_match: PhoneMatch) -> Filters {
    let mut sql = String::new();
    let mut binds = Vec::new();
    let mut searching = false;
    if let Some(id) = &query.only {
        binds.push(id.to_string());
        sql.push_str(&format!(" AND l.id = ${}", binds.len() + 1));
    }
    if query.needs_reply || query.sort == SortKey::Waiting {
        sql.push_str(" AND l.awaiting_reply_since IS NOT NULL");
    }
    if let Some(status) = query.status {
        binds.push(status.as_str().to_string());
        sql.push_str(&format!(" AND l.lead_status = ${}", binds.len() + 1));
    }
    if let Some(search) = query.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        searching = true;
        let prefixes = search_prefixes(search, workspace.region);
        if prefixes.is_empty() {
            // A name: the manual or the WhatsApp one, anywhere in it. The engine lowers
            // the search as it lowered the names (SQLite folds only ASCII, PostgreSQL all
            // of Unicode), so a name is found as it is written on either.
            binds.push(like_pattern(search));
            sql.push_str(&format!(" AND {NAMES_EXPRESSION} LIKE LOWER(${}) ESCAPE '\\'", binds.len() + 1));
        } else if phone_match == PhoneMatch::Prefix {
            let mut ranges = Vec::new();
            for prefix in prefixes {
                let upper = after_prefix(&prefix);
                // A lead's other numbers ("also reached on") are E.164 identities: the
                // same range with a `+`, walked on the identities' primary key.
                let other_numbers = (format!("+{prefix}"), upper.as_ref().map_or(",".to_string(), |u| format!("+{u}")));
                binds.push(prefix);
                let low = binds.len() + 1;
                match upper {
                    Some(upper) => {
                        binds.push(upper);
                        ranges.push(format!("(l.phone_digits >= ${low} AND l.phone_digits < ${})", binds.len() + 1));
                    }
                    None => ranges.push(format!("l.phone_digits >= ${low}")),
                }
                binds.push(other_numbers.0);
                binds.push(other_numbers.1);
                ranges.push(format!(
                    "l.id IN (SELECT lead_id FROM lead_identities WHERE {OTHER_NUMBERS} AND value >= ${} AND value < ${})",
                    binds.len(),
                    binds.len() + 1
                ));
            }
            sql.push_str(&format!(" AND ({})", ranges.join(" OR ")));
        } else {
            let digits = prefixes.into_iter().next().unwrap_or_default();
            binds.push(like_pattern(&digits));
            let at = binds.len() + 1;
            sql.push_str(&format!(
                " AND (l.phone_digits LIKE ${at} ESCAPE '\\' \
                 OR l.id IN (SELECT lead_id FROM lead_identities WHERE {OTHER_NUMBERS} AND value LIKE ${at} ESCAPE '\\'))"
            ));
        }
    }
    Filters { sql, binds, searching }
}

pub async fn list(db: &Db, workspace: &Workspace, query: &LeadQuery) -> AppResult<LeadSlice> {
    let page = list_matching(db, workspace, query, PhoneMatch::Prefix).await?;
    if page.total == 0 && is_phone_search(workspace, query) {
        // No number begins with these digits: look for them anywhere in the numbers.
        return list_matching(db, workspace, query, PhoneMatch::Anywhere).await;
    }
    Ok(page)
}

fn is_phone_search(workspace: &Workspace, query: &LeadQuery) -> bool {
    query.search.as_deref().is_some_and(|q| !search_prefixes(q.trim(), workspace.region).is_empty())
}

/// Every lead `query` matches, page by page, without the total or the identities each
/// page of the Database needs (the CSV export: 200 counts of 100,000 leads were most of
/// its time). Whether a phone search matches numbers' beginnings or anywhere in them is
/// decided once, on the first page, as `list` decides it.
pub struct Walk {
    query: LeadQuery,
    phone_match: Option<PhoneMatch>,
    done: bool,
}

impl Walk {
    pub fn new(query: LeadQuery) -> Walk {
        Walk { query, phone_match: None, done: false }
    }

    /// The next page, or `None` after the last.
    pub async fn next_page(&mut self, db: &Db, workspace: &Workspace) -> AppResult<Option<Vec<LeadRecord>>> {
        if self.done {
            return Ok(None);
        }
        let phone_match = match self.phone_match {
            Some(chosen) => chosen,
            None => {
                let (leads, next) = fetch_page(db, workspace, &self.query, PhoneMatch::Prefix).await?;
                if !leads.is_empty() || !is_phone_search(workspace, &self.query) {
                    self.phone_match = Some(PhoneMatch::Prefix);
                    return Ok(Some(self.advance(leads, next)));
                }
                self.phone_match = Some(PhoneMatch::Anywhere);
                PhoneMatch::Anywhere
            }
        };
        let (leads, next) = fetch_page(db, workspace, &self.query, phone_match).await?;
        Ok(Some(self.advance(leads, next)))
    }

    fn advance(&mut self, leads: Vec<LeadRecord>, next: Option<String>) -> Vec<LeadRecord> {
        self.done = next.is_none();
        self.query.cursor = next;
        leads
    }
}

async fn list_matching(
    db: &Db,
    workspace: &Workspace,
    query: &LeadQuery,
    phone_match: PhoneMatch,
) -> AppResult<LeadSlice> {
    // The count walks every matching lead while the page stops after one; on two
    // pooled connections they run side by side, so the page costs the slower of them.
    let ((mut leads, next_cursor), total) =
        futures::try_join!(fetch_page(db, workspace, query, phone_match), count(db, workspace, query, phone_match))?;
    super::attach_identities(db, workspace, &mut leads).await?;
    Ok(LeadSlice { leads, next_cursor, total })
}

async fn count(db: &Db, workspace: &Workspace, query: &LeadQuery, phone_match: PhoneMatch) -> AppResult<i64> {
    let filters = filters_matching(workspace, query, phone_match);
    let count_sql = format!(
        "SELECT COUNT(*) AS total FROM leads l WHERE l.workspace_id = $1 AND l.merged_into IS NULL{}",
        filters.sql
    );
    let mut count_query = sqlx::query(&count_sql).bind(workspace.id.as_str());
    for value in &filters.binds {
        count_query = count_query.bind(value);
    }
    Ok(count_query.fetch_one(&db.pool).await?.try_get("total")?)
}

/// One page of `query` (its cursor onwards) and the cursor after it, if there are more.
async fn fetch_page(
    db: &Db,
    workspace: &Workspace,
    query: &LeadQuery,
    phone_match: PhoneMatch,
) -> AppResult<(Vec<LeadRecord>, Option<String>)> {
    let limit = query.limit.clamp(1, 500);
    let filters = filters_matching(workspace, query, phone_match);
    let column = query.sort.column();
    let (order, compare) = if query.descending { ("DESC", "<") } else { ("ASC", ">") };
    let cursor = query.cursor.as_deref().map(|c| decode_cursor(c, query.sort, query.descending)).transpose()?;

    // `merged_into IS NULL` as the partial indexes say it (migrations/0007), so they are used.
    let mut sql = format!(
        "SELECT {LEAD_COLUMNS} FROM leads l WHERE l.workspace_id = $1 AND l.merged_into IS NULL{}",
        filters.sql
    );
    let next_param = filters.binds.len() + 2;
    if cursor.is_some() {
        sql.push_str(&format!(" AND ({column}, l.id) {compare} (${next_param}, ${})", next_param + 1));
    }
    // Sorting by an expression keeps the planner from walking the sort index when a
    // search narrows the rows: finding the few matches first and sorting them is far
    // cheaper. (`+ 0` / `|| ''` leave the order as it is, on both engines.)
    let sort_by = match (filters.searching, query.sort) {
        (false, _) => column.to_string(),
        (true, SortKey::Name) => format!("({column} || '')"),
        (true, _) => format!("({column} + 0)"),
    };
    sql.push_str(&format!(" ORDER BY {sort_by} {order}, l.id {order} LIMIT {}", limit + 1));

    let mut page_query = sqlx::query(&sql).bind(workspace.id.as_str());
    for value in &filters.binds {
        page_query = page_query.bind(value);
    }
    if let Some((key, id)) = &cursor {
        page_query = match key {
            CursorKey::Number(n) => page_query.bind(*n),
            CursorKey::Text(t) => page_query.bind(t.clone()),
        }
        .bind(id.clone());
    }
    let rows = page_query.fetch_all(&db.pool).await?;
    let mut leads = rows.iter().map(lead_from_row).collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if leads.len() > limit {
        leads.truncate(limit);
        leads.last().map(|last| encode_cursor(query.sort, query.descending, last))
    } else {
        None
    };
    Ok((leads, next_cursor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges_end_after_every_extension() {
        assert_eq!(after_prefix("6281").as_deref(), Some("6282"));
        assert_eq!(after_prefix("629").as_deref(), Some("63"));
        assert_eq!(after_prefix("999"), None);
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
