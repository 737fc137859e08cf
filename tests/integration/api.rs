//! The JSON API, driven as an integrator would, on both engines.

use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;

on_both_engines! {
    async fn the_api_requires_the_workspace_token(app: TestApp) {
        let anonymous = app.http.get(app.url("/api/v1/leads")).send().await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        let body: Value = anonymous.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized");
        app.api_as("ll_wrong", Method::GET, "/api/v1/leads", None).await.expect(StatusCode::UNAUTHORIZED);
        app.get("/api/v1/leads").await.expect(StatusCode::OK);
    }

    async fn pagination_reaches_every_lead_in_order(app: TestApp) {
        for i in 0..123 {
            let phone = format!("+62812{:07}", 1_000_000 + i);
            app.deliver(&v2_text(&format!("wamid.PG{i}"), &phone, &format!("conv-{i}"), Some(&format!("Lead {i:03}")), "halo"), None)
                .await
                .expect(StatusCode::OK);
        }
        for i in 0..7 {
            app.api(Method::POST, "/api/v1/leads", Some(json!({ "phone": format!("0813{:08}", 20_000_000 + i) })))
                .await
                .expect(StatusCode::CREATED);
        }
        for (sort, order) in [("last_activity", ""), ("name", "asc"), ("name", "desc"), ("created", "desc"), ("created", "asc")] {
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            let mut pages = 0;
            loop {
                let mut path = format!("/api/v1/leads?limit=11&sort={sort}&order={order}");
                if let Some(c) = &cursor {
                    path.push_str(&format!("&cursor={c}"));
                }
                let reply = app.get(&path).await;
                let body = reply.expect(StatusCode::OK);
                assert_eq!(body["total"], 130);
                seen.extend(body["leads"].as_array().unwrap().iter().cloned());
                pages += 1;
                match body["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_string()),
                    None => break,
                }
            }
            assert_eq!(pages, 12, "{sort} {order}");
            let ids: HashSet<&str> = seen.iter().map(|l| l["id"].as_str().unwrap()).collect();
            assert_eq!(ids.len(), 130, "{sort} {order}: every lead exactly once");
            if sort == "last_activity" {
                // Newest activity first; never-active (manual) leads at the end.
                assert_eq!(seen[0]["display_name"], "Lead 122");
                assert!(seen[122]["last_activity_at"].is_string());
                assert!(seen[123..].iter().all(|l| l["last_activity_at"].is_null()));
                let times: Vec<&str> = seen[..123].iter().map(|l| l["last_activity_at"].as_str().unwrap()).collect();
                assert!(times.windows(2).all(|w| w[0] >= w[1]));
            }
            if sort == "name" {
                let names: Vec<String> = seen.iter().map(|l| l["display_name"].as_str().unwrap().to_lowercase()).collect();
                let mut sorted = names.clone();
                sorted.sort();
                if order == "desc" {
                    sorted.reverse();
                }
                assert_eq!(names, sorted);
            }
        }
        app.get("/api/v1/leads?cursor=zz").await.expect(StatusCode::BAD_REQUEST);
        app.get("/api/v1/leads?limit=0").await.expect(StatusCode::BAD_REQUEST);
        app.get("/api/v1/leads?sort=phone").await.expect(StatusCode::BAD_REQUEST);
    }

    async fn search_finds_names_and_numbers_written_any_way(app: TestApp) {
        app.deliver(&v2_text("wamid.Q1", "+6281234567890", "c1", Some("Budi Santoso"), "halo"), None).await.expect(StatusCode::OK);
        app.deliver(&v2_text("wamid.Q2", "+6285712345678", "c2", Some("Sari"), "halo"), None).await.expect(StatusCode::OK);
        app.deliver_meta(&meta_text("wamid.Q3", "14155552671", "Alice", "hi")).await.expect(StatusCode::OK);
        app.deliver(&v2_text("wamid.Q4", "+6281398765432", "c4", Some("Émile Öztürk"), "halo"), None).await.expect(StatusCode::OK);
        let found = |q: &str| {
            let app = &app;
            let q = q.to_string();
            async move {
                let reply = app.http.get(app.url("/api/v1/leads")).query(&[("q", q.as_str())]).bearer_auth(&app.api_token).send().await.unwrap();
                let body: Value = reply.json().await.unwrap();
                let mut names: Vec<String> = body["leads"].as_array().unwrap().iter().map(|l| l["display_name"].as_str().unwrap().to_string()).collect();
                names.sort();
                names
            }
        };
        assert_eq!(found("budi").await, ["Budi Santoso"]);
        assert_eq!(found("SANTOSO").await, ["Budi Santoso"]);
        assert_eq!(found("di san").await, ["Budi Santoso"], "a fragment anywhere in the name");
        assert_eq!(found("Émile Öztürk").await, ["Émile Öztürk"], "non-ASCII letters as written");
        assert_eq!(found("ÉMILE").await, ["Émile Öztürk"]);
        assert_eq!(found("0812 3456").await, ["Budi Santoso"]);
        assert_eq!(found("+62812").await, ["Budi Santoso"]);
        assert_eq!(found("812-3456").await, ["Budi Santoso"]);
        assert_eq!(found("0812-3456-7890").await, ["Budi Santoso"]);
        assert_eq!(found("+62 857").await, ["Sari"]);
        assert_eq!(found("4155552671").await, ["Alice"]);
        assert_eq!(found("nobody").await, Vec::<String>::new());
        assert_eq!(found("%").await, Vec::<String>::new());
        assert_eq!(found("").await.len(), 4);
    }

    async fn the_status_filter_and_edits(app: TestApp) {
        let created = app.api(Method::POST, "/api/v1/leads", Some(json!({ "phone": "+62 812 3456 7890", "name": "Budi", "lead_status": "hot" }))).await;
        let lead = created.expect(StatusCode::CREATED).clone();
        assert_eq!(lead["lead_status"], "hot");
        assert_eq!(created.headers["location"], format!("/api/v1/leads/{}", lead["id"].as_str().unwrap()));
        app.api(Method::POST, "/api/v1/leads", Some(json!({ "phone": "0857-1234-5678" }))).await.expect(StatusCode::CREATED);
        let hot = app.get("/api/v1/leads?status=hot").await;
        assert_eq!(hot.expect(StatusCode::OK)["leads"].as_array().unwrap().len(), 1);
        app.get("/api/v1/leads?status=boiling").await.expect(StatusCode::BAD_REQUEST);

        let path = format!("/api/v1/leads/{}", lead["id"].as_str().unwrap());
        let patched = app.api(Method::PATCH, &path, Some(json!({ "lead_status": "client" }))).await;
        let patched = patched.expect(StatusCode::OK);
        assert_eq!(patched["lead_status"], "client");
        assert_eq!(patched["name"], "Budi", "fields not sent are left alone");
        app.api(Method::PATCH, &path, Some(json!({ "lead_status": "boiling" }))).await.expect(StatusCode::UNPROCESSABLE_ENTITY);
        app.api(Method::PATCH, &path, Some(json!({ "name": "x".repeat(121) }))).await.expect(StatusCode::UNPROCESSABLE_ENTITY);
        app.api(Method::PATCH, &path, Some(json!({ "name": "a\u{0007}b" }))).await.expect(StatusCode::UNPROCESSABLE_ENTITY);
        app.api(Method::PATCH, &path, Some(json!({ "phone": "+1" }))).await.expect(StatusCode::BAD_REQUEST);
        app.api(Method::PATCH, &path, Some(json!({ "name": 5 }))).await.expect(StatusCode::BAD_REQUEST);
        let cleared = app.api(Method::PATCH, &path, Some(json!({ "name": "   " }))).await;
        assert_eq!(cleared.expect(StatusCode::OK)["name"], Value::Null);
        let unchanged = app.get(&path).await;
        assert_eq!(unchanged.expect(StatusCode::OK)["lead_status"], "client");
    }

    async fn creating_leads_checks_the_number(app: TestApp) {
        for (phone, status) in [("hello", 422), ("12", 422), ("+62 000", 422), ("0812-3456-7890", 201), ("6281234567890", 409)] {
            let reply = app.api(Method::POST, "/api/v1/leads", Some(json!({ "phone": phone }))).await;
            assert_eq!(reply.status.as_u16(), status, "{phone}: {}", reply.body);
            if status != 201 {
                assert!(reply.body["message"].as_str().is_some_and(|m| !m.is_empty()));
            }
        }
        app.api(Method::POST, "/api/v1/leads", Some(json!({ "name": "no phone" }))).await.expect(StatusCode::BAD_REQUEST);
        let not_json = app.http.post(app.url("/api/v1/leads")).bearer_auth(&app.api_token).body("phone=1").send().await.unwrap();
        assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(app.count("leads").await, 1);
    }

    async fn another_workspaces_ids_answer_404(app: TestApp) {
        app.deliver(&v2_text("wamid.W1", "+6281234567890", CONVERSATION_ID, Some("Budi"), "halo"), None).await.expect(StatusCode::OK);
        let lead_id = app.all_leads().await[0]["id"].as_str().unwrap().to_string();
        let (_, _, other_token) = app.second_workspace("999000111").await;
        for (method, path, body) in [
            (Method::GET, format!("/api/v1/leads/{lead_id}"), None),
            (Method::PATCH, format!("/api/v1/leads/{lead_id}"), Some(json!({ "name": "stolen" }))),
            (Method::GET, format!("/api/v1/leads/{lead_id}/messages"), None),
        ] {
            let reply = app.api_as(&other_token, method.clone(), &path, body).await;
            assert_eq!(reply.expect(StatusCode::NOT_FOUND)["error"], "not_found", "{method} {path}");
        }
        let theirs = app.api_as(&other_token, Method::GET, "/api/v1/leads", None).await;
        assert_eq!(theirs.expect(StatusCode::OK)["total"], 0);
        // The same number is a different lead in another workspace.
        app.api_as(&other_token, Method::POST, "/api/v1/leads", Some(json!({ "phone": "081234567890" }))).await.expect(StatusCode::CREATED);
        app.get("/api/v1/leads/not-a-uuid").await.expect(StatusCode::NOT_FOUND);
        assert_eq!(app.get(&format!("/api/v1/leads/{lead_id}")).await.expect(StatusCode::OK)["name"], Value::Null);
    }

    async fn messages_are_listed_oldest_first(app: TestApp) {
        for i in 0..5 {
            let mut body = v2_text(&format!("wamid.M{i}"), "+6281234567890", CONVERSATION_ID, Some("Budi"), &format!("pesan {i}"));
            // Delivered newest first; the thread still reads in the order they were written.
            body["message"]["timestamp"] = json!((1_767_243_600 + 60 * (4 - i)).to_string());
            app.deliver(&body, None).await.expect(StatusCode::OK);
        }
        let lead_id = app.all_leads().await[0]["id"].as_str().unwrap().to_string();
        let page = app.get(&format!("/api/v1/leads/{lead_id}/messages?limit=3")).await;
        let page = page.expect(StatusCode::OK).clone();
        let contents: Vec<&str> = page["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
        assert_eq!(contents, ["pesan 4", "pesan 3", "pesan 2"]);
        let first = &page["messages"][0];
        for field in ["kapso_message_id", "direction", "type", "content", "sent_at"] {
            assert!(!first[field].is_null(), "{field}");
        }
        assert_eq!(first["direction"], "inbound");
        assert_eq!(first["sent_at"], "2026-01-01T05:00:00.000Z");
        let rest = app.get(&format!("/api/v1/leads/{lead_id}/messages?limit=3&cursor={}", page["next_cursor"].as_str().unwrap())).await;
        let rest = rest.expect(StatusCode::OK);
        assert_eq!(rest["messages"].as_array().unwrap().len(), 2);
        assert!(rest["next_cursor"].is_null());
    }

    async fn health_and_readiness(app: TestApp) {
        let health = app.http.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), StatusCode::OK);
        app.db.pool.close().await;
        let not_ready = app.http.get(app.url("/readyz")).send().await.unwrap();
        assert_eq!(not_ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}

/// A name search must stay an index scan: over 100,000 leads the table scan it
/// replaced took four times as long (see migrations/0004_name_search.sql).
#[tokio::test]
async fn name_search_scans_the_names_index_on_sqlite() {
    use leadline::server::leads::{filters, LeadQuery};
    use sqlx::Row;
    let app = TestApp::spawn(Engine::Sqlite).await;
    for (i, name) in ["Budi Santoso", "Sari"].iter().enumerate() {
        app.deliver(
            &v2_text(&format!("wamid.IX{i}"), &format!("+62812345678{i}"), &format!("c{i}"), Some(name), "halo"),
            None,
        )
        .await
        .expect(StatusCode::OK);
    }
    let query = LeadQuery { search: Some("santoso".into()), limit: 50, ..LeadQuery::default() };
    let search = filters(&app.workspace, &query);
    // As `leads::list` counts: live leads only, as the partial index says (migrations/0007).
    let sql = format!(
        "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM leads l WHERE l.workspace_id = $1 AND l.merged_into IS NULL{}",
        search.sql
    );
    let mut plan = sqlx::query(&sql).bind(app.workspace.id.as_str());
    for value in &search.binds {
        plan = plan.bind(value);
    }
    let steps: Vec<String> =
        plan.fetch_all(&app.db.pool).await.unwrap().iter().map(|row| row.get::<String, _>("detail")).collect();
    assert!(steps.iter().any(|step| step.contains("leads_by_names")), "plan: {steps:?}");
}

// A database error keeps its cause for the log, and tells the client only what it
// means: a named unique constraint → 409 naming what exists (SQLite names columns,
// PostgreSQL the constraint; both read the same), anything else → 500 "internal error".
on_both_engines! {
    async fn database_errors_answer_by_what_they_are_and_never_show_sql(app: TestApp) {
        use axum::response::IntoResponse;
        use leadline::server::error::AppError;
        app.deliver(&v2_text("wamid.DBE1", "+6281234567890", CONVERSATION_ID, Some("Budi"), "halo"), None)
            .await
            .expect(StatusCode::OK);
        let duplicate = sqlx::query(
            "INSERT INTO leads (id, workspace_id, phone_raw, phone_normalized, phone_valid, lead_status, source, \
             created_at, updated_at) VALUES ('dup', $1, 'x', '+6281234567890', 1, 'new', 'manual', 0, 0)",
        )
        .bind(app.workspace.id.as_str())
        .execute(&app.db.pool)
        .await
        .expect_err("the number is a lead already");
        let err = AppError::from(duplicate);
        assert_eq!(err.status(), StatusCode::CONFLICT);
        assert_eq!(err.public_message(), "a lead with this phone number already exists");
        assert!(err.to_string().starts_with("database error:"), "the cause is kept for the log: {err}");

        let broken = sqlx::query("SELECT no_such_column FROM leads").execute(&app.db.pool).await.unwrap_err();
        let err = AppError::from(broken);
        assert!(err.to_string().contains("no_such_column"), "{err}");
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 10_000).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body, serde_json::json!({"error": "internal", "message": "internal error"}));
    }
}
