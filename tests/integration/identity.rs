//! One person, one lead, in 2026 WhatsApp: BSUIDs, usernames, number changes, several
//! numbers per lead and merges — driven as Kapso delivers, on both engines.

use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const BSUID: &str = "ID.77700011122233344";
const RECEIVED: Option<&str> = Some("whatsapp.message.received");

async fn messages_of(app: &TestApp, lead_id: &str) -> Vec<Value> {
    let reply = app.get(&format!("/api/v1/leads/{lead_id}/messages?limit=200")).await;
    reply.expect(StatusCode::OK)["messages"].as_array().unwrap().clone()
}

async fn only_lead(app: &TestApp) -> Value {
    let leads = app.all_leads().await;
    assert_eq!(leads.len(), 1, "one person, one lead: {leads:#?}");
    leads[0].clone()
}

on_both_engines! {
    async fn phone_and_bsuid_then_bsuid_only_in_one_conversation_is_one_lead(app: TestApp) {
        app.deliver(&v2_person("wamid.S1", Some("+6281200000001"), Some("ID.1234"), "conv-1", None, "halo"), RECEIVED).await.expect(StatusCode::OK);
        app.deliver(&v2_person("wamid.S2", None, Some("ID.1234"), "conv-1", Some("@budi"), "lagi"), RECEIVED).await.expect(StatusCode::OK);
        let lead = only_lead(&app).await;
        assert_eq!(lead["phone_normalized"], "+6281200000001");
        assert_eq!(lead["phones"], json!(["+6281200000001"]));
        assert_eq!(lead["business_scoped_user_id"], "ID.1234");
        assert_eq!(lead["username"], "@budi");
        assert_eq!(lead["display_name"], "@budi");
        assert_eq!(messages_of(&app, lead["id"].as_str().unwrap()).await.len(), 2);
        assert_eq!(lead["unread_count"], 2);
    }

    async fn bsuid_only_then_phone_with_the_same_bsuid_is_one_lead(app: TestApp) {
        let first = app.deliver(&v2_person("wamid.T1", None, Some("ID.fedc"), "conv-a", None, "halo"), RECEIVED).await;
        assert_eq!(first.expect(StatusCode::OK)["results"][0]["lead_created"], true);
        let lead = only_lead(&app).await;
        assert_eq!(lead["phone_normalized"], Value::Null);
        assert_eq!(lead["phones"], json!([]));
        assert_eq!(lead["display_name"], "WhatsApp user ·fedc");
        let second = app.deliver(&v2_person("wamid.T2", Some("+6281200000002"), Some("ID.fedc"), "conv-b", None, "ini nomor saya"), RECEIVED).await;
        assert_eq!(second.expect(StatusCode::OK)["results"][0]["lead_id"], lead["id"]);
        let lead = only_lead(&app).await;
        assert_eq!(lead["phone_normalized"], "+6281200000002", "the first number shared becomes primary");
        assert_eq!(lead["phone"], "+62 812-0000-0002");
        // A later message by phone alone finds the same lead.
        app.deliver(&v2_text("wamid.T3", "+6281200000002", "conv-b", None, "lagi"), RECEIVED).await.expect(StatusCode::OK);
        assert_eq!(only_lead(&app).await["id"], lead["id"]);
        assert_eq!(app.count("messages").await, 3);
    }

    async fn the_bsuid_only_fixture_makes_a_lead_with_its_username(app: TestApp) {
        let reply = app.deliver_bytes(&fixture("v2-message-received-bsuid-only.json"), RECEIVED, None).await;
        assert_eq!(reply.expect(StatusCode::OK)["results"][0]["outcome"], "created");
        let lead = only_lead(&app).await;
        assert_eq!(lead["business_scoped_user_id"], BSUID);
        assert_eq!(lead["username"], "@dewi.kue");
        assert_eq!(lead["display_name"], "Dewi");
        assert_eq!(lead["phone_normalized"], Value::Null);
        assert_eq!(lead["phone"], Value::Null);
        // Searching by username finds it.
        let found = app.get("/api/v1/leads?q=dewi.kue").await;
        assert_eq!(found.expect(StatusCode::OK)["total"], 1);
        let found = app.get("/api/v1/leads?q=%40dewi").await;
        assert_eq!(found.expect(StatusCode::OK)["total"], 1);
        // Meta's format names the same user with contacts[].user_id and a number: one lead.
        let raw = fixture("meta-forwarded-bsuid.json");
        app.deliver_meta(&serde_json::from_slice(&raw).unwrap()).await.expect(StatusCode::OK);
        let lead = only_lead(&app).await;
        assert_eq!(lead["phones"], json!(["+6281377788899"]));
        assert_eq!(lead["business_scoped_user_id"], BSUID);
        assert_eq!(app.count("messages").await, 2);
    }

    async fn meta_contacts_user_id_links_to_the_bsuid_lead(app: TestApp) {
        // A Meta delivery without any number: the BSUID comes from contacts[].user_id only.
        let mut body = meta_person("wamid.M1", None, Some("ID.555"), Some("@sari"), "halo");
        body["entry"][0]["changes"][0]["value"]["messages"][0].as_object_mut().unwrap().remove("from_user_id");
        app.deliver_meta(&body).await.expect(StatusCode::OK);
        let lead = only_lead(&app).await;
        assert_eq!(lead["business_scoped_user_id"], "ID.555");
        assert_eq!(lead["username"], "@sari");
        app.deliver_meta(&meta_person("wamid.M2", Some("6285700000003"), Some("ID.555"), None, "nomor")).await.expect(StatusCode::OK);
        app.deliver(&v2_text("wamid.M3", "+6285700000003", "conv-m", Some("Sari"), "v2"), RECEIVED).await.expect(StatusCode::OK);
        let lead = only_lead(&app).await;
        assert_eq!(lead["phones"], json!(["+6285700000003"]));
        assert_eq!(messages_of(&app, lead["id"].as_str().unwrap()).await.len(), 3);
    }

    async fn a_delivery_naming_two_leads_merges_them_and_records_it(app: TestApp) {
        let phone = app.api(Method::POST, "/api/v1/leads", Some(json!({ "phone": "0812-0000-0009", "name": "Pak Joko", "lead_status": "hot" }))).await;
        let phone_lead = phone.expect(StatusCode::CREATED).clone();
        app.deliver(&v2_person("wamid.U1", None, Some("ID.999"), "conv-u", Some("@joko"), "halo"), RECEIVED).await.expect(StatusCode::OK);
        assert_eq!(app.all_leads().await.len(), 2);
        let bsuid_lead = app.all_leads().await.into_iter().find(|l| l["id"] != phone_lead["id"]).unwrap();
        // One message carrying both identifiers: the same person.
        let reply = app.deliver(&v2_person("wamid.U2", Some("+6281200000009"), Some("ID.999"), "conv-u", None, "dua"), RECEIVED).await;
        let result = &reply.expect(StatusCode::OK)["results"][0];
        assert_eq!(result["lead_id"], phone_lead["id"], "the lead created first survives");
        let lead = only_lead(&app).await;
        assert_eq!(lead["name"], "Pak Joko");
        assert_eq!(lead["lead_status"], "hot");
        assert_eq!(lead["username"], "@joko");
        assert_eq!(lead["business_scoped_user_id"], "ID.999");
        assert_eq!(lead["phones"], json!(["+6281200000009"]));
        assert_eq!(messages_of(&app, lead["id"].as_str().unwrap()).await.len(), 2);
        let gone = app.get(&format!("/api/v1/leads/{}", bsuid_lead["id"].as_str().unwrap())).await;
        let body = gone.expect(StatusCode::GONE);
        assert_eq!(body["error"], "merged");
        assert_eq!(body["merged_into"], lead["id"]);
        use sqlx::Row;
        let recorded: String = sqlx::query("SELECT reason FROM lead_merges WHERE survivor_id = $1")
            .bind(lead["id"].as_str().unwrap()).fetch_one(&app.db.pool).await.unwrap().try_get("reason").unwrap();
        assert_eq!(recorded, "automatic");
    }

    async fn a_number_change_adds_the_new_number_and_later_messages_land_on_the_lead(app: TestApp) {
        app.deliver_meta(&meta_text("wamid.N1", "6281234567890", "Budi", "halo")).await.expect(StatusCode::OK);
        let raw = fixture("meta-system-user-changed-number.json");
        let event: Value = serde_json::from_slice(&raw).unwrap();
        app.deliver_meta(&event).await.expect(StatusCode::OK);
        let lead = only_lead(&app).await;
        assert_eq!(lead["phone_normalized"], "+6285712345678", "the new number is primary");
        assert_eq!(lead["phones"], json!(["+6285712345678", "+6281234567890"]), "the old one stays listed");
        app.deliver(&v2_text("wamid.N2", "+6285712345678", "conv-n", Some("Budi"), "dari nomor baru"), RECEIVED).await.expect(StatusCode::OK);
        let after = only_lead(&app).await;
        assert_eq!(after["id"], lead["id"]);
        // Replays change nothing.
        let before = app.lead_row("+6285712345678").await;
        app.deliver_meta(&event).await.expect(StatusCode::OK);
        app.deliver_meta(&meta_text("wamid.N1", "6281234567890", "Budi", "halo")).await.expect(StatusCode::OK);
        assert_eq!(app.lead_row("+6285712345678").await, before);
        assert_eq!(only_lead(&app).await["phones"], lead["phones"]);
        assert_eq!(app.count("messages").await, 3);
        // The old number, now the lead's second one, still finds it: its beginning, the
        // way it is typed locally, or digits from its middle.
        for search in ["%2B6281234", "0812-3456-7890", "34567890"] {
            let found = app.get(&format!("/api/v1/leads?q={search}")).await;
            let found = found.expect(StatusCode::OK)["leads"].as_array().unwrap().clone();
            assert_eq!(found.len(), 1, "{search}: {found:#?}");
            assert_eq!(found[0]["id"], lead["id"]);
        }
        let found = app.get("/api/v1/leads?q=0813").await;
        assert!(found.expect(StatusCode::OK)["leads"].as_array().unwrap().is_empty(), "no number begins so");
    }

    async fn a_message_from_the_new_number_before_the_change_event_ends_on_one_lead(app: TestApp) {
        app.deliver_meta(&meta_text("wamid.O1", "6281234567890", "Budi", "lama")).await.expect(StatusCode::OK);
        app.deliver(&v2_text("wamid.O2", "+6285712345678", "conv-new", Some("Budi"), "baru"), RECEIVED).await.expect(StatusCode::OK);
        assert_eq!(app.all_leads().await.len(), 2);
        let old_lead = app.lead_row("+6281234567890").await;
        app.deliver_meta(&meta_changed_number("wamid.O3", "6281234567890", "6285712345678")).await.expect(StatusCode::OK);
        let lead = only_lead(&app).await;
        assert_eq!(lead["id"], old_lead["id"]);
        assert_eq!(lead["phone_normalized"], "+6285712345678");
        assert_eq!(messages_of(&app, lead["id"].as_str().unwrap()).await.len(), 3);
        // Replayed in any order afterwards: still one lead.
        app.deliver(&v2_text("wamid.O2", "+6285712345678", "conv-new", Some("Budi"), "baru"), RECEIVED).await.expect(StatusCode::OK);
        app.deliver_meta(&meta_changed_number("wamid.O3", "6281234567890", "6285712345678")).await.expect(StatusCode::OK);
        app.deliver(&v2_text("wamid.O4", "+6285712345678", "conv-new", Some("Budi"), "lagi"), RECEIVED).await.expect(StatusCode::OK);
        assert_eq!(only_lead(&app).await["id"], lead["id"]);
        assert_eq!(app.count("messages").await, 4);
    }

    async fn a_user_id_change_adds_the_new_bsuid(app: TestApp) {
        app.deliver_meta(&meta_person("wamid.I1", None, Some("ID.old"), None, "halo")).await.expect(StatusCode::OK);
        let mut change = meta_person("wamid.I2", None, Some("ID.old"), None, "");
        let message = &mut change["entry"][0]["changes"][0]["value"]["messages"][0];
        message["type"] = json!("system");
        message["system"] = json!({ "type": "user_changed_user_id", "body": "changed", "user_id": "ID.new" });
        app.deliver_meta(&change).await.expect(StatusCode::OK);
        app.deliver(&v2_person("wamid.I3", None, Some("ID.new"), "conv-i", None, "dari id baru"), RECEIVED).await.expect(StatusCode::OK);
        let lead = only_lead(&app).await;
        assert_eq!(messages_of(&app, lead["id"].as_str().unwrap()).await.len(), 3);
    }

    async fn a_message_with_neither_phone_nor_bsuid_follows_its_conversation(app: TestApp) {
        app.deliver(&v2_text("wamid.K1", "+6281200000011", "conv-k", Some("Rina"), "halo"), RECEIVED).await.expect(StatusCode::OK);
        let anonymous = v2_person("wamid.K2", None, None, "conv-k", None, "tanpa nomor");
        let reply = app.deliver(&anonymous, RECEIVED).await;
        assert_eq!(reply.expect(StatusCode::OK)["results"][0]["outcome"], "created");
        let lead = only_lead(&app).await;
        assert_eq!(messages_of(&app, lead["id"].as_str().unwrap()).await.len(), 2);
        // A BSUID seen first in that conversation joins the same lead.
        app.deliver(&v2_person("wamid.K3", None, Some("ID.rina"), "conv-k", None, "id"), RECEIVED).await.expect(StatusCode::OK);
        assert_eq!(only_lead(&app).await["business_scoped_user_id"], "ID.rina");
        // Neither identifier nor a known conversation: acknowledged, nothing invented.
        let stray = app.deliver(&v2_person("wamid.K4", None, None, "conv-unknown", None, "?"), RECEIVED).await;
        assert_eq!(stray.expect(StatusCode::OK)["results"][0]["outcome"], "ignored");
        assert_eq!(app.count("messages").await, 3);
    }

    async fn a_status_links_the_recipients_phone_and_bsuid(app: TestApp) {
        app.deliver(&v2_text("wamid.L1", "+6281234567890", CONVERSATION_ID, Some("Budi"), "halo"), RECEIVED).await.expect(StatusCode::OK);
        app.deliver(&v2_outbound("wamid.LO", "+6281234567890", CONVERSATION_ID, "sent", "siap"), Some("whatsapp.message.sent")).await.expect(StatusCode::OK);
        let mut status = meta_status("wamid.LO", "delivered", "6281234567890");
        status["entry"][0]["changes"][0]["value"]["statuses"][0]["recipient_user_id"] = json!("ID.link");
        app.deliver_meta(&status).await.expect(StatusCode::OK);
        let lead = only_lead(&app).await;
        assert_eq!(lead["business_scoped_user_id"], "ID.link");
        app.deliver(&v2_person("wamid.L2", None, Some("ID.link"), "conv-other", None, "tanpa nomor"), RECEIVED).await.expect(StatusCode::OK);
        assert_eq!(only_lead(&app).await["id"], lead["id"]);
    }

    async fn fifty_concurrent_deliveries_mixing_identifier_kinds_make_one_lead(app: TestApp) {
        // Three replicas on PostgreSQL (one process per replica); SQLite has one writer.
        let mut targets = vec![app.base_url.clone()];
        if app.database.engine == Engine::Postgres {
            targets.push(app.replica().await);
            targets.push(app.replica().await);
        }
        let sends = (0..50).map(|i| {
            let app = &app;
            let base = targets[i % targets.len()].clone();
            async move {
                let wamid = format!("wamid.X{i}");
                let (body, meta) = match i % 6 {
                    0 => (v2_person(&wamid, Some("+6281299990000"), None, "conv-x", None, "phone"), false),
                    1 => (v2_person(&wamid, None, Some("ID.x"), "conv-x", Some("@x"), "bsuid"), false),
                    2 => (v2_person(&wamid, Some("+62 812-9999-0000"), Some("ID.x"), "conv-x", None, "both"), false),
                    3 => (meta_person(&wamid, Some("6281299990000"), Some("ID.x"), None, "meta both"), true),
                    4 => (meta_person(&wamid, None, Some("ID.x"), Some("@x"), "meta bsuid"), true),
                    _ => (meta_text(&wamid, "6281299990000", "X", "meta phone"), true),
                };
                let raw = serde_json::to_vec(&body).unwrap();
                let signature = leadline::server::webhook::signature::sign(&app.webhook_secret, &raw);
                let mut request = app.http.post(format!("{base}/api/webhook/kapso")).header("content-type", "application/json");
                request = if meta {
                    request.header("x-hub-signature-256", format!("sha256={signature}"))
                } else {
                    request.header("x-webhook-signature", signature).header("x-webhook-event", "whatsapp.message.received")
                };
                let reply = Reply::from(request.body(raw).send().await.unwrap()).await;
                reply.expect(StatusCode::OK);
            }
        });
        futures::future::join_all(sends).await;
        let lead = only_lead(&app).await;
        assert_eq!(app.count("messages").await, 50);
        assert_eq!(messages_of(&app, lead["id"].as_str().unwrap()).await.len(), 50);
        assert_eq!(lead["phones"], json!(["+6281299990000"]));
        assert_eq!(lead["business_scoped_user_id"], "ID.x");
        assert_eq!(app.count("lead_identities").await, 2);
    }

    async fn staff_merge_moves_everything_and_old_ids_answer_gone(app: TestApp) {
        app.deliver(&v2_text("wamid.G1", "+6281200000021", "conv-g1", Some("Ani"), "halo"), RECEIVED).await.expect(StatusCode::OK);
        let phone_lead = only_lead(&app).await;
        app.api(Method::PATCH, &format!("/api/v1/leads/{}", phone_lead["id"].as_str().unwrap()), Some(json!({ "lead_status": "hot" }))).await.expect(StatusCode::OK);
        app.deliver_bytes(&fixture("v2-message-received-bsuid-only.json"), RECEIVED, None).await.expect(StatusCode::OK);
        let other = app.all_leads().await.into_iter().find(|l| l["id"] != phone_lead["id"]).unwrap();
        let (a, b) = (phone_lead["id"].as_str().unwrap(), other["id"].as_str().unwrap());

        let preview = app.get(&format!("/api/v1/leads/{b}/merge?other_id={a}")).await;
        let preview = preview.expect(StatusCode::OK);
        assert_eq!(preview["survivor_id"], a, "the lead created first stays");
        assert_eq!(preview["merged_id"], b);
        assert_eq!(preview["status_choices"], json!(["hot", "new"]));
        assert_eq!(preview["messages"], 2);
        assert_eq!(preview["undoable"], false);

        let unpicked = app.api(Method::POST, &format!("/api/v1/leads/{b}/merge"), Some(json!({ "other_id": a }))).await;
        assert!(unpicked.expect(StatusCode::CONFLICT)["message"].as_str().unwrap().contains("lead_status"));
        let merged = app.api(Method::POST, &format!("/api/v1/leads/{b}/merge"), Some(json!({ "other_id": a, "lead_status": "warm" }))).await;
        let survivor = merged.expect(StatusCode::OK).clone();
        assert_eq!(survivor["id"], a);
        assert_eq!(survivor["lead_status"], "warm");
        assert_eq!(survivor["username"], "@dewi.kue");
        assert_eq!(survivor["business_scoped_user_id"], BSUID);
        assert_eq!(survivor["phones"], json!(["+6281200000021"]));
        assert_eq!(messages_of(&app, a).await.len(), 2);
        assert_eq!(only_lead(&app).await["id"], a);

        let gone = app.get(&format!("/api/v1/leads/{b}")).await;
        assert_eq!(gone.expect(StatusCode::GONE), &json!({ "error": "merged", "message": format!("this lead was merged into {a}"), "merged_into": a }));
        app.api(Method::PATCH, &format!("/api/v1/leads/{b}"), Some(json!({ "name": "x" }))).await.expect(StatusCode::GONE);
        app.api(Method::POST, &format!("/api/v1/leads/{a}/merge"), Some(json!({ "other_id": b }))).await.expect(StatusCode::GONE);
        app.api(Method::POST, &format!("/api/v1/leads/{a}/merge"), Some(json!({ "other_id": a }))).await.expect(StatusCode::UNPROCESSABLE_ENTITY);

        // Later messages to either identity land on the survivor.
        let reply = app.deliver(&v2_person("wamid.G3", None, Some(BSUID), "conv-g3", None, "lagi"), RECEIVED).await;
        assert_eq!(reply.expect(StatusCode::OK)["results"][0]["lead_id"], a);
        let reply = app.deliver(&v2_text("wamid.G4", "+6281200000021", "conv-g1", None, "dan lagi"), RECEIVED).await;
        assert_eq!(reply.expect(StatusCode::OK)["results"][0]["lead_id"], a);
        assert_eq!(messages_of(&app, a).await.len(), 4);
        assert_eq!(app.count("lead_merges").await, 1);
    }

    async fn a_merge_never_crosses_workspaces(app: TestApp) {
        app.deliver(&v2_text("wamid.W1", "+6281200000031", "conv-w", Some("Ani"), "halo"), RECEIVED).await.expect(StatusCode::OK);
        let ours = only_lead(&app).await;
        let (_, _, other_token) = app.second_workspace("555000111").await;
        let theirs = app.api_as(&other_token, Method::POST, "/api/v1/leads", Some(json!({ "phone": "0812-0000-0032" }))).await;
        let theirs = theirs.expect(StatusCode::CREATED).clone();
        let (a, b) = (ours["id"].as_str().unwrap(), theirs["id"].as_str().unwrap());
        app.api(Method::POST, &format!("/api/v1/leads/{a}/merge"), Some(json!({ "other_id": b }))).await.expect(StatusCode::NOT_FOUND);
        app.api_as(&other_token, Method::POST, &format!("/api/v1/leads/{b}/merge"), Some(json!({ "other_id": a }))).await.expect(StatusCode::NOT_FOUND);
        app.get(&format!("/api/v1/leads/{a}/merge?other_id={b}")).await.expect(StatusCode::NOT_FOUND);
        assert_eq!(app.count("lead_merges").await, 0);
        assert_eq!(app.count("leads").await, 2);
    }

    async fn a_typed_number_that_is_another_leads_second_number_is_a_conflict(app: TestApp) {
        app.deliver_meta(&meta_text("wamid.Y1", "6281234567890", "Budi", "halo")).await.expect(StatusCode::OK);
        app.deliver_meta(&meta_changed_number("wamid.Y2", "6281234567890", "6285712345678")).await.expect(StatusCode::OK);
        let lead = only_lead(&app).await;
        for typed in ["0812-3456-7890", "tel:+62-857-1234-5678", "whatsapp:+6285712345678", "＋６２８１２３４５６７８９０"] {
            let reply = app.api(Method::POST, "/api/v1/leads", Some(json!({ "phone": typed }))).await;
            assert_eq!(reply.expect(StatusCode::CONFLICT)["existing_id"], lead["id"], "{typed}");
        }
        app.api(Method::POST, "/api/v1/leads", Some(json!({ "phone": "08abc" }))).await.expect(StatusCode::UNPROCESSABLE_ENTITY);
    }

    async fn data_made_by_the_previous_version_migrates_without_losing_a_message(app: TestApp) {
        let _ = app; // this scenario needs a database made by the old schema; see below
        let old = OldDatabase::made_before(app.database.engine, 7).await;
        let ws = old.workspace.id.as_str();
        // Rows as the previous ingest wrote them: a phone lead, a `bsuid:` lead, and the
        // issue's split (the BSUID lead's message in the phone lead's conversation).
        for statement in [
            format!("INSERT INTO leads (id, workspace_id, phone_raw, phone_normalized, phone_digits, phone_valid, kapso_name, lead_status, source, kapso_conversation_id, created_at, updated_at, last_activity_at) VALUES ('00000000-0000-7000-8000-000000000001', '{ws}', '+6281200000001', '+6281200000001', '6281200000001', 1, 'Budi', 'hot', 'whatsapp', 'conv-1', 1000, 1000, 1000)"),
            format!("INSERT INTO leads (id, workspace_id, phone_raw, phone_normalized, phone_digits, phone_valid, kapso_name, lead_status, source, kapso_conversation_id, created_at, updated_at, last_activity_at) VALUES ('00000000-0000-7000-8000-000000000002', '{ws}', 'bsuid:ID.1234', 'bsuid:ID.1234', NULL, 0, 'Budi', 'new', 'whatsapp', 'conv-1', 2000, 2000, 2000)"),
            format!("INSERT INTO conversations (id, workspace_id, lead_id, kapso_conversation_id, status, unread_count, last_message_at, last_message_preview, created_at, updated_at) VALUES ('00000000-0000-7000-8000-0000000000c1', '{ws}', '00000000-0000-7000-8000-000000000001', 'conv-1', 'active', 2, 2000, 'lagi', 1000, 2000)"),
            format!("INSERT INTO messages (id, workspace_id, lead_id, conversation_id, kapso_message_id, direction, message_type, content, received_at) VALUES ('00000000-0000-7000-8000-0000000000a1', '{ws}', '00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-0000000000c1', 'wamid.old1', 'inbound', 'text', 'halo', 1000)"),
            format!("INSERT INTO messages (id, workspace_id, lead_id, conversation_id, kapso_message_id, direction, message_type, content, received_at) VALUES ('00000000-0000-7000-8000-0000000000a2', '{ws}', '00000000-0000-7000-8000-000000000002', '00000000-0000-7000-8000-0000000000c1', 'wamid.old2', 'inbound', 'text', 'lagi', 2000)"),
        ] {
            sqlx::query(&statement).execute(&old.db.pool).await.unwrap();
        }
        let app = old.upgrade().await;
        assert_eq!(app.count("messages").await, 2);
        assert_eq!(app.count("lead_identities").await, 2);
        let phone_lead = app.get("/api/v1/leads/00000000-0000-7000-8000-000000000001").await;
        let phone_lead = phone_lead.expect(StatusCode::OK).clone();
        assert_eq!(phone_lead["phones"], json!(["+6281200000001"]));
        assert_eq!(phone_lead["phone_normalized"], "+6281200000001");
        let bsuid_lead = app.get("/api/v1/leads/00000000-0000-7000-8000-000000000002").await;
        let bsuid_lead = bsuid_lead.expect(StatusCode::OK).clone();
        assert_eq!(bsuid_lead["business_scoped_user_id"], "ID.1234");
        assert_eq!(bsuid_lead["phones"], json!([]));
        assert_eq!(bsuid_lead["phone_normalized"], Value::Null);
        // The next message of that person (BSUID, same conversation) ties the split leads together.
        app.deliver(&v2_person("wamid.new1", None, Some("ID.1234"), "conv-1", None, "lagi"), RECEIVED).await.expect(StatusCode::OK);
        let lead = only_lead(&app).await;
        assert_eq!(lead["id"], "00000000-0000-7000-8000-000000000001");
        assert_eq!(lead["lead_status"], "hot");
        assert_eq!(messages_of(&app, "00000000-0000-7000-8000-000000000001").await.len(), 3);
        app.get("/api/v1/leads/00000000-0000-7000-8000-000000000002").await.expect(StatusCode::GONE);
    }

    async fn the_database_merges_two_leads_without_javascript(app: TestApp) {
        let owner = app.member("owner@toko.example", leadline::model::Role::Owner, None).await;
        app.deliver(&v2_text("wamid.P1", "+6281200000041", "conv-p1", Some("Dewi"), "halo"), RECEIVED).await.expect(StatusCode::OK);
        app.deliver_bytes(&fixture("v2-message-received-bsuid-only.json"), RECEIVED, None).await.expect(StatusCode::OK);
        let phone_lead = app.lead_row("+6281200000041").await["id"].as_str().unwrap().to_string();
        let other = app.all_leads().await.into_iter().find(|l| l["id"] != phone_lead.as_str()).unwrap();
        let bsuid_lead = other["id"].as_str().unwrap().to_string();

        // The Database shows the BSUID-only lead with its badge and username, and a
        // checkbox per row belonging to the merge form.
        let page = owner.get("/leads").await;
        let html = page.expect(StatusCode::OK).as_str().unwrap().to_string();
        assert!(html.contains("no number shared"), "badge");
        assert!(html.contains("@dewi.kue"), "username");
        assert!(html.contains(r#"id="merge-form""#) && html.contains(r#"form="merge-form""#));

        // Ticking two rows submits GET /leads/merge?lead=…&lead=…: the preview.
        let preview = owner.get(&format!("/leads/merge?lead={bsuid_lead}&lead={phone_lead}")).await;
        let html = preview.expect(StatusCode::OK).as_str().unwrap().to_string();
        assert!(html.contains("cannot be undone"), "the person is told before confirming");
        assert!(html.contains(&format!(r#"name="lead_id" value="{phone_lead}""#)), "the lead created first stays");
        let one = owner.get(&format!("/leads/merge?lead={phone_lead}")).await;
        assert!(one.expect(StatusCode::OK).as_str().unwrap().contains("Select exactly two leads"));

        // The plain form posts to the server function and lands on the survivor.
        let merged = owner
            .submit_form("/api/leads/merge", &[("lead_id", &phone_lead), ("other_id", &bsuid_lead), ("lead_status", "")])
            .await;
        assert!(merged.status.is_redirection(), "{:?} {}", merged.status, merged.body);
        assert_eq!(merged.headers["location"], format!("/leads/{phone_lead}").as_str());
        assert_eq!(only_lead(&app).await["id"], phone_lead.as_str());

        // The lead page lists every identity and the merge; the merged lead's old link
        // leads to the survivor.
        let page = owner.get(&format!("/leads/{phone_lead}")).await;
        let html = page.expect(StatusCode::OK).as_str().unwrap().to_string();
        assert!(html.contains("+62 812-0000-0041") && html.contains(BSUID), "identities listed");
        assert!(html.contains("merged by owner@toko.example"), "merge history");
        let old_link = owner.get(&format!("/leads/{bsuid_lead}")).await;
        if old_link.status.is_redirection() {
            assert_eq!(old_link.headers["location"], format!("/leads/{phone_lead}").as_str());
        } else {
            let html = old_link.expect(StatusCode::OK).as_str().unwrap().to_string();
            assert!(html.contains("+62 812-0000-0041"), "the survivor is shown");
        }
    }
}
