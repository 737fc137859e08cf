//! The webhook contract, driven as Kapso drives it, on both engines.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_engines! {
    async fn the_same_customer_in_every_format_is_one_lead(app: TestApp) {
        // Meta writes the number without +, Kapso v2 with +, a salesperson as they like.
        app.deliver_meta(&meta_text("wamid.A1", "6281234567890", "Budi", "Halo")).await.expect(StatusCode::OK);
        let reply = app.deliver(&v2_text("wamid.A2", "+6281234567890", CONVERSATION_ID, Some("Budi"), "Masih ada?"), Some("whatsapp.message.received")).await;
        assert_eq!(reply.expect(StatusCode::OK)["results"][0]["outcome"], "created");
        let manual = app.api(reqwest::Method::POST, "/api/v1/leads", Some(json!({ "phone": "0812-3456-7890", "name": "Pak Budi" }))).await;
        let body = manual.expect(StatusCode::CONFLICT);
        let leads = app.all_leads().await;
        assert_eq!(leads.len(), 1);
        assert_eq!(body["existing_id"], leads[0]["id"]);
        assert_eq!(leads[0]["phone_normalized"], "+6281234567890");
        assert_eq!(leads[0]["phone"], "+62 812-3456-7890");
        assert_eq!(app.count("messages").await, 2);
    }

    async fn a_lead_created_by_hand_receives_its_whatsapp_messages(app: TestApp) {
        let created = app.api(reqwest::Method::POST, "/api/v1/leads", Some(json!({ "phone": "(0812) 3456 7890", "name": "Pak Budi" }))).await;
        let lead = created.expect(StatusCode::CREATED).clone();
        assert_eq!(lead["source"], "manual");
        assert_eq!(lead["last_activity_at"], Value::Null);
        assert_eq!(lead["kapso_conversation_id"], Value::Null);
        app.deliver(&v2_text("wamid.B1", "+6281234567890", CONVERSATION_ID, Some("Budi WA"), "Halo"), None).await.expect(StatusCode::OK);
        let after = app.get(&format!("/api/v1/leads/{}", lead["id"].as_str().unwrap())).await;
        let after = after.expect(StatusCode::OK);
        assert_eq!(after["display_name"], "Pak Budi");
        assert_eq!(after["kapso_name"], "Budi WA");
        assert_eq!(after["source"], "manual");
        assert_eq!(after["kapso_conversation_id"], CONVERSATION_ID);
        assert_eq!(after["unread_count"], 1);
        assert!(after["last_activity_at"].is_string());
        assert_eq!(app.all_leads().await.len(), 1);
    }

    async fn a_us_sender_writing_to_an_indonesian_business_is_plus_one(app: TestApp) {
        app.deliver_meta(&meta_text("wamid.US1", "14155552671", "Alice", "Hi")).await.expect(StatusCode::OK);
        let leads = app.all_leads().await;
        assert_eq!(leads[0]["phone_normalized"], "+14155552671");
        assert_eq!(leads[0]["phone"], "+1 415-555-2671");
        assert_eq!(leads[0]["phone_valid"], true);
    }

    async fn an_invalid_number_is_stored_flagged_not_dropped(app: TestApp) {
        let reply = app.deliver(&v2_text("wamid.BAD1", "+999123", "conv-bad", Some("Odd"), "Halo"), None).await;
        assert_eq!(reply.expect(StatusCode::OK)["results"][0]["outcome"], "created");
        let leads = app.all_leads().await;
        assert_eq!(leads[0]["phone_normalized"], "999123");
        assert_eq!(leads[0]["phone_valid"], false);
        assert_eq!(leads[0]["display_name"], "Odd");
        // The same digits written another way find the same lead.
        app.deliver(&v2_text("wamid.BAD2", "999123", "conv-bad", Some("Odd"), "Lagi"), None).await.expect(StatusCode::OK);
        assert_eq!(app.all_leads().await.len(), 1);
        assert_eq!(app.count("messages").await, 2);
    }

    async fn replays_in_random_order_change_nothing(app: TestApp) {
        // Distinct messages from three customers, in every format.
        let mut deliveries: Vec<(String, Value, Option<&str>)> = Vec::new();
        for i in 0..6 {
            deliveries.push(("v2".into(), v2_text(&format!("wamid.R{i}"), "+6281234567890", CONVERSATION_ID, Some("Budi"), &format!("pesan {i}")), Some("whatsapp.message.received")));
        }
        deliveries.push(("batch".into(), v2_batch(vec![
            v2_text("wamid.RB1", "+6285712345678", "conv-sari", Some("Sari"), "satu"),
            v2_text("wamid.RB2", "+6285712345678", "conv-sari", Some("Sari"), "dua"),
        ]), None));
        for i in 0..3 {
            deliveries.push(("meta".into(), meta_text(&format!("wamid.RM{i}"), "14155552671", "Alice", "hello"), None));
        }
        let distinct_messages = 6 + 2 + 3;

        let send = |(kind, body, event): (String, Value, Option<&'static str>)| {
            let app = &app;
            async move {
                let reply = if kind == "meta" { app.deliver_meta(&body).await } else { app.deliver(&body, event).await };
                reply.expect(StatusCode::OK);
            }
        };
        let mut first = deliveries.clone();
        shuffle(&mut first, 7);
        for d in first {
            send(d).await;
        }
        let snapshot = (
            app.lead_row("+6281234567890").await,
            app.lead_row("+6285712345678").await,
            app.lead_row("+14155552671").await,
        );
        assert_eq!(app.count("messages").await, distinct_messages);
        assert_eq!(snapshot.0["unread"], 6);
        assert_eq!(snapshot.1["unread"], 2);
        assert_eq!(snapshot.2["unread"], 3);

        // Every delivery twice more, shuffled together.
        let mut replays: Vec<_> = deliveries.iter().cloned().chain(deliveries.iter().cloned()).collect();
        shuffle(&mut replays, 42);
        for d in replays {
            send(d).await;
        }
        assert_eq!(app.count("messages").await, distinct_messages);
        assert_eq!(app.count("leads").await, 3);
        assert_eq!(
            (app.lead_row("+6281234567890").await, app.lead_row("+6285712345678").await, app.lead_row("+14155552671").await),
            snapshot,
            "a replay moved last_activity_at, updated_at or an unread count"
        );
    }

    async fn a_repeat_is_reported_as_duplicate(app: TestApp) {
        let body = v2_text("wamid.D1", "+6281234567890", CONVERSATION_ID, Some("Budi"), "Halo");
        let first = app.deliver(&body, None).await;
        assert_eq!(first.expect(StatusCode::OK)["results"][0]["outcome"], "created");
        assert_eq!(first.body["results"][0]["lead_created"], true);
        let again = app.deliver(&body, None).await;
        let result = &again.expect(StatusCode::OK)["results"][0];
        assert_eq!(result["outcome"], "duplicate");
        assert_eq!(result["lead_id"], first.body["results"][0]["lead_id"]);
        assert!(result.get("lead_created").is_none());
    }

    async fn fifty_concurrent_deliveries_in_five_formats_make_one_lead(app: TestApp) {
        let formats = ["+6281234567890", "6281234567890", "+62 812-3456-7890", "62-812-3456-7890", "meta"];
        let sends = (0..50).map(|i| {
            let app = &app;
            let format = formats[i % formats.len()];
            async move {
                let wamid = format!("wamid.C{i}");
                let reply = if format == "meta" {
                    app.deliver_meta(&meta_text(&wamid, "6281234567890", "Budi", "serbu")).await
                } else {
                    app.deliver(&v2_text(&wamid, format, CONVERSATION_ID, Some("Budi"), "serbu"), None).await
                };
                reply.expect(StatusCode::OK);
                reply.body["results"][0]["lead_created"].as_bool().unwrap_or(false)
            }
        });
        let created = futures::future::join_all(sends).await;
        assert_eq!(created.iter().filter(|c| **c).count(), 1, "exactly one delivery reports creating the lead");
        assert_eq!(app.count("leads").await, 1);
        assert_eq!(app.count("messages").await, 50);
        assert_eq!(app.lead_row("+6281234567890").await["unread"], 50);
    }

    async fn a_manual_name_survives_profile_name_changes(app: TestApp) {
        app.deliver(&v2_text("wamid.N1", "+6281234567890", CONVERSATION_ID, Some("budi123"), "Halo"), None).await.expect(StatusCode::OK);
        let id = app.all_leads().await[0]["id"].as_str().unwrap().to_string();
        let path = format!("/api/v1/leads/{id}");
        let edited = app.api(reqwest::Method::PATCH, &path, Some(json!({ "name": "  Pak Budi Santoso " }))).await;
        assert_eq!(edited.expect(StatusCode::OK)["display_name"], "Pak Budi Santoso");

        app.deliver(&v2_text("wamid.N2", "+6281234567890", CONVERSATION_ID, Some("Budi S."), "Lagi"), None).await.expect(StatusCode::OK);
        app.deliver_meta(&meta_text("wamid.N3", "6281234567890", "B. Santoso", "Lagi")).await.expect(StatusCode::OK);
        let lead = app.get(&path).await;
        let lead = lead.expect(StatusCode::OK);
        assert_eq!(lead["name"], "Pak Budi Santoso");
        assert_eq!(lead["kapso_name"], "B. Santoso");
        assert_eq!(lead["display_name"], "Pak Budi Santoso");

        let cleared = app.api(reqwest::Method::PATCH, &path, Some(json!({ "name": null }))).await;
        let cleared = cleared.expect(StatusCode::OK);
        assert_eq!(cleared["name"], Value::Null);
        assert_eq!(cleared["display_name"], "B. Santoso");
    }

    async fn without_any_name_the_phone_is_shown(app: TestApp) {
        app.deliver(&v2_text("wamid.P1", "+6281234567890", CONVERSATION_ID, None, "Halo"), None).await.expect(StatusCode::OK);
        assert_eq!(app.all_leads().await[0]["display_name"], "+62 812-3456-7890");
    }

    async fn kapso_batches_are_stored_item_by_item(app: TestApp) {
        let reply = app.deliver_bytes(&fixture("v2-batch-message-received.json"), None, Some("batch-1")).await;
        let results = reply.expect(StatusCode::OK)["results"].as_array().unwrap().clone();
        assert_eq!(results.len(), 2);
        assert!(results.iter().all(|r| r["outcome"] == "created"));
        let leads = app.all_leads().await;
        assert_eq!(leads.len(), 1);
        assert_eq!(leads[0]["display_name"], "Sari");
        assert_eq!(leads[0]["unread_count"], 2);
        let messages = app.get(&format!("/api/v1/leads/{}/messages", leads[0]["id"].as_str().unwrap())).await;
        let messages = messages.expect(StatusCode::OK)["messages"].as_array().unwrap().clone();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0]["kapso_message_id"], "wamid.BATCH0001");
        assert_eq!(messages[1]["type"], "image");
        assert_eq!(messages[1]["content"], "ini fotonya");
        assert_eq!(messages[1]["media_url"], "https://example.invalid/media/1234567890");
        // The delivery is logged with its raw body, once per idempotency key.
        app.deliver_bytes(&fixture("v2-batch-message-received.json"), None, Some("batch-1")).await.expect(StatusCode::OK);
        assert_eq!(app.count("webhook_deliveries").await, 1);
    }

    async fn the_meta_fixture_makes_a_lead_with_an_inbox_conversation(app: TestApp) {
        let raw = fixture("meta-forwarded-text.json");
        let response = app.http.post(app.url("/api/webhook/kapso"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", format!("sha256={}", leadline::server::webhook::signature::sign(&app.webhook_secret, &raw)))
            .body(raw).send().await.unwrap();
        Reply::from(response).await.expect(StatusCode::OK);
        let lead = &app.all_leads().await[0];
        assert_eq!(lead["display_name"], "Budi Santoso");
        assert_eq!(lead["kapso_conversation_id"], Value::Null);
        assert!(lead["inbox_path"].as_str().unwrap().starts_with("/inbox/"), "Meta-only leads still open in the inbox");
        let messages = app.get(&format!("/api/v1/leads/{}/messages", lead["id"].as_str().unwrap())).await;
        let message = &messages.expect(StatusCode::OK)["messages"][0];
        assert_eq!(message["content"], "Masih ada stok?");
        assert_eq!(message["reply_to_kapso_message_id"], "wamid.OUTBOUND0001");
        assert_eq!(message["sent_at"], "2026-01-01T05:01:40.000Z");
    }

    async fn statuses_never_create_leads_and_only_move_forward(app: TestApp) {
        // A status for a message nobody stored: acknowledged, nothing created.
        let reply = app.deliver_meta(&serde_json::from_slice(&fixture("meta-forwarded-statuses.json")).unwrap()).await;
        assert_eq!(reply.expect(StatusCode::OK)["results"][0]["outcome"], "ignored");
        let outbound = app.deliver(&v2_outbound("wamid.O1", "+6281234567890", CONVERSATION_ID, "sent", "Halo kak"), Some("whatsapp.message.sent")).await;
        assert_eq!(outbound.expect(StatusCode::OK)["results"][0]["outcome"], "ignored");
        assert_eq!(app.count("leads").await, 0);
        assert_eq!(app.count("messages").await, 0);

        // Once the customer exists, the business's message is recorded without activity.
        app.deliver(&v2_text("wamid.I1", "+6281234567890", CONVERSATION_ID, Some("Budi"), "Halo"), None).await.expect(StatusCode::OK);
        let before = app.lead_row("+6281234567890").await;
        let sent = app.deliver(&v2_outbound("wamid.O1", "+6281234567890", CONVERSATION_ID, "sent", "Halo kak"), Some("whatsapp.message.sent")).await;
        assert_eq!(sent.expect(StatusCode::OK)["results"][0]["outcome"], "created");
        for (status, expected) in [("delivered", "updated"), ("read", "updated"), ("delivered", "unchanged"), ("sent", "unchanged")] {
            let reply = app.deliver_meta(&meta_status("wamid.O1", status, "6281234567890")).await;
            assert_eq!(reply.expect(StatusCode::OK)["results"][0]["outcome"], expected, "{status}");
        }
        let kapso_late = app.deliver(&v2_outbound("wamid.O1", "+6281234567890", CONVERSATION_ID, "delivered", "Halo kak"), Some("whatsapp.message.delivered")).await;
        assert_eq!(kapso_late.expect(StatusCode::OK)["results"][0]["outcome"], "unchanged");
        let after = app.lead_row("+6281234567890").await;
        assert_eq!(after["last_activity_at"], before["last_activity_at"], "outbound activity is not customer activity");
        assert_eq!(after["unread"], before["unread"]);
        let messages = app.get(&format!("/api/v1/leads/{}/messages", after["id"].as_str().unwrap())).await;
        let messages = messages.expect(StatusCode::OK)["messages"].as_array().unwrap().clone();
        assert_eq!(messages.len(), 2);
        let outbound = messages.iter().find(|m| m["direction"] == "outbound").unwrap();
        assert_eq!(outbound["status"], "read");
        let failed = app.deliver_meta(&meta_status("wamid.O1", "failed", "6281234567890")).await;
        assert_eq!(failed.expect(StatusCode::OK)["results"][0]["outcome"], "updated");
    }

    async fn conversation_events_update_the_conversation(app: TestApp) {
        app.deliver(&v2_text("wamid.CV1", "+6281234567890", CONVERSATION_ID, Some("Budi"), "Halo"), None).await.expect(StatusCode::OK);
        let ended = json!({ "conversation": { "id": CONVERSATION_ID, "phone_number": "+6281234567890", "status": "ended", "phone_number_id": PHONE_NUMBER_ID }, "phone_number_id": PHONE_NUMBER_ID });
        let reply = app.deliver(&ended, Some("whatsapp.conversation.ended")).await;
        assert_eq!(reply.expect(StatusCode::OK)["results"][0]["outcome"], "updated");
        use sqlx::Row;
        let status: String = sqlx::query("SELECT status FROM conversations WHERE kapso_conversation_id = $1")
            .bind(CONVERSATION_ID).fetch_one(&app.db.pool).await.unwrap().try_get("status").unwrap();
        assert_eq!(status, "ended");
        // A conversation of a number nobody wrote from yet creates no lead.
        let stranger = json!({ "conversation": { "id": "conv-x", "phone_number": "+6289999999999", "phone_number_id": PHONE_NUMBER_ID }, "phone_number_id": PHONE_NUMBER_ID });
        let reply = app.deliver(&stranger, Some("whatsapp.conversation.created")).await;
        assert_eq!(reply.expect(StatusCode::OK)["results"][0]["outcome"], "ignored");
        assert_eq!(app.count("leads").await, 1);
        // Unknown events are acknowledged.
        let reply = app.deliver(&json!({ "message": { "id": "x" }, "phone_number_id": PHONE_NUMBER_ID }), Some("whatsapp.template.updated")).await;
        assert_eq!(reply.expect(StatusCode::OK)["results"][0]["outcome"], "ignored");
    }

    async fn media_messages_get_readable_previews(app: TestApp) {
        let mut voice = v2_text("wamid.V1", "+6281234567890", CONVERSATION_ID, Some("Budi"), "");
        voice["message"]["type"] = json!("audio");
        voice["message"]["audio"] = json!({ "id": "m1", "voice": true });
        voice["message"]["kapso"] = json!({ "direction": "inbound", "has_media": true, "media_url": "https://example.invalid/v1" });
        app.deliver(&voice, None).await.expect(StatusCode::OK);
        use sqlx::Row;
        let preview: String = sqlx::query("SELECT last_message_preview FROM conversations")
            .fetch_one(&app.db.pool).await.unwrap().try_get("last_message_preview").unwrap();
        assert_eq!(preview, "[Voice message]");
        let long = "kata ".repeat(60);
        app.deliver(&v2_text("wamid.V2", "+6281234567890", CONVERSATION_ID, Some("Budi"), &long), None).await.expect(StatusCode::OK);
        let preview: String = sqlx::query("SELECT last_message_preview FROM conversations")
            .fetch_one(&app.db.pool).await.unwrap().try_get("last_message_preview").unwrap();
        assert_eq!(preview.chars().count(), 100);
    }

    async fn bad_signatures_are_refused_and_store_nothing(app: TestApp) {
        let raw = serde_json::to_vec(&v2_text("wamid.S1", "+6281234567890", CONVERSATION_ID, Some("Budi"), "Halo")).unwrap();
        let post = |signature: Option<String>| {
            let mut request = app.http.post(app.url("/api/webhook/kapso")).header("content-type", "application/json").body(raw.clone());
            if let Some(sig) = signature {
                request = request.header("x-webhook-signature", sig);
            }
            async move { Reply::from(request.send().await.unwrap()).await }
        };
        let missing = post(None).await;
        assert_eq!(missing.expect(StatusCode::UNAUTHORIZED)["error"], "unauthorized");
        let wrong_key = post(Some(leadline::server::webhook::signature::sign("not-the-secret", &raw))).await;
        wrong_key.expect(StatusCode::UNAUTHORIZED);
        let garbage = post(Some("sha256=zzzz".into())).await;
        garbage.expect(StatusCode::UNAUTHORIZED);
        // A signature of the same JSON written differently is not a signature of these bytes.
        let reformatted = serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(&raw).unwrap()).unwrap();
        post(Some(leadline::server::webhook::signature::sign(&app.webhook_secret, &reformatted))).await.expect(StatusCode::UNAUTHORIZED);
        assert_eq!(app.count("leads").await, 0);
        assert_eq!(app.count("messages").await, 0);
        assert_eq!(app.count("webhook_deliveries").await, 0);
        post(Some(leadline::server::webhook::signature::sign(&app.webhook_secret, &raw))).await.expect(StatusCode::OK);
        assert_eq!(app.count("messages").await, 1);
    }

    async fn bad_input_gets_a_clear_4xx(app: TestApp) {
        let signed = |raw: Vec<u8>, content_type: &'static str| {
            let request = app.http.post(app.url("/api/webhook/kapso"))
                .header("content-type", content_type)
                .header("x-webhook-signature", leadline::server::webhook::signature::sign(&app.webhook_secret, &raw))
                .body(raw);
            async move { Reply::from(request.send().await.unwrap()).await }
        };
        let malformed = signed(b"{\"message\": ".to_vec(), "application/json").await;
        let body = malformed.expect(StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "bad_request");
        assert!(body["message"].as_str().unwrap().contains("malformed JSON"), "{body}");

        let wrong_shape = signed(br#"{"message": {"id": 42}, "phone_number_id": "123456789012345"}"#.to_vec(), "application/json").await;
        assert!(wrong_shape.expect(StatusCode::BAD_REQUEST)["message"].as_str().unwrap().contains("message.id"));

        let unrouted = signed(serde_json::to_vec(&json!({ "message": { "id": "x", "type": "text", "text": { "body": "hi" } }, "conversation": { "id": "c", "phone_number": "+6281234567890" }, "phone_number_id": "999" })).unwrap(), "application/json").await;
        let body = unrouted.expect(StatusCode::NOT_FOUND);
        assert!(body["message"].as_str().unwrap().contains("999"));

        let not_json = signed(b"hello".to_vec(), "text/plain").await;
        assert_eq!(not_json.expect(StatusCode::UNSUPPORTED_MEDIA_TYPE)["error"], "unsupported_media_type");

        let mut huge = serde_json::to_vec(&v2_text("wamid.H", "+6281234567890", CONVERSATION_ID, None, "x")).unwrap();
        huge.truncate(huge.len() - 1);
        huge.extend_from_slice(b", \"padding\": \"");
        huge.extend(std::iter::repeat_n(b'a', 3 * 1024 * 1024));
        huge.extend_from_slice(b"\"}");
        let too_large = signed(huge, "application/json").await;
        assert_eq!(too_large.expect(StatusCode::PAYLOAD_TOO_LARGE)["error"], "payload_too_large");

        assert_eq!(app.count("leads").await, 0);
        assert_eq!(app.count("webhook_deliveries").await, 0);
    }

    async fn a_database_that_cannot_take_writes_answers_503_and_loses_nothing(app: TestApp) {
        let body = v2_text("wamid.U1", "+6281234567890", CONVERSATION_ID, Some("Budi"), "Halo");
        // Another session holds the write lock for longer than a delivery may wait.
        let mut blocker = app.db.pool.acquire().await.unwrap();
        use sqlx::Executor;
        match app.database.engine {
            Engine::Sqlite => { blocker.execute("BEGIN EXCLUSIVE").await.unwrap(); }
            Engine::Postgres => { blocker.execute("BEGIN; LOCK TABLE leads IN ACCESS EXCLUSIVE MODE").await.unwrap(); }
        }
        let reply = app.deliver(&body, None).await;
        assert_eq!(reply.expect(StatusCode::SERVICE_UNAVAILABLE)["error"], "unavailable");
        assert!(reply.headers.contains_key("retry-after"));
        blocker.execute("ROLLBACK").await.unwrap();
        drop(blocker);
        // Kapso retries: the delivery lands once.
        let retry = app.deliver(&body, None).await;
        assert_eq!(retry.expect(StatusCode::OK)["results"][0]["outcome"], "created");
        assert_eq!(app.count("messages").await, 1);
    }

    async fn one_delivery_that_cannot_be_written_fails_alone_and_the_rest_of_its_group_commits(app: TestApp) {
        use sqlx::Executor;
        // A message the database refuses (a trigger stands in for any per-row failure).
        let poison: &[&str] = match app.database.engine {
            Engine::Sqlite => &["CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.content = 'poison' \
                BEGIN SELECT RAISE(ABORT, 'poisoned message'); END"],
            Engine::Postgres => &[
                "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN \
                 IF NEW.content = 'poison' THEN RAISE EXCEPTION 'poisoned message'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION poison()",
            ],
        };
        for statement in poison {
            app.db.pool.execute(*statement).await.unwrap();
        }
        // Hold the writers back a moment so the deliveries queue up and commit in groups.
        let mut blocker = app.db.pool.acquire().await.unwrap();
        match app.database.engine {
            Engine::Sqlite => { blocker.execute("BEGIN EXCLUSIVE").await.unwrap(); }
            Engine::Postgres => { blocker.execute("BEGIN; LOCK TABLE messages IN ACCESS EXCLUSIVE MODE").await.unwrap(); }
        }
        let sends = (0..40).map(|i| {
            let app = &app;
            async move {
                let text = if i == 17 { "poison" } else { "Halo" };
                let body = v2_text(&format!("wamid.G{i}"), &format!("+62812000010{i:02}"), &format!("conv-group-{i}"), None, text);
                let reply = app.deliver(&body, None).await;
                (i, reply.status, reply.body)
            }
        });
        let release = async {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            blocker.execute("ROLLBACK").await.unwrap();
        };
        let (replies, ()) = tokio::join!(futures::future::join_all(sends), release);
        for (i, status, body) in &replies {
            if *i == 17 {
                assert_eq!(*status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
                assert!(body["error"].is_string(), "a JSON error: {body}");
            } else {
                assert_eq!(*status, StatusCode::OK, "delivery {i}: {body}");
                assert_eq!(body["results"][0]["outcome"], "created", "delivery {i}: {body}");
            }
        }
        assert_eq!(app.count("messages").await, 39);
        assert_eq!(app.count("leads").await, 39);
        // What was refused left nothing behind: no lead, no logged delivery.
        let poisoned: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM leads WHERE phone_normalized = '+6281200001017'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
        assert_eq!(poisoned, 0);
        assert_eq!(app.count("webhook_deliveries").await, 39);
    }

    async fn the_meta_handshake_echoes_the_challenge_only_for_our_token(app: TestApp) {
        let ok = app.http.get(app.url(&format!("/api/webhook/kapso?hub.mode=subscribe&hub.verify_token={}&hub.challenge=12345", app.verify_token))).send().await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.text().await.unwrap(), "12345");
        let wrong = app.http.get(app.url("/api/webhook/kapso?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=12345")).send().await.unwrap();
        assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
        let bare = app.http.get(app.url("/api/webhook/kapso")).send().await.unwrap();
        assert_eq!(bare.status(), StatusCode::FORBIDDEN);
    }

    async fn unsigned_deliveries_only_where_explicitly_allowed(app: TestApp) {
        sqlx::query("UPDATE workspaces SET allow_unsigned_webhooks = 1").execute(&app.db.pool).await.unwrap();
        app.state.workspaces.refresh(PHONE_NUMBER_ID).await.unwrap();
        let raw = serde_json::to_vec(&v2_text("wamid.UN1", "+6281234567890", CONVERSATION_ID, None, "Halo")).unwrap();
        let unsigned = app.http.post(app.url("/api/webhook/kapso")).header("content-type", "application/json").body(raw.clone()).send().await.unwrap();
        assert_eq!(unsigned.status(), StatusCode::OK);
        // A wrong signature is still refused.
        let wrong = app.http.post(app.url("/api/webhook/kapso")).header("content-type", "application/json").header("x-webhook-signature", "00").body(raw).send().await.unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
}
