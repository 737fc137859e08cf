//! Test harness: a real leadline app on a random port against a fresh database of
//! either engine, driven over HTTP like Kapso and an integrator would.
//!
//! PostgreSQL tests need a server: `scripts/test` starts a throwaway cluster and sets
//! `LEADLINE_TEST_PG_URL` (an admin URL); each test gets a database of its own there.

#![allow(dead_code)]

use leadline::server::{
    db::Db,
    http::{app, AppState},
    webhook::signature::sign,
    workspaces::{self, NewWorkspace, Workspace},
};
use leptos::config::LeptosOptions;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, Executor};
use std::{
    path::PathBuf,
    sync::atomic::{AtomicU64, Ordering},
};

pub use leadline::server::db::Engine;

pub const PHONE_NUMBER_ID: &str = "123456789012345";

/// Runs one async test body against SQLite and against PostgreSQL.
#[macro_export]
macro_rules! on_both_engines {
    ($(async fn $name:ident($app:ident: TestApp) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_mut)]
            async fn run(mut $app: $crate::support::TestApp) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::support::TestApp::spawn($crate::support::Engine::Sqlite).await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run($crate::support::TestApp::spawn($crate::support::Engine::Postgres).await).await
            }
        }
    )*};
}

/// A fresh, empty database of one engine; removed (SQLite) when dropped.
pub struct TestDatabase {
    pub url: String,
    pub engine: Engine,
    dir: Option<PathBuf>,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

fn unique_name() -> String {
    format!(
        "{}_{}_{}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::Relaxed),
        leadline::server::secrets::random_hex(4)
    )
}

impl TestDatabase {
    pub async fn create(engine: Engine) -> TestDatabase {
        match engine {
            Engine::Sqlite => {
                let dir = std::env::temp_dir().join(format!("leadline-test-{}", unique_name()));
                std::fs::create_dir_all(&dir).unwrap();
                TestDatabase { url: format!("sqlite://{}/leadline.db", dir.display()), engine, dir: Some(dir) }
            }
            Engine::Postgres => {
                let admin = std::env::var("LEADLINE_TEST_PG_URL").expect(
                    "PostgreSQL tests need LEADLINE_TEST_PG_URL (an admin URL); scripts/test starts a server and sets it",
                );
                let name = format!("t_{}", unique_name());
                sqlx::any::install_default_drivers();
                let mut conn = sqlx::AnyConnection::connect(&admin).await.expect("connect to the test PostgreSQL");
                conn.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
                conn.close().await.unwrap();
                let (base, _) = admin.rsplit_once('/').expect("admin URL ends with /database");
                TestDatabase { url: format!("{base}/{name}"), engine, dir: None }
            }
        }
    }
}

/// A running app, one workspace in it, and the credentials to drive it.
pub struct TestApp {
    pub base_url: String,
    pub db: Db,
    pub state: AppState,
    pub workspace: Workspace,
    pub webhook_secret: String,
    pub verify_token: String,
    pub api_token: String,
    pub http: reqwest::Client,
    pub database: TestDatabase,
}

pub fn leptos_options(addr: std::net::SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("leadline")
        .site_root(concat!(env!("CARGO_MANIFEST_DIR"), "/target/site"))
        .site_addr(addr)
        .build()
}

/// A second replica of `app` in this process, on the same database (PostgreSQL: live
/// updates cross between them through NOTIFY); its base URL.
pub async fn second_replica(first: &TestApp) -> String {
    let db = Db::open(&first.database.url).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::new(db, leptos_options(addr), Some(&first.database.url)).await.unwrap();
    let router = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// Serves the app on a random port; returns its base URL.
async fn serve(db: Db, url: &str) -> (String, AppState) {
    serve_configured(db, url, |_| {}).await
}

/// The same, with security settings (https, `TRUST_PROXY`, argon2 slots) the test chooses.
async fn serve_configured(
    db: Db,
    url: &str,
    configure: impl FnOnce(&mut leadline::server::security::SecurityConfig),
) -> (String, AppState) {
    serve_replying(db, url, configure, None).await
}

/// The same, with the reply sender pointed where the test says (a fake Kapso).
async fn serve_replying(
    db: Db,
    url: &str,
    configure: impl FnOnce(&mut leadline::server::security::SecurityConfig),
    replies: Option<leadline::server::replies::ReplyConfig>,
) -> (String, AppState) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = match replies {
        Some(config) => AppState::with_replies(db, leptos_options(addr), Some(url), config).await.unwrap(),
        None => AppState::new(db, leptos_options(addr), Some(url)).await.unwrap(),
    };
    let mut security = (*state.security).clone();
    configure(&mut security);
    let state = state.with_security(security);
    let router = app(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), state)
}

/// A database as an older leadline left it: only the migrations before `version`, and
/// one workspace. Tests write rows the way that version did through `db`, then
/// [`OldDatabase::upgrade`] starts this version on it (which migrates it).
pub struct OldDatabase {
    pub database: TestDatabase,
    pub db: Db,
    pub workspace: Workspace,
    secrets: workspaces::IssuedSecrets,
    version: i64,
}

impl OldDatabase {
    pub async fn made_before(engine: Engine, version: i64) -> OldDatabase {
        let database = TestDatabase::create(engine).await;
        let db = Db::open_before(&database.url, version).await.expect("open a database of the older schema");
        let (workspace, secrets) = workspaces::create(
            &db,
            NewWorkspace {
                name: "Lama".into(),
                phone_number_id: PHONE_NUMBER_ID.into(),
                region: "ID".into(),
                time_zone: "Asia/Jakarta".into(),
                allow_unsigned_webhooks: false,
            },
        )
        .await
        .expect("a workspace in the older schema");
        let workspace = if version <= 13 { with_uuid_id(&db, workspace).await } else { workspace };
        OldDatabase { database, db, workspace, secrets, version }
    }

    pub async fn upgrade(self) -> TestApp {
        self.db.pool.close().await;
        let (webhook_secret, api_token) = (self.secrets.webhook_secret.unwrap(), self.secrets.api_token.unwrap());
        TestApp::spawn_existing(self.database, new_style(self.workspace), webhook_secret, api_token).await
    }

    /// This version's app on the old database with every migration applied but
    /// `version` itself: for a migration that only rewrites data (0013), it writes rows
    /// exactly as the version before did. [`TestApp::upgrade`] then restarts it, which
    /// applies `version`.
    pub async fn served_without_its_migration(self) -> TestApp {
        self.db.migrate_all_but(self.version).await.expect("the later migrations");
        let (base_url, state) = serve(self.db.clone(), &self.database.url).await;
        TestApp {
            base_url,
            db: self.db,
            state,
            workspace: self.workspace,
            webhook_secret: self.secrets.webhook_secret.unwrap(),
            verify_token: self.secrets.verify_token.unwrap(),
            api_token: self.secrets.api_token.unwrap(),
            http: reqwest::Client::new(),
            database: self.database,
        }
    }
}

/// Gives a workspace that has no rows yet the UUID id versions before migration 0013
/// made (`0190a0a0-0000-7000-8000-` and its current id): the id 0013 turns it back into.
pub async fn with_uuid_id(db: &Db, mut workspace: Workspace) -> Workspace {
    let uuid = format!("0190a0a0-0000-7000-8000-{}", workspace.id);
    db.pool
        .execute(sqlx::query("UPDATE workspaces SET id = $1 WHERE id = $2").bind(&uuid).bind(workspace.id.as_str()))
        .await
        .expect("give the workspace an old-style id");
    workspace.id = leadline::server::ids::WorkspaceId::from_db(uuid);
    workspace
}

/// The workspace as migration 0013 leaves it.
fn new_style(mut workspace: Workspace) -> Workspace {
    workspace.id = leadline::server::ids::WorkspaceId::parse(workspace.id.as_str()).expect("a workspace id");
    workspace
}
impl TestApp {
    pub async fn spawn(engine: Engine) -> TestApp {
        let database = TestDatabase::create(engine).await;
        Self::spawn_on(database).await
    }

    /// Another replica of the app on the same database (its own pool, its own
    /// PostgreSQL live relay): what several leadline processes behind a load balancer are.
    pub async fn replica(&self) -> String {
        let db = Db::open(&self.database.url).await.expect("open test database");
        let (base_url, _) = serve(db, &self.database.url).await;
        base_url
    }

    /// The app on a database that already holds a workspace (e.g. made by an older version).
    pub async fn spawn_existing(
        database: TestDatabase,
        workspace: Workspace,
        webhook_secret: String,
        api_token: String,
    ) -> TestApp {
        let db = Db::open(&database.url).await.expect("open test database");
        let (base_url, state) = serve(db.clone(), &database.url).await;
        TestApp {
            base_url,
            db,
            state,
            workspace,
            webhook_secret,
            verify_token: String::new(),
            api_token,
            http: reqwest::Client::new(),
            database,
        }
    }

    /// Stops using this app's database and starts this version on it (which migrates
    /// it): an upgrade of an app made by [`OldDatabase::served_without_its_migration`]. The old server
    /// task stays behind on a closed pool.
    pub async fn upgrade(self) -> TestApp {
        self.db.pool.close().await;
        let mut app =
            TestApp::spawn_existing(self.database, new_style(self.workspace), self.webhook_secret, self.api_token)
                .await;
        app.verify_token = self.verify_token;
        app
    }

    pub async fn spawn_on(database: TestDatabase) -> TestApp {
        Self::spawn_configured(database, |_| {}).await
    }

    /// An app whose reply sender posts to `replies.api_base` (a fake Kapso).
    pub async fn spawn_replying(engine: Engine, replies: leadline::server::replies::ReplyConfig) -> TestApp {
        let database = TestDatabase::create(engine).await;
        let db = Db::open(&database.url).await.expect("open test database");
        let (base_url, state) = serve_replying(db.clone(), &database.url, |_| {}, Some(replies)).await;
        Self::with_workspace(base_url, db, state, database).await
    }

    /// Another replica on the same database, with its own sender.
    pub async fn replica_replying(&self, replies: leadline::server::replies::ReplyConfig) -> String {
        let db = Db::open(&self.database.url).await.expect("open test database");
        serve_replying(db, &self.database.url, |_| {}, Some(replies)).await.0
    }

    /// An app whose security settings (https, `TRUST_PROXY`, argon2 slots) the test chooses.
    pub async fn spawn_with(
        engine: Engine,
        configure: impl FnOnce(&mut leadline::server::security::SecurityConfig),
    ) -> TestApp {
        Self::spawn_configured(TestDatabase::create(engine).await, configure).await
    }

    async fn spawn_configured(
        database: TestDatabase,
        configure: impl FnOnce(&mut leadline::server::security::SecurityConfig),
    ) -> TestApp {
        let db = Db::open(&database.url).await.expect("open test database");
        let (base_url, state) = serve_configured(db.clone(), &database.url, configure).await;
        Self::with_workspace(base_url, db, state, database).await
    }

    async fn with_workspace(base_url: String, db: Db, state: AppState, database: TestDatabase) -> TestApp {
        let (workspace, secrets) = workspaces::create(
            &db,
            NewWorkspace {
                name: "Toko Maju".into(),
                phone_number_id: PHONE_NUMBER_ID.into(),
                region: "ID".into(),
                time_zone: "Asia/Jakarta".into(),
                allow_unsigned_webhooks: false,
            },
        )
        .await
        .unwrap();
        TestApp {
            base_url,
            db,
            state,
            workspace,
            webhook_secret: secrets.webhook_secret.unwrap(),
            verify_token: secrets.verify_token.unwrap(),
            api_token: secrets.api_token.unwrap(),
            http: reqwest::Client::new(),
            database,
        }
    }

    /// Another workspace in the same app, with its own number and token.
    pub async fn second_workspace(&self, phone_number_id: &str) -> (Workspace, String, String) {
        let (workspace, secrets) = workspaces::create(
            &self.db,
            NewWorkspace {
                name: "Toko Lain".into(),
                phone_number_id: phone_number_id.into(),
                region: "ID".into(),
                time_zone: "Asia/Jakarta".into(),
                allow_unsigned_webhooks: false,
            },
        )
        .await
        .unwrap();
        (workspace, secrets.webhook_secret.unwrap(), secrets.api_token.unwrap())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A delivery signed the way Kapso signs (hex HMAC in X-Webhook-Signature).
    pub async fn deliver(&self, body: &Value, event: Option<&str>) -> Reply {
        let raw = serde_json::to_vec(body).unwrap();
        self.deliver_bytes(&raw, event, None).await
    }

    pub async fn deliver_bytes(&self, raw: &[u8], event: Option<&str>, idempotency_key: Option<&str>) -> Reply {
        let mut request = self
            .http
            .post(self.url("/api/webhook/kapso"))
            .header("content-type", "application/json")
            .header("x-webhook-signature", sign(&self.webhook_secret, raw))
            .header("x-webhook-payload-version", "v2")
            .body(raw.to_vec());
        if let Some(event) = event {
            request = request.header("x-webhook-event", event);
        }
        if let Some(key) = idempotency_key {
            request = request.header("x-idempotency-key", key);
        }
        Reply::from(request.send().await.unwrap()).await
    }

    /// A Meta-format delivery, signed with `X-Hub-Signature-256: sha256=…`.
    pub async fn deliver_meta(&self, body: &Value) -> Reply {
        let raw = serde_json::to_vec(body).unwrap();
        let response = self
            .http
            .post(self.url("/api/webhook/kapso"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", format!("sha256={}", sign(&self.webhook_secret, &raw)))
            .body(raw)
            .send()
            .await
            .unwrap();
        Reply::from(response).await
    }

    pub async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        self.api_as(&self.api_token, method, path, body).await
    }

    pub async fn api_as(&self, token: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::from(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.api(reqwest::Method::GET, path, None).await
    }

    /// Every lead of the workspace, through the API's pagination.
    pub async fn all_leads(&self) -> Vec<Value> {
        let mut leads = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/leads?limit=100&cursor={c}"),
                None => "/api/v1/leads?limit=100".to_string(),
            };
            let reply = self.get(&path).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            leads.extend(reply.body["leads"].as_array().unwrap().iter().cloned());
            match reply.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return leads,
            }
        }
    }

    pub async fn count(&self, table: &str) -> i64 {
        use sqlx::Row;
        sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
            .try_get("n")
            .unwrap()
    }

    /// One row of a table as (column → value) for exact before/after comparisons.
    pub async fn lead_row(&self, phone_normalized: &str) -> Value {
        use sqlx::Row;
        let row = sqlx::query(
            "SELECT l.id, l.name, l.kapso_name, l.last_activity_at, l.updated_at, l.kapso_conversation_id, \
             (SELECT CAST(COALESCE(SUM(c.unread_count), 0) AS BIGINT) FROM conversations c WHERE c.lead_id = l.id) AS unread, \
             (SELECT COUNT(*) FROM messages m WHERE m.lead_id = l.id) AS messages \
             FROM leads l WHERE l.phone_normalized = $1",
        )
        .bind(phone_normalized)
        .fetch_one(&self.db.pool)
        .await
        .unwrap();
        json!({
            "id": row.try_get::<String, _>("id").unwrap(),
            "name": row.try_get::<Option<String>, _>("name").unwrap(),
            "kapso_name": row.try_get::<Option<String>, _>("kapso_name").unwrap(),
            "last_activity_at": row.try_get::<Option<i64>, _>("last_activity_at").unwrap(),
            "updated_at": row.try_get::<i64, _>("updated_at").unwrap(),
            "kapso_conversation_id": row.try_get::<Option<String>, _>("kapso_conversation_id").unwrap(),
            "unread": row.try_get::<i64, _>("unread").unwrap(),
            "messages": row.try_get::<i64, _>("messages").unwrap(),
        })
    }
}

/// A response, read whole: status, headers and the body as JSON (or a string).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn from(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply { status, headers, body }
    }

    /// Asserts the status and returns the body.
    #[track_caller]
    pub fn expect(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        &self.body
    }
}

// ---- Payload builders: the shapes of ../shared/fixtures/kapso, parameterised. ----

pub const CONVERSATION_ID: &str = "3f1c2b7e-8d4a-4c1e-9a55-2b6f0d9e7a11";

/// A Kapso v2 `whatsapp.message.received` body.
pub fn v2_text(wamid: &str, phone: &str, conversation_id: &str, profile_name: Option<&str>, text: &str) -> Value {
    json!({
        "message": {
            "id": wamid,
            "timestamp": "1767243600",
            "type": "text",
            "text": { "body": text },
            "kapso": { "direction": "inbound", "status": "received", "has_media": false, "content": text }
        },
        "conversation": {
            "id": conversation_id,
            "phone_number": phone,
            "status": "active",
            "phone_number_id": PHONE_NUMBER_ID,
            "kapso": { "contact_name": profile_name }
        },
        "is_new_conversation": false,
        "phone_number_id": PHONE_NUMBER_ID
    })
}

/// A Kapso v2 `whatsapp.message.received` body naming the customer by any mix of phone,
/// BSUID and username (2026 shapes: `conversation.business_scoped_user_id`,
/// `message.from_user_id`, `phone_number: null`).
pub fn v2_person(
    wamid: &str,
    phone: Option<&str>,
    bsuid: Option<&str>,
    conversation_id: &str,
    username: Option<&str>,
    text: &str,
) -> Value {
    let mut body = v2_text(wamid, phone.unwrap_or(""), conversation_id, None, text);
    body["conversation"]["phone_number"] = json!(phone);
    body["conversation"]["business_scoped_user_id"] = json!(bsuid);
    body["conversation"]["username"] = json!(username);
    if let Some(bsuid) = bsuid {
        body["message"]["from_user_id"] = json!(bsuid);
    }
    body
}

/// A Meta-forwarded text message with `contacts[].user_id` / `messages[].from_user_id`;
/// `wa_id` may be absent (a user who shared no number).
pub fn meta_person(
    wamid: &str,
    wa_id: Option<&str>,
    user_id: Option<&str>,
    username: Option<&str>,
    text: &str,
) -> Value {
    let mut contact = json!({ "profile": { "name": "Dewi" } });
    let mut message = json!({ "id": wamid, "timestamp": "1780041700", "type": "text", "text": { "body": text } });
    if let Some(wa_id) = wa_id {
        contact["wa_id"] = json!(wa_id);
        message["from"] = json!(wa_id);
    }
    if let Some(user_id) = user_id {
        contact["user_id"] = json!(user_id);
        message["from_user_id"] = json!(user_id);
    }
    if let Some(username) = username {
        contact["profile"]["username"] = json!(username);
    }
    meta_delivery(json!({ "contacts": [contact], "messages": [message] }))
}

/// A Meta webhook delivery to our number carrying `value`'s fields (`contacts`,
/// `messages`, `statuses`) in its one change.
pub fn meta_delivery(value: Value) -> Value {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({ "display_phone_number": "6281100002222", "phone_number_id": PHONE_NUMBER_ID });
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": value }] }]
    })
}

/// A Meta `user_changed_number` system message: `from` the old number, `system.wa_id` the new.
pub fn meta_changed_number(wamid: &str, old: &str, new: &str) -> Value {
    meta_delivery(json!({
        "messages": [{
            "from": old, "id": wamid, "timestamp": "1780042000", "type": "system",
            "system": { "body": format!("User changed from {old} to {new}"), "wa_id": new, "type": "user_changed_number" }
        }]
    }))
}

/// A Kapso v2 outbound message event (sent / delivered / read / failed).
pub fn v2_outbound(wamid: &str, phone: &str, conversation_id: &str, status: &str, text: &str) -> Value {
    json!({
        "message": {
            "id": wamid,
            "timestamp": "1767243650",
            "type": "text",
            "to": phone.trim_start_matches('+'),
            "text": { "body": text },
            "kapso": { "direction": "outbound", "status": status, "content": text }
        },
        "conversation": { "id": conversation_id, "phone_number": phone, "phone_number_id": PHONE_NUMBER_ID },
        "phone_number_id": PHONE_NUMBER_ID
    })
}

pub fn v2_batch(items: Vec<Value>) -> Value {
    let size = items.len();
    json!({
        "type": "whatsapp.message.received",
        "batch": true,
        "data": items,
        "batch_info": { "size": size, "window_ms": 5000 }
    })
}

/// A Meta-forwarded text message; `wa_id` as WhatsApp writes it (digits, no `+`).
pub fn meta_text(wamid: &str, wa_id: &str, profile_name: &str, text: &str) -> Value {
    meta_delivery(json!({
        "contacts": [{ "profile": { "name": profile_name }, "wa_id": wa_id }],
        "messages": [{ "from": wa_id, "id": wamid, "timestamp": "1767243700", "type": "text", "text": { "body": text } }]
    }))
}

pub fn meta_status(wamid: &str, status: &str, recipient: &str) -> Value {
    meta_delivery(json!({
        "statuses": [{ "id": wamid, "status": status, "timestamp": "1767243800", "recipient_id": recipient }]
    }))
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kapso").join(name)).unwrap()
}

/// A deterministic shuffle (no randomness in tests without a seed to replay it).
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    for i in (1..items.len()).rev() {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let j = (state >> 33) as usize % (i + 1);
        items.swap(i, j);
    }
}

// ---- Browsers: people signed in with a session cookie ----

pub const PASSWORD: &str = "correct horse battery";

/// A browser-like client: keeps its session cookie, sends same-origin headers on
/// state-changing requests (as browsers do), and does not follow redirects.
#[derive(Clone)]
pub struct Browser {
    pub base_url: String,
    pub cookie: Option<String>,
    pub http: reqwest::Client,
}

impl Browser {
    pub fn anonymous(app: &TestApp) -> Browser {
        Browser::anonymous_at(&app.base_url)
    }

    pub fn anonymous_at(base_url: &str) -> Browser {
        Browser {
            base_url: base_url.to_string(),
            cookie: None,
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base_url));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie.clone());
        }
        if method != reqwest::Method::GET {
            request = request.header("origin", self.base_url.clone()).header("sec-fetch-site", "same-origin");
        }
        request
    }

    /// A page load: asks for HTML, as a browser's navigation does.
    pub async fn get(&self, path: &str) -> Reply {
        Reply::from(self.request(reqwest::Method::GET, path).header("accept", "text/html").send().await.unwrap()).await
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        Reply::from(self.request(reqwest::Method::POST, path).form(form).send().await.unwrap()).await
    }

    /// A form submitted by the browser itself (no JavaScript): it asks for HTML back.
    pub async fn submit_form(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        Reply::from(
            self.request(reqwest::Method::POST, path).header("accept", "text/html").form(form).send().await.unwrap(),
        )
        .await
    }

    /// Calls a server function the way the hydrated page does (urlencoded in, JSON out).
    pub async fn call(&self, endpoint: &str, form: &[(&str, &str)]) -> Reply {
        self.post_form(&format!("/api/{endpoint}"), form).await
    }

    /// Signs in through the real form; the session cookie is kept.
    pub async fn sign_in(app: &TestApp, email: &str, password: &str) -> Browser {
        Browser::sign_in_at(&app.base_url, email, password).await
    }

    pub async fn sign_in_at(base_url: &str, email: &str, password: &str) -> Browser {
        let mut browser = Browser::anonymous_at(base_url);
        let reply = browser.post_form("/login", &[("email", email), ("password", password)]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        browser.cookie = Some(session_cookie(&reply).expect("sign-in sets the session cookie"));
        browser
    }
}

/// `leadline_session=…` from a response's Set-Cookie, if any.
pub fn session_cookie(reply: &Reply) -> Option<String> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("leadline_session=") && !v.starts_with("leadline_session=;"))
        .map(|v| v.split(';').next().unwrap().to_string())
}

impl TestApp {
    /// A person with `role` in the app's workspace, not signed in anywhere.
    pub async fn member_without_sign_in(&self, email: &str, role: leadline::model::Role) {
        use leadline::server::accounts;
        let user = match accounts::find_user_by_email(&self.db, email).await.unwrap() {
            Some(user) => user.id,
            None => accounts::create_user(&self.db, email, PASSWORD).await.unwrap(),
        };
        accounts::set_membership(&self.db, &self.workspace.id, &user, role).await.unwrap();
    }

    /// A person with `role` in `workspace` (the app's own when `None`).
    pub async fn member(&self, email: &str, role: leadline::model::Role, workspace: Option<&Workspace>) -> Browser {
        use leadline::server::accounts;
        let workspace = workspace.unwrap_or(&self.workspace);
        let user = match accounts::find_user_by_email(&self.db, email).await.unwrap() {
            Some(user) => user.id,
            None => accounts::create_user(&self.db, email, PASSWORD).await.unwrap(),
        };
        accounts::set_membership(&self.db, &workspace.id, &user, role).await.unwrap();
        Browser::sign_in(self, email, PASSWORD).await
    }
}

/// Reads a streamed response (Server-Sent Events) until `needle` appears or `within`
/// passes; returns everything read if the needle came.
pub async fn read_stream_until(
    response: &mut reqwest::Response,
    needle: &str,
    within: std::time::Duration,
) -> Option<String> {
    tokio::time::timeout(within, async {
        let mut seen = String::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains(needle) {
                return Some(seen);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}
