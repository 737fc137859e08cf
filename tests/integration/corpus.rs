//! Every delivery WhatsApp documents is accepted (issue 16): a corpus of Meta's example
//! payloads for every message type, status and error notice, and their Kapso v2
//! equivalents (tests/fixtures/corpus), each signed as its sender signs it.
//! Well-formed, signed and routable means 200; inbound messages are stored under their
//! id with a readable preview; statuses and error notices never create a lead.

use crate::support::*;
use leadline::server::webhook::signature::sign;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Row;

pub fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| (path.file_stem().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap()))
        .collect();
    files.sort();
    assert!(files.len() >= 50, "the corpus is in {}", dir.display());
    files
}

/// The `X-Webhook-Event` Kapso sends with a corpus file (`kapso-<event>-…`).
pub fn event_of(name: &str) -> Option<String> {
    let rest = name.strip_prefix("kapso-")?;
    Some(format!("whatsapp.message.{}", rest.split('-').next().unwrap()))
}

/// Whether the file reports a message a customer wrote.
fn is_inbound(name: &str) -> bool {
    name.starts_with("kapso-received-")
        || (name.starts_with("meta-") && !name.starts_with("meta-status-") && name != "meta-errors-only")
}

/// Delivers a corpus file as its sender would: Meta signs with X-Hub-Signature-256.
pub async fn deliver_file(app: &TestApp, name: &str, raw: &[u8]) -> Reply {
    if name.starts_with("meta-") {
        let response = app
            .http
            .post(app.url("/api/webhook/kapso"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", format!("sha256={}", sign(&app.webhook_secret, raw)))
            .body(raw.to_vec())
            .send()
            .await
            .unwrap();
        Reply::from(response).await
    } else {
        app.deliver_bytes(raw, event_of(name).as_deref(), None).await
    }
}

fn inbound_wamid(body: &Value) -> String {
    let id = body
        .pointer("/entry/0/changes/0/value/messages/0/id")
        .or_else(|| body.pointer("/message/id"))
        .and_then(Value::as_str);
    id.unwrap().to_string()
}

on_both_engines! {
    async fn every_documented_delivery_is_accepted_and_stored_sensibly(app: TestApp) {
        let files = corpus();
        // Statuses, error notices and outbound events first: none of them may create a lead.
        for (name, raw) in files.iter().filter(|(name, _)| !is_inbound(name)) {
            let reply = deliver_file(&app, name, raw).await;
            assert_eq!(reply.status, StatusCode::OK, "{name}: {}", reply.body);
            assert_eq!(app.count("leads").await, 0, "{name} created a lead");
        }
        assert_eq!(app.count("messages").await, 0);

        for (name, raw) in files.iter().filter(|(name, _)| is_inbound(name)) {
            let reply = deliver_file(&app, name, raw).await;
            let body = reply.expect(StatusCode::OK);
            let wamid = inbound_wamid(&serde_json::from_slice(raw).unwrap());
            let result = &body["results"][0];
            assert_eq!(result["outcome"], "created", "{name}: {body}");
            assert_eq!(result["kapso_message_id"], wamid.as_str(), "{name}");
            let row = sqlx::query(
                "SELECT m.message_type, m.content, c.last_message_preview FROM messages m \
                 JOIN conversations c ON c.id = m.conversation_id WHERE m.kapso_message_id = $1",
            )
            .bind(&wamid)
            .fetch_one(&app.db.pool)
            .await
            .unwrap_or_else(|e| panic!("{name}: message {wamid} not stored: {e}"));
            let preview: Option<String> = row.try_get("last_message_preview").unwrap();
            let preview = preview.unwrap_or_default();
            assert!(!preview.trim().is_empty(), "{name}: empty preview");
            if name.ends_with("-contacts") {
                assert!(preview.starts_with("Shared contact: Ani Wijaya, +62 812-3456-7801"), "{name}: {preview}");
            }
            if name.ends_with("-unknown-future-type") || name.ends_with("-unsupported") {
                assert!(preview.starts_with('['), "{name}: a readable placeholder, not {preview}");
            }
        }
        // One customer per format, whatever they sent.
        assert_eq!(app.count("leads").await, 1, "Meta and Kapso name the same customer");
        assert_eq!(app.count("webhook_deliveries").await, files.len() as i64, "every delivery is in the log");

        // The contact card is kept with its message.
        let cards: Option<String> = sqlx::query("SELECT shared_contacts FROM messages WHERE message_type = 'contacts' ORDER BY id LIMIT 1")
            .fetch_one(&app.db.pool).await.unwrap().try_get("shared_contacts").unwrap();
        let cards: Value = serde_json::from_str(&cards.expect("cards stored")).unwrap();
        assert_eq!(cards[0]["name"], "Ani Wijaya");
        assert_eq!(cards[0]["phones"][0]["wa_id"], "6281234567801");
        assert_eq!(cards[1]["name"], "Barbara Johnson");

        // Error notices are counted for the owners, with code and title.
        let health = sqlx::query("SELECT kind, code, title, seen_count FROM webhook_health ORDER BY code")
            .fetch_all(&app.db.pool).await.unwrap();
        let health: Vec<(String, String, String, i64)> = health.iter().map(|r| (
            r.try_get("kind").unwrap(), r.try_get("code").unwrap(), r.try_get("title").unwrap(), r.try_get("seen_count").unwrap(),
        )).collect();
        assert!(health.contains(&("error_notice".into(), "130429".into(), "Rate limit hit".into(), 1)), "{health:?}");
        assert!(health.iter().any(|(kind, code, _, n)| kind == "error_notice" && code == "131047" && *n == 2), "{health:?}");
    }

    async fn an_errors_only_change_is_routed_and_acknowledged(app: TestApp) {
        let raw = corpus().into_iter().find(|(name, _)| name == "meta-errors-only").unwrap().1;
        let reply = deliver_file(&app, "meta-errors-only", &raw).await;
        let result = &reply.expect(StatusCode::OK)["results"][0];
        assert_eq!(result["type"], "error");
        assert_eq!(result["outcome"], "recorded");
        assert_eq!(result["reason"], "130429 Rate limit hit");
        // Kept in the delivery log, verbatim.
        let id: String = sqlx::query("SELECT id FROM webhook_deliveries").fetch_one(&app.db.pool).await.unwrap().try_get("id").unwrap();
        let logged = leadline::server::webhook::log::load(&app.db, &id).await.unwrap();
        assert_eq!(logged.raw_body.as_bytes(), &raw[..]);
        // Unsigned, it is still refused; for another number, still 404.
        let unsigned = app.http.post(app.url("/api/webhook/kapso")).header("content-type", "application/json").body(raw.clone()).send().await.unwrap();
        assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
        let elsewhere = String::from_utf8(raw).unwrap().replace(PHONE_NUMBER_ID, "999888777");
        deliver_file(&app, "meta-errors-only", elsewhere.as_bytes()).await.expect(StatusCode::NOT_FOUND);
        assert_eq!(app.count("leads").await, 0);
    }
}
