//! People: users, passwords (argon2id), memberships with roles, and the one-time setup
//! link of a fresh install.

use crate::model::Role;
use crate::server::{
    clock::now_ms,
    db::{is_unique_violation, Db},
    error::{AppError, AppResult},
    ids::{UserId, WorkspaceId},
    secrets,
};
use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use sqlx::Row;

pub const PASSWORD_MIN_CHARS: usize = 10;
pub const PASSWORD_MAX_CHARS: usize = 512;

/// Lowercased, trimmed, and shaped like an address (one `@`, something on each side,
/// a dot in the domain, no spaces); what else is valid is the mail system's business.
pub fn normalize_email(input: &str) -> AppResult<String> {
    let email = input.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && domain.contains('.') && !domain.contains('@')
                && !domain.starts_with('.') && !domain.ends_with('.'));
    if valid {
        Ok(email)
    } else {
        Err(AppError::Unprocessable(format!("`{}` is not an email address", input.trim())))
    }
}

pub fn check_password(password: &str) -> AppResult<()> {
    let chars = password.chars().count();
    if chars < PASSWORD_MIN_CHARS {
        return Err(AppError::Unprocessable(format!("a password needs at least {PASSWORD_MIN_CHARS} characters")));
    }
    if chars > PASSWORD_MAX_CHARS {
        return Err(AppError::Unprocessable(format!("a password may have at most {PASSWORD_MAX_CHARS} characters")));
    }
    Ok(())
}

/// argon2id with the crate's recommended parameters, off the async threads (it is
/// deliberately slow).
pub async fn hash_password(password: String) -> AppResult<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| AppError::Internal(format!("password hashing task failed: {e}")))?
}

/// Checks a password against a stored hash. For an unknown account pass `None`: a
/// dummy hash is checked instead, so the answer takes as long either way and timing
/// does not reveal which emails have accounts.
pub async fn verify_password(stored: Option<String>, password: String) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    tokio::task::spawn_blocking(move || {
        let dummy = DUMMY.get_or_init(|| {
            Argon2::default()
                .hash_password(b"leadline-dummy-password", &SaltString::generate(&mut OsRng))
                .map(|h| h.to_string())
                .unwrap_or_default()
        });
        let known = stored.is_some();
        let hash_text = stored.unwrap_or_else(|| dummy.clone());
        let Ok(hash) = PasswordHash::new(&hash_text) else { return false };
        Argon2::default().verify_password(password.as_bytes(), &hash).is_ok() && known
    })
    .await
    .unwrap_or(false)
}

#[derive(Clone, Debug)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub password_hash: String,
}

pub async fn find_user_by_email(db: &Db, email: &str) -> AppResult<Option<User>> {
    let row = sqlx::query("SELECT id, email, password_hash FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(&db.pool)
        .await?;
    Ok(match row {
        Some(row) => Some(User {
            id: UserId::from_db(row.try_get("id")?),
            email: row.try_get("email")?,
            password_hash: row.try_get("password_hash")?,
        }),
        None => None,
    })
}

pub async fn user_count(db: &Db) -> AppResult<i64> {
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(&db.pool).await?.try_get("n")?)
}

/// Creates an account; 409 if the email already has one.
pub async fn create_user(db: &Db, email: &str, password: &str) -> AppResult<UserId> {
    let email = normalize_email(email)?;
    check_password(password)?;
    let hash = hash_password(password.to_string()).await?;
    let id = UserId::generate();
    let now = now_ms();
    let inserted =
        sqlx::query("INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
            .bind(id.as_str())
            .bind(&email)
            .bind(&hash)
            .bind(now)
            .execute(&db.pool)
            .await;
    match inserted {
        Ok(_) => Ok(id),
        Err(err) if is_unique_violation(&err) => {
            Err(AppError::Conflict { message: format!("{email} already has an account"), existing_id: None })
        }
        Err(err) => Err(err.into()),
    }
}

/// Gives a user a role in a workspace, or changes it (never taking away the last owner).
pub async fn set_membership(db: &Db, workspace_id: &WorkspaceId, user_id: &UserId, role: Role) -> AppResult<()> {
    let added = sqlx::query(
        "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (workspace_id, user_id) DO NOTHING",
    )
    .bind(workspace_id.as_str())
    .bind(user_id.as_str())
    .bind(role.as_str())
    .bind(now_ms())
    .execute(&db.pool)
    .await?
    .rows_affected();
    if added == 1 {
        Ok(())
    } else {
        change_role(db, workspace_id, user_id, role).await
    }
}

pub async fn role_in(db: &Db, workspace_id: &WorkspaceId, user_id: &UserId) -> AppResult<Option<Role>> {
    let row = sqlx::query("SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2")
        .bind(workspace_id.as_str())
        .bind(user_id.as_str())
        .fetch_optional(&db.pool)
        .await?;
    Ok(match row {
        Some(row) => Role::parse(&row.try_get::<String, _>("role")?),
        None => None,
    })
}

/// The workspaces a user belongs to, by name.
pub async fn workspaces_of(db: &Db, user_id: &UserId) -> AppResult<Vec<(WorkspaceId, String, Role)>> {
    let rows = sqlx::query(
        "SELECT w.id, w.name, m.role FROM memberships m JOIN workspaces w ON w.id = m.workspace_id \
         WHERE m.user_id = $1 ORDER BY w.name, w.id",
    )
    .bind(user_id.as_str())
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(role) = Role::parse(&row.try_get::<String, _>("role")?) {
            out.push((WorkspaceId::from_db(row.try_get("id")?), row.try_get("name")?, role));
        }
    }
    Ok(out)
}

#[derive(Clone, Debug)]
pub struct MemberRecord {
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
    pub joined_at: i64,
}

pub async fn members(db: &Db, workspace_id: &WorkspaceId) -> AppResult<Vec<MemberRecord>> {
    let rows = sqlx::query(
        "SELECT u.id, u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.workspace_id = $1 ORDER BY u.email",
    )
    .bind(workspace_id.as_str())
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(role) = Role::parse(&row.try_get::<String, _>("role")?) {
            out.push(MemberRecord {
                user_id: UserId::from_db(row.try_get("id")?),
                email: row.try_get("email")?,
                role,
                joined_at: row.try_get("created_at")?,
            });
        }
    }
    Ok(out)
}

/// What refusing to leave a workspace without an owner says.
pub const LAST_OWNER: &str =
    "a workspace needs at least one owner: make someone else an owner first, then change or remove this one";

/// Serialises membership changes of one workspace, so that "is there another owner?"
/// and the change are one step. PostgreSQL locks the workspace's row until the
/// transaction ends; SQLite runs one write statement at a time and each change below is
/// a single conditional statement.
async fn lock_workspace(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    db: &Db,
    workspace_id: &WorkspaceId,
) -> AppResult<()> {
    if db.engine == crate::server::db::Engine::Postgres {
        sqlx::query("SELECT id FROM workspaces WHERE id = $1 FOR UPDATE")
            .bind(workspace_id.as_str())
            .fetch_optional(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The condition "this membership is not the workspace's last owner".
const NOT_THE_LAST_OWNER: &str =
    "(role <> 'owner' OR (SELECT COUNT(*) FROM memberships o      WHERE o.workspace_id = $1 AND o.role = 'owner') > 1)";

/// Changes a member's role; refused (422, [`LAST_OWNER`]) when it would leave the
/// workspace without an owner.
pub async fn change_role(db: &Db, workspace_id: &WorkspaceId, user_id: &UserId, role: Role) -> AppResult<()> {
    let mut tx = db.pool.begin().await?;
    lock_workspace(&mut tx, db, workspace_id).await?;
    let changed = sqlx::query(&format!(
        "UPDATE memberships SET role = $3 WHERE workspace_id = $1 AND user_id = $2          AND ($3 = 'owner' OR {NOT_THE_LAST_OWNER})"
    ))
    .bind(workspace_id.as_str())
    .bind(user_id.as_str())
    .bind(role.as_str())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    if changed == 1 {
        return Ok(());
    }
    match role_in(db, workspace_id, user_id).await? {
        Some(_) => Err(AppError::Unprocessable(LAST_OWNER.into())),
        None => Err(AppError::not_found("member")),
    }
}

/// Removes a member from a workspace; refused (422, [`LAST_OWNER`]) for its last
/// owner. The caller ends their sessions there (`auth::end_sessions`).
pub async fn remove_member(db: &Db, workspace_id: &WorkspaceId, user_id: &UserId) -> AppResult<()> {
    let mut tx = db.pool.begin().await?;
    lock_workspace(&mut tx, db, workspace_id).await?;
    let removed = sqlx::query(&format!(
        "DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2 AND {NOT_THE_LAST_OWNER}"
    ))
    .bind(workspace_id.as_str())
    .bind(user_id.as_str())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    if removed == 1 {
        return Ok(());
    }
    match role_in(db, workspace_id, user_id).await? {
        Some(_) => Err(AppError::Unprocessable(LAST_OWNER.into())),
        None => Err(AppError::not_found("member")),
    }
}

/// A fresh one-time setup token (only its digest is stored). Only issued while nobody
/// has an account.
pub async fn issue_setup_token(db: &Db) -> AppResult<String> {
    let token = secrets::random_hex(24);
    sqlx::query("INSERT INTO setup_tokens (token_sha256, created_at) VALUES ($1, $2)")
        .bind(secrets::sha256_hex(&token))
        .bind(now_ms())
        .execute(&db.pool)
        .await?;
    Ok(token)
}

/// Whether `token` is an unused setup token and nobody has an account yet.
pub async fn setup_token_is_open(db: &Db, token: &str) -> AppResult<bool> {
    if user_count(db).await? > 0 {
        return Ok(false);
    }
    Ok(sqlx::query("SELECT 1 AS one FROM setup_tokens WHERE token_sha256 = $1 AND used_at IS NULL")
        .bind(secrets::sha256_hex(token))
        .fetch_optional(&db.pool)
        .await?
        .is_some())
}

/// Marks the token used; false if it was not open (used, unknown, or raced).
pub async fn consume_setup_token(db: &Db, token: &str) -> AppResult<bool> {
    let used = sqlx::query("UPDATE setup_tokens SET used_at = $1 WHERE token_sha256 = $2 AND used_at IS NULL")
        .bind(now_ms())
        .bind(secrets::sha256_hex(token))
        .execute(&db.pool)
        .await?;
    Ok(used.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(normalize_email("  Sari@Toko.CO.id ").unwrap(), "sari@toko.co.id");
        for bad in ["", "sari", "sari@", "@toko.id", "sari@toko", "sa ri@toko.id", "a@b@c.id", "sari@.id"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_have_a_minimum_length() {
        assert!(check_password("short").is_err());
        assert!(check_password("long enough pw").is_ok());
    }

    #[tokio::test]
    async fn argon2_hashes_verify_and_unknown_accounts_never_do() {
        let hash = hash_password("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(Some(hash.clone()), "correct horse battery".into()).await);
        assert!(!verify_password(Some(hash), "wrong horse battery".into()).await);
        assert!(!verify_password(None, "leadline-dummy-password".into()).await);
    }
}
