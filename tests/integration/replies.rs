//! Replies through Kapso, driven against a local fake of Kapso's send API: the exact
//! request, retries and their limits, refusals, redirects, the 24-hour window,
//! templates, double submits, the webhook's copies of our sends, needs-reply, several
//! replicas, and a server killed mid-send.

use crate::fake_kapso::{fake_wamid, Answer, FakeKapso};
use crate::support::*;
use leadline::model::Role;
use leadline::server::replies::{web::save_kapso_settings, ReplyConfig};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

const KEY: &str = "kapso_test_key_0123456789";
const PHONE: &str = "+6281234567801";
const WAIT: Duration = Duration::from_secs(20);

fn config(fake: &FakeKapso) -> ReplyConfig {
    ReplyConfig {
        api_base: fake.base_url.clone(),
        rate_per_second: 1000.0,
        timeout: Duration::from_millis(700),
        max_attempts: 3,
        retry_base: Duration::from_millis(60),
        enabled: true,
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// An inbound text written `ago` before now (WhatsApp's timestamp).
fn inbound(wamid: &str, phone: &str, conversation: &str, ago: Duration) -> Value {
    let mut body = v2_text(wamid, phone, conversation, Some("Ani"), "Halo, masih ada?");
    body["message"]["timestamp"] = json!((now_secs() - ago.as_secs() as i64).to_string());
    body
}

async fn replying_app(engine: Engine) -> (TestApp, FakeKapso) {
    let fake = FakeKapso::start().await;
    let app = TestApp::spawn_replying(engine, config(&fake)).await;
    save_kapso_settings(&app.db, &app.workspace.id, Some(KEY), Some("1029384756")).await.unwrap();
    (app, fake)
}

/// A lead who wrote a minute ago; its id.
async fn customer(app: &TestApp, wamid: &str, phone: &str, conversation: &str) -> String {
    app.deliver(&inbound(wamid, phone, conversation, Duration::from_secs(60)), Some("whatsapp.message.received"))
        .await
        .expect(StatusCode::OK);
    let lead = app.lead_row(phone).await;
    lead["id"].as_str().unwrap().to_string()
}

async fn reply(app: &TestApp, lead: &str, body: Value) -> crate::support::Reply {
    app.api(Method::POST, &format!("/api/v1/leads/{lead}/replies"), Some(body)).await
}

/// The outbound messages of a lead as the API lists them.
async fn outbound(app: &TestApp, lead: &str) -> Vec<Value> {
    let page = app.api(Method::GET, &format!("/api/v1/leads/{lead}/messages"), None).await;
    page.expect(StatusCode::OK)["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "outbound")
        .cloned()
        .collect()
}

/// Waits until the lead's one reply has `status`.
async fn reply_status(app: &TestApp, lead: &str, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let sent = outbound(app, lead).await;
        if let Some(found) = sent.iter().find(|m| m["status"] == status) {
            return found.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "no reply reached `{status}`: {sent:?}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

macro_rules! both_engines {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Engine::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Engine::Postgres).await
            }
        }
    )*};
}

both_engines!(
    a_reply_is_committed_then_sent_with_kapsos_body,
    transient_failures_are_retried_with_backoff,
    exhausted_retries_fail_and_a_person_can_retry,
    a_refused_key_is_not_retried_and_shows_in_settings,
    a_hanging_kapso_times_out_and_is_retried,
    redirects_are_not_followed,
    the_window_closes_after_24_hours_and_templates_still_go,
    a_double_submit_queues_once,
    kapsos_report_of_our_send_is_folded_into_it,
    needs_reply_lists_the_longest_waiting_first,
    replies_are_scoped_to_the_workspace,
);

async fn a_reply_is_committed_then_sent_with_kapsos_body(engine: Engine) {
    let (app, fake) = replying_app(engine).await;
    let lead = customer(&app, "wamid.in.1", PHONE, CONVERSATION_ID).await;
    let queued = reply(&app, &lead, json!({"text": "Masih, kak! Mau ukuran apa?"})).await;
    let queued = queued.expect(StatusCode::ACCEPTED).clone();
    assert_eq!(queued["status"], "queued");
    fake.wait_for_sends(1, WAIT).await;
    let sent = reply_status(&app, &lead, "sent").await;
    assert_eq!(sent["kapso_message_id"], fake_wamid(1));
    assert_eq!(sent["content"], "Masih, kak! Mau ukuran apa?");

    let request = &fake.requests()[0];
    assert_eq!(request.path, format!("/meta/whatsapp/v24.0/{PHONE_NUMBER_ID}/messages"));
    assert_eq!(request.headers["x-api-key"], KEY);
    assert!(request.headers["content-type"].to_str().unwrap().starts_with("application/json"));
    assert_eq!(
        request.body,
        json!({"messaging_product": "whatsapp", "to": "6281234567801", "type": "text",
               "text": {"body": "Masih, kak! Mau ukuran apa?"}})
    );

    // Kapso's status webhooks move it forward, by the wamid Kapso gave.
    app.deliver(&v2_outbound(&fake_wamid(1), PHONE, CONVERSATION_ID, "delivered", "Masih, kak!"), None)
        .await
        .expect(StatusCode::OK);
    reply_status(&app, &lead, "delivered").await;
    app.deliver(&meta_status(&fake_wamid(1), "read", "6281234567801"), None).await;
    reply_status(&app, &lead, "read").await;
    // A late "delivered" does not move it back.
    app.deliver(&v2_outbound(&fake_wamid(1), PHONE, CONVERSATION_ID, "delivered", "Masih, kak!"), None).await;
    assert_eq!(outbound(&app, &lead).await.len(), 1);
    reply_status(&app, &lead, "read").await;
    assert_eq!(fake.sends(), 1);
}

async fn transient_failures_are_retried_with_backoff(engine: Engine) {
    let (app, fake) = replying_app(engine).await;
    fake.script([Answer::Status(500), Answer::Status(429)]);
    let lead = customer(&app, "wamid.in.2", PHONE, CONVERSATION_ID).await;
    reply(&app, &lead, json!({"text": "Siap"})).await.expect(StatusCode::ACCEPTED);
    let sent = reply_status(&app, &lead, "sent").await;
    assert_eq!(fake.sends(), 3);
    assert_eq!(sent["kapso_message_id"], fake_wamid(3));
    // Each attempt is the same request.
    let bodies: Vec<_> = fake.requests().iter().map(|r| r.body.clone()).collect();
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
}

async fn exhausted_retries_fail_and_a_person_can_retry(engine: Engine) {
    let (app, fake) = replying_app(engine).await;
    fake.script([Answer::Status(503), Answer::Status(503), Answer::Status(503)]);
    let lead = customer(&app, "wamid.in.3", PHONE, CONVERSATION_ID).await;
    reply(&app, &lead, json!({"text": "Siap"})).await.expect(StatusCode::ACCEPTED);
    let failed = reply_status(&app, &lead, "failed").await;
    assert_eq!(fake.sends(), 3, "max_attempts is 3");
    let why = failed["status_error"].as_str().unwrap();
    assert!(why.contains("503") && why.contains("gave up after 3 attempts"), "{why}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.sends(), 3, "a failed reply is not sent again by itself");

    // The thread offers Retry; a person presses it.
    let sari = app.member("sari@toko.example", Role::Agent, None).await;
    let conversation = app.get_thread(&sari, CONVERSATION_ID).await;
    assert!(conversation.contains("Retry"), "the thread offers Retry");
    let message_id = failed["id"].as_str().unwrap();
    sari.call("inbox/retry", &[("message_id", message_id), ("back", CONVERSATION_ID)]).await.expect(StatusCode::OK);
    let sent = reply_status(&app, &lead, "sent").await;
    assert_eq!(sent["id"], failed["id"]);
    assert_eq!(fake.sends(), 4);
    // Retrying a sent reply is refused.
    let again = sari.call("inbox/retry", &[("message_id", message_id), ("back", CONVERSATION_ID)]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
}

async fn a_refused_key_is_not_retried_and_shows_in_settings(engine: Engine) {
    let (app, fake) = replying_app(engine).await;
    fake.otherwise(Answer::Status(401));
    let lead = customer(&app, "wamid.in.4", PHONE, CONVERSATION_ID).await;
    reply(&app, &lead, json!({"text": "Halo"})).await.expect(StatusCode::ACCEPTED);
    let failed = reply_status(&app, &lead, "failed").await;
    assert!(failed["status_error"].as_str().unwrap().contains("API key"), "{failed}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(fake.sends(), 1, "401 is not retried");

    let owner = app.member("owner@toko.example", Role::Owner, None).await;
    let settings = owner.call("settings/kapso", &[]).await;
    let settings = settings.expect(StatusCode::OK);
    assert!(settings["key_problem"].as_str().unwrap().contains("401"), "{settings}");
    assert_eq!(settings["key_masked"], "••••6789", "the key is only shown masked");
    assert!(!settings.to_string().contains(KEY));
    // An agent may not see or change the key.
    let agent = app.member("agent@toko.example", Role::Agent, None).await;
    assert_eq!(agent.call("settings/kapso", &[]).await.status, StatusCode::FORBIDDEN);
    let refused = agent.call("settings/kapso-save", &[("api_key", "stolen"), ("waba_id", "")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // A new key clears the problem.
    owner
        .call("settings/kapso-save", &[("api_key", "kapso_new_key_9999"), ("waba_id", "")])
        .await
        .expect(StatusCode::OK);
    let settings = owner.call("settings/kapso", &[]).await;
    assert_eq!(settings.body["key_problem"], Value::Null);
    assert_eq!(settings.body["key_masked"], "••••9999");
}

async fn a_hanging_kapso_times_out_and_is_retried(engine: Engine) {
    let (app, fake) = replying_app(engine).await;
    fake.script([Answer::Hang]);
    let lead = customer(&app, "wamid.in.5", PHONE, CONVERSATION_ID).await;
    reply(&app, &lead, json!({"text": "Halo"})).await.expect(StatusCode::ACCEPTED);
    let sent = reply_status(&app, &lead, "sent").await;
    assert_eq!(sent["kapso_message_id"], fake_wamid(2));
    assert_eq!(fake.sends(), 2);
}

async fn redirects_are_not_followed(engine: Engine) {
    let (app, fake) = replying_app(engine).await;
    let elsewhere = FakeKapso::start().await;
    fake.script([Answer::Redirect(format!("{}/meta/whatsapp/v24.0/1/messages", elsewhere.base_url))]);
    let lead = customer(&app, "wamid.in.6", PHONE, CONVERSATION_ID).await;
    reply(&app, &lead, json!({"text": "Halo"})).await.expect(StatusCode::ACCEPTED);
    let failed = reply_status(&app, &lead, "failed").await;
    assert!(failed["status_error"].as_str().unwrap().contains("redirect"), "{failed}");
    assert_eq!(elsewhere.sends(), 0, "the API key never reaches another host");
}

async fn the_window_closes_after_24_hours_and_templates_still_go(engine: Engine) {
    let (app, fake) = replying_app(engine).await;
    let old = inbound("wamid.in.7", PHONE, CONVERSATION_ID, Duration::from_secs(25 * 3600));
    app.deliver(&old, None).await.expect(StatusCode::OK);
    let lead = app.lead_row(PHONE).await["id"].as_str().unwrap().to_string();
    let refused = reply(&app, &lead, json!({"text": "Halo"})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(refused.body["message"].as_str().unwrap().contains("24-hour window"));
    assert!(outbound(&app, &lead).await.is_empty(), "nothing was queued");

    // Templates: only those a text form can fill are offered; parameters are required.
    let sari = app.member("sari@toko.example", Role::Agent, None).await;
    let listed = sari.call("inbox/templates", &[]).await;
    let names: Vec<_> = listed.expect(StatusCode::OK).as_array().unwrap().iter().map(|t| t["name"].clone()).collect();
    assert_eq!(names, vec![json!("follow_up")]);
    let missing =
        reply(&app, &lead, json!({"template": {"name": "follow_up", "language": "id", "params": ["Ani"]}})).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    let form = [
        ("lead_id", lead.as_str()),
        ("template", "follow_up|id"),
        ("params[0]", "Ani"),
        ("params[1]", "#1042"),
        ("client_key", "tmpl-1"),
        ("back", CONVERSATION_ID),
    ];
    sari.call("inbox/template", &form).await.expect(StatusCode::OK);
    let sent = reply_status(&app, &lead, "sent").await;
    assert_eq!(sent["content"], "Halo Ani, pesanan #1042 sudah siap.");
    let request = fake.requests().into_iter().find(|r| r.path.ends_with("/messages")).unwrap();
    assert_eq!(
        request.body,
        json!({"messaging_product": "whatsapp", "to": "6281234567801", "type": "template",
               "template": {"name": "follow_up", "language": {"code": "id"},
                            "components": [{"type": "body", "parameters": [
                                {"type": "text", "text": "Ani"}, {"type": "text", "text": "#1042"}]}]}})
    );
    // The customer answers: the window opens again.
    app.deliver(&inbound("wamid.in.8", PHONE, CONVERSATION_ID, Duration::from_secs(5)), None).await;
    reply(&app, &lead, json!({"text": "Terima kasih!"})).await.expect(StatusCode::ACCEPTED);
}

async fn a_double_submit_queues_once(engine: Engine) {
    let (app, fake) = replying_app(engine).await;
    let lead = customer(&app, "wamid.in.9", PHONE, CONVERSATION_ID).await;
    let sari = app.member("sari@toko.example", Role::Agent, None).await;
    let form = [("lead_id", lead.as_str()), ("text", "Halo kak"), ("client_key", "k-1"), ("back", CONVERSATION_ID)];
    let (one, two) = tokio::join!(sari.call("inbox/reply", &form), sari.call("inbox/reply", &form));
    one.expect(StatusCode::OK);
    two.expect(StatusCode::OK);
    assert_eq!(one.body, two.body, "both answer with the one reply");
    reply_status(&app, &lead, "sent").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(outbound(&app, &lead).await.len(), 1);
    assert_eq!(fake.sends(), 1);
    // Another key is another reply.
    let form = [("lead_id", lead.as_str()), ("text", "Halo lagi"), ("client_key", "k-2"), ("back", CONVERSATION_ID)];
    sari.call("inbox/reply", &form).await.expect(StatusCode::OK);
    fake.wait_for_sends(2, WAIT).await;
    // Without JavaScript the form lands back on the thread.
    let form = [("lead_id", lead.as_str()), ("text", "Tanpa JS"), ("client_key", "k-3"), ("back", CONVERSATION_ID)];
    let plain = sari.submit_form("/api/inbox/reply", &form).await;
    assert!(plain.status.is_redirection(), "{}", plain.status);
    assert_eq!(plain.headers["location"], format!("/inbox/{CONVERSATION_ID}"));
    let empty = [("lead_id", lead.as_str()), ("text", "  "), ("client_key", "k-4"), ("back", CONVERSATION_ID)];
    let refused = sari.submit_form("/api/inbox/reply", &empty).await;
    assert_eq!(refused.headers["location"], format!("/inbox/{CONVERSATION_ID}?reply_error=empty"));
}

async fn kapsos_report_of_our_send_is_folded_into_it(engine: Engine) {
    let (app, fake) = replying_app(engine).await;
    // Kapso answers slowly; its webhook reports the send (already delivered) first.
    fake.script([Answer::SlowOk(Duration::from_millis(600))]);
    let lead = customer(&app, "wamid.in.10", PHONE, CONVERSATION_ID).await;
    reply(&app, &lead, json!({"text": "Sebentar ya"})).await.expect(StatusCode::ACCEPTED);
    fake.wait_for_sends(1, WAIT).await;
    app.deliver(&v2_outbound(&fake_wamid(1), PHONE, CONVERSATION_ID, "delivered", "Sebentar ya"), None)
        .await
        .expect(StatusCode::OK);
    // Once Kapso's answer is recorded, the copy is folded into our reply.
    let deadline = tokio::time::Instant::now() + WAIT;
    let all = loop {
        let all = outbound(&app, &lead).await;
        if all.len() == 1 && all[0]["kapso_message_id"] == fake_wamid(1) {
            break all;
        }
        assert!(tokio::time::Instant::now() < deadline, "one message, not ours and Kapso's copy: {all:?}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    };
    assert_eq!(all[0]["status"], "delivered", "the copy's further status is kept");
    assert_eq!(all[0]["content"], "Sebentar ya");
    // A message sent from Kapso's own inbox still appears, once.
    app.deliver(&v2_outbound("wamid.kapso.inbox", PHONE, CONVERSATION_ID, "sent", "Dari Kapso"), None).await;
    app.deliver(&v2_outbound("wamid.kapso.inbox", PHONE, CONVERSATION_ID, "sent", "Dari Kapso"), None).await;
    assert_eq!(outbound(&app, &lead).await.len(), 2);
}

async fn needs_reply_lists_the_longest_waiting_first(engine: Engine) {
    let (app, _fake) = replying_app(engine).await;
    let first = "+6281234567811";
    let second = "+6281234567812";
    app.deliver(&inbound("wamid.w.1", first, "c0000000-0000-4000-8000-000000000001", Duration::from_secs(3600)), None)
        .await;
    app.deliver(&inbound("wamid.w.2", second, "c0000000-0000-4000-8000-000000000002", Duration::from_secs(600)), None)
        .await;
    app.deliver(&inbound("wamid.w.3", first, "c0000000-0000-4000-8000-000000000001", Duration::from_secs(60)), None)
        .await;
    let waiting = |reply: crate::support::Reply| -> Vec<String> {
        reply.expect(StatusCode::OK)["leads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["phone"].as_str().unwrap().to_string())
            .collect()
    };
    let listed = waiting(app.api(Method::GET, "/api/v1/leads?needs_reply=1", None).await);
    let (first_shown, second_shown) = ("+62 812-3456-7811".to_string(), "+62 812-3456-7812".to_string());
    assert_eq!(listed, vec![first_shown.clone(), second_shown.clone()], "waiting since its first unanswered message");
    // Answered from Kapso's inbox: off the list at once.
    let mut answer = v2_outbound("wamid.o.1", first, "c0000000-0000-4000-8000-000000000001", "sent", "Halo");
    answer["message"]["timestamp"] = json!(now_secs().to_string());
    app.deliver(&answer, None).await.expect(StatusCode::OK);
    let listed = waiting(app.api(Method::GET, "/api/v1/leads?needs_reply=1", None).await);
    assert_eq!(listed, vec![second_shown]);
    // Answered from leadline: off the list as soon as it is queued.
    let lead = app.lead_row(second).await["id"].as_str().unwrap().to_string();
    reply(&app, &lead, json!({"text": "Halo"})).await.expect(StatusCode::ACCEPTED);
    assert!(waiting(app.api(Method::GET, "/api/v1/leads?needs_reply=1", None).await).is_empty());
    // The navigation's count.
    let sari = app.member("sari@toko.example", Role::Agent, None).await;
    assert_eq!(sari.call("me", &[]).await.body["needs_reply"], 0);
    // WhatsApp's timestamps are whole seconds: the customer writes again a moment later.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.deliver(&inbound("wamid.w.4", second, "c0000000-0000-4000-8000-000000000002", Duration::ZERO), None).await;
    assert_eq!(sari.call("me", &[]).await.body["needs_reply"], 1);
}

async fn replies_are_scoped_to_the_workspace(engine: Engine) {
    let (app, fake) = replying_app(engine).await;
    let lead = customer(&app, "wamid.in.11", PHONE, CONVERSATION_ID).await;
    let (_other, _secret, other_token) = app.second_workspace("999000111").await;
    let foreign = app
        .api_as(&other_token, Method::POST, &format!("/api/v1/leads/{lead}/replies"), Some(json!({"text": "x"})))
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    let bad = reply(&app, &lead, json!({"text": "x", "template": {"name": "a", "language": "id"}})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let long = reply(&app, &lead, json!({"text": "x".repeat(5000)})).await;
    assert_eq!(long.status, StatusCode::UNPROCESSABLE_ENTITY);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.sends(), 0);
}

/// Three replicas on one PostgreSQL database: every reply is sent exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_send_each_reply_once() {
    let fake = FakeKapso::start().await;
    let mut replicas_config = config(&fake);
    replicas_config.rate_per_second = 1000.0;
    let app = TestApp::spawn_replying(Engine::Postgres, replicas_config.clone()).await;
    save_kapso_settings(&app.db, &app.workspace.id, Some(KEY), None).await.unwrap();
    app.replica_replying(replicas_config.clone()).await;
    app.replica_replying(replicas_config).await;
    let lead = customer(&app, "wamid.in.12", PHONE, CONVERSATION_ID).await;
    for i in 0..60 {
        reply(&app, &lead, json!({"text": format!("reply {i}")})).await.expect(StatusCode::ACCEPTED);
    }
    fake.wait_for_sends(60, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut texts: Vec<String> =
        fake.requests().iter().map(|r| r.body["text"]["body"].as_str().unwrap().to_string()).collect();
    assert_eq!(texts.len(), 60, "each reply once, none twice");
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), 60);
}

impl TestApp {
    /// The thread page's HTML as a signed-in person sees it.
    async fn get_thread(&self, browser: &Browser, conversation: &str) -> String {
        let page = browser.get(&format!("/inbox/{conversation}")).await;
        assert_eq!(page.status, StatusCode::OK);
        page.body.as_str().unwrap_or_default().to_string()
    }
}

/// `leadline serve` as its own process, so it can be killed with SIGKILL.
struct Process(std::process::Child, String);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn serve_process(database_url: &str, fake: &FakeKapso, sender: bool) -> Process {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_leadline"))
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("KAPSO_API_BASE", &fake.base_url)
        .env("KAPSO_SEND_TIMEOUT_MS", "60000")
        .env("KAPSO_RETRY_BASE_MS", "50")
        .env("LEADLINE_SENDER", if sender { "on" } else { "off" })
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start leadline serve");
    let process = Process(child, format!("http://127.0.0.1:{port}"));
    for _ in 0..400 {
        if let Ok(r) = reqwest::get(format!("{}/readyz", process.1)).await {
            if r.status() == StatusCode::OK {
                return process;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("leadline serve did not become ready");
}

fn kill_9(mut process: Process) {
    process.0.kill().unwrap(); // SIGKILL: no shutdown, nothing flushed by us
    process.0.wait().unwrap();
}

/// Committed but not sent when the process died → sent once after the restart.
/// Sent but its answer not recorded when the process died → `unknown`, never resent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_never_loses_a_reply_nor_sends_one_twice() {
    let fake = FakeKapso::start().await;
    let quiet = ReplyConfig { enabled: false, ..config(&fake) };
    let app = TestApp::spawn_replying(Engine::Sqlite, quiet).await;
    save_kapso_settings(&app.db, &app.workspace.id, Some(KEY), None).await.unwrap();
    let lead = customer(&app, "wamid.in.13", PHONE, CONVERSATION_ID).await;
    let http = reqwest::Client::new();
    let queue = |base: String, text: &'static str| {
        let request = http
            .post(format!("{base}/api/v1/leads/{lead}/replies"))
            .bearer_auth(&app.api_token)
            .json(&json!({ "text": text }));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::ACCEPTED);
        }
    };

    // 1. Between commit and send.
    let first = serve_process(&app.database.url, &fake, false).await;
    queue(first.1.clone(), "sebelum crash").await;
    kill_9(first);
    assert_eq!(fake.sends(), 0);
    let second = serve_process(&app.database.url, &fake, true).await;
    fake.wait_for_sends(1, WAIT).await;
    reply_status(&app, &lead, "sent").await;

    // 2. Between send and recording Kapso's answer.
    fake.script([Answer::Hang]);
    queue(second.1.clone(), "saat crash").await;
    fake.wait_for_sends(2, WAIT).await;
    kill_9(second);
    let _third = serve_process(&app.database.url, &fake, true).await;
    let unknown = reply_status(&app, &lead, "unknown").await;
    assert_eq!(unknown["content"], "saat crash");
    assert!(unknown["status_error"].as_str().unwrap().contains("may or may not"));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(fake.sends(), 2, "an interrupted send is never repeated by itself");
    let texts: Vec<_> = fake.requests().iter().map(|r| r.body["text"]["body"].clone()).collect();
    assert_eq!(texts, vec![json!("sebelum crash"), json!("saat crash")]);
}

/// The key goes in on standard input and comes back only masked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sets_the_key_without_echoing_it() {
    use std::io::Write;
    let app = TestApp::spawn(Engine::Sqlite).await;
    let run = |args: &[&str], input: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_leadline"))
            .args(args)
            .env("DATABASE_URL", &app.database.url)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let set = run(&["workspace", "set-kapso-key", PHONE_NUMBER_ID, "--waba-id", "1029384756"], "kp_live_secret_abcd\n");
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    let printed = String::from_utf8_lossy(&set.stdout).to_string();
    assert!(printed.contains("••••abcd") && printed.contains("1029384756"), "{printed}");
    assert!(!printed.contains("kp_live_secret"), "the key is never printed");
    let empty = run(&["workspace", "set-kapso-key"], "\n");
    assert!(!empty.status.success());
    let cleared = run(&["workspace", "set-kapso-key", "--clear"], "");
    assert!(cleared.status.success());
    let (key,): (Option<String>,) =
        sqlx::query_as("SELECT kapso_api_key FROM workspaces").fetch_one(&app.db.pool).await.unwrap();
    assert_eq!(key, None);
}
