//! Shared contact cards ("Add as lead"), Webhook health, and the webhook's bounds
//! against an attacker (issues 16 and 9), on both engines.

use crate::corpus::{corpus, deliver_file};
use crate::support::*;
use leadline::model::Role;
use leadline::server::webhook::{bounds, payload::MAX_ITEMS_PER_DELIVERY, signature::sign};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

fn corpus_file(name: &str) -> Vec<u8> {
    corpus().into_iter().find(|(n, _)| n == name).unwrap().1
}

/// The thread of the only conversation, as the Inbox opens it.
async fn only_thread(browser: &Browser) -> Value {
    let list = browser.call("inbox/list", &[("q", ""), ("cursor", "")]).await;
    let reference = list.expect(StatusCode::OK)["rows"][0]["inbox_ref"].as_str().unwrap().to_string();
    browser.call("inbox/open", &[("conversation", &reference)]).await.expect(StatusCode::OK).clone()
}

fn contact_message(thread: &Value) -> Value {
    thread["messages"].as_array().unwrap().iter().find(|m| m["kind"] == "contacts").expect("a contacts message").clone()
}

on_both_engines! {
    async fn a_shared_contact_becomes_a_lead_in_one_click_and_only_once(app: TestApp) {
        deliver_file(&app, "meta-contacts", &corpus_file("meta-contacts")).await.expect(StatusCode::OK);
        let agent = app.member("agent@toko.example", Role::Agent, None).await;
        let thread = only_thread(&agent).await;
        let message = contact_message(&thread);
        let card = &message["contacts"][0];
        assert_eq!(card["name"], "Ani Wijaya");
        assert_eq!(card["org"], "Toko Ani");
        assert_eq!(card["phones"][0]["display"], "+62 812-3456-7801");
        assert_eq!(card["phones"][0]["addable"], true);
        assert_eq!(card["phones"][0]["lead_id"], Value::Null);
        assert_eq!(message["contacts"][1]["name"], "Barbara Johnson");
        let message_id = message["id"].as_str().unwrap().to_string();

        let added = agent.call("inbox/contact-lead", &[("message_id", &message_id), ("card", "0"), ("phone", "0")]).await;
        let added = added.expect(StatusCode::OK).clone();
        assert_eq!(added["created"], true);
        let lead_id = added["lead_id"].as_str().unwrap().to_string();
        assert_eq!(added["path"], format!("/leads/{lead_id}"));
        let lead = app.get(&format!("/api/v1/leads/{lead_id}")).await;
        let lead = lead.expect(StatusCode::OK);
        assert_eq!(lead["display_name"], "Ani Wijaya");
        assert_eq!(lead["phone_normalized"], "+6281234567801");
        assert_eq!(lead["source"], "manual");

        // The second click opens the same lead; nothing new is made.
        let again = agent.call("inbox/contact-lead", &[("message_id", &message_id), ("card", "0"), ("phone", "0")]).await;
        assert_eq!(again.expect(StatusCode::OK)["created"], false);
        assert_eq!(again.body["lead_id"], lead_id.as_str());
        assert_eq!(app.count("leads").await, 2, "the sender and the shared contact");
        // The thread now links the number to its lead.
        let thread = only_thread(&agent).await;
        assert_eq!(contact_message(&thread)["contacts"][0]["phones"][0]["lead_id"], lead_id.as_str());

        // Without JavaScript the form post lands on the lead page.
        let posted = agent.submit_form("/api/inbox/contact-lead", &[("message_id", &message_id), ("card", "1"), ("phone", "0")]).await;
        assert!(posted.status.is_redirection(), "{}: {}", posted.status, posted.body);
        let location = posted.headers["location"].to_str().unwrap().to_string();
        assert!(location.starts_with("/leads/"), "{location}");
        assert_eq!(app.lead_row("+19405551234").await["id"].as_str().unwrap(), location.trim_start_matches("/leads/"));

        // Nothing of another workspace, and no card that is not there.
        agent.call("inbox/contact-lead", &[("message_id", &message_id), ("card", "7"), ("phone", "0")]).await.expect(StatusCode::NOT_FOUND);
        let (other, _, _) = app.second_workspace("555000999").await;
        let outsider = app.member("owner@other.example", Role::Owner, Some(&other)).await;
        outsider.call("inbox/contact-lead", &[("message_id", &message_id), ("card", "0"), ("phone", "0")]).await.expect(StatusCode::NOT_FOUND);
        assert_eq!(app.count("leads").await, 3);
    }

    async fn a_number_typed_on_a_card_is_read_in_the_workspace_region(app: TestApp) {
        let mut body: Value = serde_json::from_slice(&corpus_file("meta-contacts")).unwrap();
        body["entry"][0]["changes"][0]["value"]["messages"][0]["contacts"] =
            json!([{ "name": { "formatted_name": "Dewi" }, "phones": [{ "phone": "0812-3456-7802", "type": "CELL" }, { "phone": "12" }] }]);
        app.deliver_meta(&body).await.expect(StatusCode::OK);
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        let message = contact_message(&only_thread(&owner).await);
        assert_eq!(message["contacts"][0]["phones"][0]["display"], "+62 812-3456-7802");
        assert_eq!(message["contacts"][0]["phones"][1]["addable"], false);
        let id = message["id"].as_str().unwrap().to_string();
        let added = owner.call("inbox/contact-lead", &[("message_id", &id), ("card", "0"), ("phone", "0")]).await;
        assert_eq!(added.expect(StatusCode::OK)["created"], true);
        assert_eq!(app.lead_row("+6281234567802").await["name"], "Dewi");
        let refused = owner.call("inbox/contact-lead", &[("message_id", &id), ("card", "0"), ("phone", "1")]).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        assert!(refused.body["Invalid"].as_str().unwrap().contains("not a valid phone number"));
    }

    async fn owners_see_error_notices_and_refusals_in_webhook_health(app: TestApp) {
        deliver_file(&app, "meta-errors-only", &corpus_file("meta-errors-only")).await.expect(StatusCode::OK);
        deliver_file(&app, "meta-errors-only", &corpus_file("meta-errors-only")).await.expect(StatusCode::OK);
        deliver_file(&app, "meta-status-failed", &corpus_file("meta-status-failed")).await.expect(StatusCode::OK);
        // Forged deliveries naming our number: refused, counted, never one write each.
        let raw = serde_json::to_vec(&v2_text("wamid.F1", "+6281234567890", CONVERSATION_ID, None, "x")).unwrap();
        for _ in 0..25 {
            let forged = app.http.post(app.url("/api/webhook/kapso")).header("content-type", "application/json")
                .header("x-webhook-signature", sign("not-the-secret", &raw)).body(raw.clone()).send().await.unwrap();
            assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
        }
        // A correctly signed body leadline cannot read: refused, and the owner learns why.
        let unreadable = br#"{"message": {"id": 42}, "phone_number_id": "123456789012345"}"#;
        app.deliver_bytes(unreadable, None, None).await.expect(StatusCode::BAD_REQUEST);
        // Unsigned junk for a number nobody has is not kept anywhere.
        let stranger = br#"{"message": {"id": 42}, "phone_number_id": "999000999"}"#;
        app.http.post(app.url("/api/webhook/kapso")).header("content-type", "application/json").body(stranger.to_vec()).send().await.unwrap();
        app.state.webhook_refusals.flush(&app.db).await;

        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        let health = owner.call("settings/webhook-health", &[]).await;
        let lines = health.expect(StatusCode::OK)["lines"].as_array().unwrap().clone();
        let find = |code: &str| lines.iter().find(|l| l["code"] == code).unwrap_or_else(|| panic!("{code} in {lines:?}")).clone();
        assert_eq!(find("130429")["count"], 2);
        assert_eq!(find("130429")["title"], "Rate limit hit");
        assert_eq!(find("130429")["kind"], "error_notice");
        assert_eq!(find("131047")["title"], "Re-engagement message");
        let forged = find("401 invalid signature");
        assert_eq!(forged["kind"], "refused");
        assert_eq!(forged["count"], 25);
        assert_eq!(find("400 message.id: expected a string, found a number")["count"], 1);
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(app.count("webhook_health").await, 4, "one row per reason, however many arrived");

        let page = owner.get("/settings").await;
        let html = page.body.as_str().unwrap_or_default().to_string();
        assert!(html.contains("Webhook health") && html.contains("Rate limit hit"), "the Settings page shows the panel");
        for role in [Role::Admin, Role::Agent] {
            let member = app.member(&format!("{}@toko.example", role.as_str()), role, None).await;
            member.call("settings/webhook-health", &[]).await.expect(StatusCode::FORBIDDEN);
            let page = member.get("/settings").await;
            assert!(!page.body.as_str().unwrap_or_default().contains("Rate limit hit"), "owners only");
        }
    }

    async fn more_items_than_the_cap_are_refused_with_413_naming_it(app: TestApp) {
        let items: Vec<Value> = (0..=MAX_ITEMS_PER_DELIVERY)
            .map(|i| v2_text(&format!("wamid.CAP{i}"), "+6281234567890", CONVERSATION_ID, None, "x"))
            .collect();
        let reply = app.deliver(&v2_batch(items), None).await;
        let body = reply.expect(StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"], "too_many_items");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("1001") && message.contains("1000") && message.contains("MAX_ITEMS_PER_DELIVERY"), "{message}");
        // Meta's format counts statuses too, unsigned or not, before anything is read.
        let statuses: Vec<Value> = (0..5000).map(|i| json!({ "id": format!("wamid.S{i}"), "status": "read" })).collect();
        let meta = json!({ "object": "whatsapp_business_account", "entry": [{ "changes": [{ "value": {
            "metadata": { "phone_number_id": PHONE_NUMBER_ID }, "statuses": statuses } }] }] });
        let unsigned = app.http.post(app.url("/api/webhook/kapso")).header("content-type", "application/json").json(&meta).send().await.unwrap();
        assert_eq!(unsigned.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(app.count("messages").await, 0);
        assert_eq!(app.count("webhook_deliveries").await, 0);
    }

    async fn unknown_phone_number_ids_cost_one_lookup_per_second(app: TestApp) {
        let directory = &app.state.workspaces;
        // A hundred concurrent requests for one number nobody has: one read.
        let before = directory.database_lookups();
        let lookups = (0..100).map(|_| directory.lookup("999111222"));
        assert!(futures::future::join_all(lookups).await.into_iter().all(|found| found.unwrap().is_none()));
        assert_eq!(directory.database_lookups() - before, 1);

        // Over HTTP, unsigned, many numbers, many times: one read per number per second.
        let before = directory.database_lookups();
        let started = std::time::Instant::now();
        for round in 0..3 {
            let sends = (0..40).map(|i| {
                let body = serde_json::to_vec(&json!({ "message": { "id": format!("wamid.{round}.{i}") }, "phone_number_id": format!("77700{}", i % 10) })).unwrap();
                let request = app.http.post(app.url("/api/webhook/kapso")).header("content-type", "application/json").body(body);
                async move { request.send().await.unwrap().status() }
            });
            assert!(futures::future::join_all(sends).await.iter().all(|s| *s == StatusCode::NOT_FOUND));
        }
        let seconds = started.elapsed().as_secs() + 1;
        let reads = directory.database_lookups() - before;
        assert!(reads <= 10 * seconds, "{reads} reads for 10 numbers in {seconds} started seconds");
        assert!(reads >= 10);
    }

    async fn two_3mib_bodies_in_flight_leave_healthz_answering(app: TestApp) {
        // Meta's format, 100 messages and ~60,000 contacts: near the largest body allowed,
        // and one that once cost messages × contacts comparisons in the parser.
        let messages: Vec<Value> = (0..100)
            .map(|i| json!({ "from": format!("6281{:09}", i), "id": format!("wamid.BIG{i}"), "type": "text", "text": { "body": "x" } }))
            .collect();
        let head = format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"changes":[{{"value":{{"metadata":{{"phone_number_id":"{PHONE_NUMBER_ID}"}},"messages":{},"contacts":["#,
            serde_json::to_string(&messages).unwrap()
        );
        let mut body = head.into_bytes();
        let mut i = 0;
        while body.len() < 3 * 1024 * 1024 - 64 * 1024 {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(format!(r#"{{"wa_id":"6289{i:09}","profile":{{"name":"n"}}}}"#).as_bytes());
            i += 1;
        }
        body.extend_from_slice(b"]}}]}]}");
        serde_json::from_slice::<Value>(&body).expect("the body is JSON");
        assert!(body.len() > 2 * 1024 * 1024);
        let body = Arc::new(body);
        let mut answered_while_both_parsed = 0;
        for _attempt in 0..5 {
            let posts: Vec<_> = (0..2).map(|_| {
                let (client, url, body) = (app.http.clone(), app.url("/api/webhook/kapso"), body.clone());
                tokio::spawn(async move {
                    // Unsigned: the parse happens before the signature can be checked.
                    client.post(url).header("content-type", "application/json").body(body.to_vec()).send().await.unwrap().status()
                })
            }).collect();
            while !posts.iter().all(|p| p.is_finished()) {
                if bounds::large_parses_running() == 2 {
                    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
                    assert_eq!(health.status(), StatusCode::OK);
                    if bounds::large_parses_running() >= 1 {
                        answered_while_both_parsed += 1;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            for post in posts {
                assert_eq!(post.await.unwrap(), StatusCode::UNAUTHORIZED);
            }
            if answered_while_both_parsed > 0 {
                break;
            }
        }
        assert!(answered_while_both_parsed > 0, "/healthz never answered while two large bodies were being parsed");
        assert_eq!(app.count("messages").await, 0);
    }
}
