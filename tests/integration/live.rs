//! Live updates (`GET /api/live`): per-workspace fan-out, caps, coalescing, resync, and
//! streams ending when their session or membership does — on both engines (on
//! PostgreSQL every announcement goes through the NOTIFY relay).

use crate::support::*;
use futures::StreamExt;
use leadline::model::Role;
use leadline::server::{
    accounts,
    live::{LeadChanged, LiveConfig, LiveHub, LiveStream, Viewer},
};
use reqwest::StatusCode;
use std::time::Duration;

async fn open_stream(browser: &Browser) -> reqwest::Response {
    open_stream_at(browser, "/api/live").await
}

async fn open_stream_at(browser: &Browser, path: &str) -> reqwest::Response {
    browser
        .http
        .get(format!("{}{path}", browser.base_url))
        .header("cookie", browser.cookie.clone().unwrap())
        .send()
        .await
        .unwrap()
}

/// Reads a stream until it ends (`Some(everything read)`), or `None` if it is still open after `within`.
async fn read_until_closed(response: &mut reqwest::Response, within: Duration) -> Option<String> {
    tokio::time::timeout(within, async {
        let mut seen = String::new();
        while let Ok(Some(chunk)) = response.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        seen
    })
    .await
    .ok()
}

fn changed(workspace_id: &str, lead_id: &str, created: bool) -> LeadChanged {
    LeadChanged { workspace_id: workspace_id.into(), lead_id: lead_id.into(), created }
}

/// A second hub on the app's database (as another replica's would be), with its own settings.
async fn hub(app: &TestApp, config: LiveConfig) -> LiveHub {
    LiveHub::start_with(&app.db, Some(&app.database.url), config).await
}

fn viewer(workspace_id: &str, session: &str) -> Viewer {
    Viewer { workspace_id: workspace_id.into(), user_id: format!("user-{session}"), session: session.into() }
}

/// The next chunk of a hub stream as text, or `None` after `within`.
async fn next_text(
    stream: &mut (impl futures::Stream<Item = axum::body::Bytes> + Unpin),
    within: Duration,
) -> Option<String> {
    tokio::time::timeout(within, stream.next()).await.ok().flatten().map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn bytes_of(stream: LiveStream) -> std::pin::Pin<Box<dyn futures::Stream<Item = axum::body::Bytes> + Send>> {
    Box::pin(stream.into_bytes())
}

on_both_engines! {
    async fn a_stream_never_receives_another_workspaces_events(app: TestApp) {
        let (other, _, _) = app.second_workspace("555000999").await;
        let ours = app.member("owner@toko.example", Role::Owner, None).await;
        let theirs = app.member("b-owner@other.example", Role::Owner, Some(&other)).await;
        let mut our_stream = open_stream(&ours).await;
        let mut their_stream = open_stream(&theirs).await;
        assert_eq!(our_stream.status(), StatusCode::OK);
        assert_eq!(our_stream.headers()["content-type"], "text/event-stream");
        // A real delivery to us, and changes of theirs published around it.
        app.state.live.publish(changed(other.id.as_str(), "their-lead-1", true));
        app.deliver(&v2_text("wamid.ISO1", "+6281234567890", CONVERSATION_ID, Some("Budi"), "halo"), None)
            .await
            .expect(StatusCode::OK);
        let our_lead = app.lead_row("+6281234567890").await["id"].as_str().unwrap().to_string();
        app.state.live.publish(changed(other.id.as_str(), "their-lead-2", false));
        // Then a last marker for each; everything before it has arrived when it does.
        app.state.live.publish(changed(app.workspace.id.as_str(), "our-marker", false));
        app.state.live.publish(changed(other.id.as_str(), "their-marker", false));
        let heard = read_stream_until(&mut our_stream, "our-marker", Duration::from_secs(5)).await.expect("our marker");
        assert!(heard.contains(&format!("{{\"lead_id\":\"{our_lead}\",\"created\":true}}")), "{heard}");
        assert!(!heard.contains("their-"), "another workspace's events reached us: {heard}");
        let heard = read_stream_until(&mut their_stream, "their-marker", Duration::from_secs(5)).await.expect("theirs");
        assert!(heard.contains("their-lead-1") && heard.contains("their-lead-2"), "{heard}");
        assert!(!heard.contains(&our_lead) && !heard.contains("our-marker"), "our events reached them: {heard}");
    }

    async fn a_page_whose_data_is_older_than_a_change_starts_with_a_resync(app: TestApp) {
        let ours = app.member("owner@toko.example", Role::Owner, None).await;
        let now_ms = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        // What happened before this process started is unknown: a page that old resyncs.
        let mut ancient = open_stream_at(&ours, "/api/live?since=0").await;
        let heard = read_stream_until(&mut ancient, "event:", Duration::from_secs(5)).await.expect("a first event");
        assert!(heard.starts_with("retry: 2000\n\nevent: resync"), "{heard}");

        // Past the start (and the margin for clocks): a page read now, with nothing changed since.
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        let page_read_at = now_ms();
        let mut quiet = open_stream_at(&ours, &format!("/api/live?since={page_read_at}")).await;
        assert_eq!(quiet.status(), StatusCode::OK);
        let mut watcher = open_stream(&ours).await;
        app.deliver(&v2_text("wamid.SINCE1", "+6281234567891", CONVERSATION_ID, Some("Budi"), "halo"), None)
            .await
            .expect(StatusCode::OK);
        let lead = app.lead_row("+6281234567891").await["id"].as_str().unwrap().to_string();
        // Once the watcher hears it, this process knows the workspace changed.
        read_stream_until(&mut watcher, &lead, Duration::from_secs(5)).await.expect("the change is announced");
        let heard = read_stream_until(&mut quiet, &lead, Duration::from_secs(5)).await.expect("the quiet page hears it");
        assert!(!heard.contains("resync"), "nothing was missed, nothing to reload: {heard}");

        // A page showing data read before that change starts with a resync; one read after it does not.
        let mut stale = open_stream_at(&ours, &format!("/api/live?since={page_read_at}")).await;
        let heard = read_stream_until(&mut stale, "event:", Duration::from_secs(5)).await.expect("a first event");
        assert!(heard.starts_with("retry: 2000\n\nevent: resync"), "{heard}");
        // (A session may hold four streams: a colleague's page.)
        let colleague = app.member("agent@toko.example", Role::Agent, None).await;
        tokio::time::sleep(Duration::from_millis(2_100)).await;
        let mut fresh = open_stream_at(&colleague, &format!("/api/live?since={}", now_ms())).await;
        app.state.live.publish(changed(app.workspace.id.as_str(), "marker", false));
        let heard = read_stream_until(&mut fresh, "marker", Duration::from_secs(5)).await.expect("the marker");
        assert!(!heard.contains("resync"), "{heard}");

        for bad in ["abc", "-5", "1e3"] {
            let reply = Reply::from(open_stream_at(&ours, &format!("/api/live?since={bad}")).await).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}: {}", reply.body);
            assert!(reply.body["message"].as_str().unwrap().contains("since"), "{}", reply.body);
        }
    }

    async fn an_automatic_merge_announces_the_merged_lead_so_pages_drop_its_row(app: TestApp) {
        let ours = app.member("owner@toko.example", Role::Owner, None).await;
        let mut page = open_stream(&ours).await;
        let received = Some("whatsapp.message.received");
        // Two leads of one person: a phone lead, and a BSUID-only one.
        app.deliver(&v2_text("wamid.AM1", "+6281200000009", "conv-am1", Some("Joko"), "halo"), received)
            .await
            .expect(StatusCode::OK);
        app.deliver(&v2_person("wamid.AM2", None, Some("ID.AM"), "conv-am2", Some("@joko"), "hai"), received)
            .await
            .expect(StatusCode::OK);
        let leads = app.all_leads().await;
        let bsuid_lead = leads.iter().find(|l| l["phone_normalized"].is_null()).unwrap()["id"].as_str().unwrap().to_string();
        read_stream_until(&mut page, &bsuid_lead, Duration::from_secs(5)).await.expect("the BSUID lead is announced");
        // One message naming both: merged, and the merged lead is announced too.
        app.deliver(&v2_person("wamid.AM3", Some("+6281200000009"), Some("ID.AM"), "conv-am1", None, "dua"), received)
            .await
            .expect(StatusCode::OK);
        assert_eq!(app.all_leads().await.len(), 1);
        let heard = read_stream_until(&mut page, &bsuid_lead, Duration::from_secs(5)).await;
        assert!(heard.is_some(), "the merged lead's row must be told to go");

        // The same through a number change that arrives after the new number wrote.
        app.deliver_meta(&meta_text("wamid.AM4", "6281234567890", "Budi", "lama")).await.expect(StatusCode::OK);
        app.deliver(&v2_text("wamid.AM5", "+6285712345678", "conv-am5", Some("Budi"), "baru"), received)
            .await
            .expect(StatusCode::OK);
        let newer = app.lead_row("+6285712345678").await["id"].as_str().unwrap().to_string();
        read_stream_until(&mut page, &newer, Duration::from_secs(5)).await.expect("the new number's lead is announced");
        app.deliver_meta(&meta_changed_number("wamid.AM6", "6281234567890", "6285712345678")).await.expect(StatusCode::OK);
        assert_eq!(app.all_leads().await.len(), 2);
        let heard = read_stream_until(&mut page, &newer, Duration::from_secs(5)).await;
        assert!(heard.is_some(), "the lead merged by the number change must be told to go");
        let gone = app.get(&format!("/api/v1/leads/{newer}")).await;
        assert_eq!(gone.expect(StatusCode::GONE)["error"], "merged");
    }

    async fn streams_over_the_session_cap_answer_429_with_a_message(app: TestApp) {
        let agent = app.member("agent@toko.example", Role::Agent, None).await;
        let cap = app.state.live.config().streams_per_session;
        let mut open = Vec::new();
        for _ in 0..cap {
            let stream = open_stream(&agent).await;
            assert_eq!(stream.status(), StatusCode::OK);
            open.push(stream);
        }
        let refused = Reply::from(open_stream(&agent).await).await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{}", refused.body);
        assert_eq!(refused.body["error"], "too_many_requests");
        let message = refused.body["message"].as_str().unwrap();
        assert!(message.contains(&format!("{cap} live pages")), "{message}");
        assert!(refused.headers.contains_key("retry-after"));
        // The page asks why its stream closed, and is told the same.
        let status = agent.call("live/status", &[]).await;
        assert_eq!(status.expect(StatusCode::OK).as_str(), Some(message));
        // Another session of the same person has its own allowance.
        let elsewhere = Browser::sign_in(&app, "agent@toko.example", PASSWORD).await;
        assert_eq!(open_stream(&elsewhere).await.status(), StatusCode::OK);
        // A page closed frees its place.
        drop(open.pop());
        let mut admitted = false;
        for _ in 0..50 {
            if agent.call("live/status", &[]).await.body.is_null() {
                admitted = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(admitted, "a closed stream gave its place back");
        assert_eq!(open_stream(&agent).await.status(), StatusCode::OK);
        // Signed out: the check says so (and the stream is 401).
        assert_eq!(Browser::anonymous(&app).call("live/status", &[]).await.status, StatusCode::UNAUTHORIZED);
    }

    async fn the_workspace_cap_refuses_streams_beyond_it(app: TestApp) {
        let config = LiveConfig { streams_per_workspace: 2, ..LiveConfig::default() };
        let hub = hub(&app, config).await;
        let now = tokio::time::Instant::now();
        let first = hub.open(viewer("w1", "s1"), now, None).unwrap();
        let _second = hub.open(viewer("w1", "s2"), now, None).unwrap();
        let refused = hub.open(viewer("w1", "s3"), now, None).err().expect("over the workspace cap");
        assert!(refused.to_string().contains("2 live pages"), "{refused}");
        assert!(hub.open(viewer("w2", "s3"), now, None).is_ok(), "other workspaces are not affected");
        drop(first);
        assert!(hub.open(viewer("w1", "s3"), now, None).is_ok());
    }

    async fn a_lagging_stream_gets_one_resync_instead_of_a_backlog(app: TestApp) {
        let config = LiveConfig { channel_capacity: 2, coalesce_window: Duration::from_millis(5), ..LiveConfig::default() };
        let hub = hub(&app, config).await;
        let now = tokio::time::Instant::now();
        let mut slow = bytes_of(hub.open(viewer("w1", "slow"), now, None).unwrap());
        let mut witness = bytes_of(hub.open(viewer("w1", "witness"), now, None).unwrap());
        assert!(next_text(&mut slow, Duration::from_secs(1)).await.unwrap().starts_with("retry:"));
        assert!(next_text(&mut witness, Duration::from_secs(1)).await.unwrap().starts_with("retry:"));
        // Six frames, each seen to be sent, while the slow page reads nothing.
        for i in 0..6 {
            hub.publish(changed("w1", &format!("backlog-{i}"), false));
            let got = next_text(&mut witness, Duration::from_secs(5)).await.expect("the witness hears it");
            assert!(got.contains(&format!("backlog-{i}")), "{got}");
        }
        assert_eq!(next_text(&mut slow, Duration::from_secs(1)).await.as_deref(), Some("event: resync\ndata: {}\n\n"));
        hub.publish(changed("w1", "after", false));
        let next = next_text(&mut slow, Duration::from_secs(5)).await.expect("live again after the resync");
        assert!(next.contains("\"after\"") && !next.contains("backlog"), "no backlog after the resync: {next}");
    }

    async fn coalescing_keeps_one_event_per_lead_with_its_final_state(app: TestApp) {
        let config = LiveConfig { coalesce_window: Duration::from_millis(400), ..LiveConfig::default() };
        let hub = hub(&app, config).await;
        let mut page = bytes_of(hub.open(viewer("w1", "s1"), tokio::time::Instant::now(), None).unwrap());
        assert!(next_text(&mut page, Duration::from_secs(1)).await.unwrap().starts_with("retry:"));
        for (lead, created) in [("a", true), ("b", false), ("a", false), ("c", true), ("b", false), ("a", false)] {
            hub.publish(changed("w1", lead, created));
        }
        let frame = next_text(&mut page, Duration::from_secs(5)).await.expect("one frame");
        let events: Vec<&str> = frame.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(
            events,
            vec![
                "event: lead\ndata: {\"lead_id\":\"c\",\"created\":true}",
                "event: lead\ndata: {\"lead_id\":\"b\",\"created\":false}",
                "event: lead\ndata: {\"lead_id\":\"a\",\"created\":true}",
            ],
            "one event per lead, in the order of their last change (the last active on top)"
        );
        assert!(next_text(&mut page, Duration::from_millis(800)).await.is_none(), "nothing more");
    }

    async fn a_workspace_channel_lives_only_while_someone_watches(app: TestApp) {
        let hub = hub(&app, LiveConfig::default()).await;
        assert_eq!(hub.watched_workspaces(), 0);
        let now = tokio::time::Instant::now();
        let a = hub.open(viewer("w1", "s1"), now, None).unwrap();
        let b = hub.open(viewer("w1", "s2"), now, None).unwrap();
        assert_eq!((hub.watched_workspaces(), hub.open_streams()), (1, 2));
        drop(a);
        assert_eq!((hub.watched_workspaces(), hub.open_streams()), (1, 1));
        drop(b);
        assert_eq!((hub.watched_workspaces(), hub.open_streams()), (0, 0));
    }

    async fn a_stream_ends_within_seconds_after_sign_out(app: TestApp) {
        let agent = app.member("agent@toko.example", Role::Agent, None).await;
        let other_device = Browser::sign_in(&app, "agent@toko.example", PASSWORD).await;
        let mut stream = open_stream(&agent).await;
        let mut other_stream = open_stream(&other_device).await;
        assert_eq!(stream.status(), StatusCode::OK);
        assert!(agent.post_form("/logout", &[]).await.status.is_redirection());
        let read = read_until_closed(&mut stream, Duration::from_secs(5)).await.expect("the stream ended");
        assert!(read.contains("event: end"), "{read}");
        assert_eq!(open_stream(&agent).await.status(), StatusCode::UNAUTHORIZED);
        // The same person's other session keeps its stream.
        app.state.live.publish(changed(app.workspace.id.as_str(), "still-here", false));
        assert!(read_stream_until(&mut other_stream, "still-here", Duration::from_secs(5)).await.is_some());
    }

    async fn a_stream_ends_within_seconds_after_the_membership_is_removed(app: TestApp) {
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        let agent = app.member("agent@toko.example", Role::Agent, None).await;
        let mut stream = open_stream(&agent).await;
        let mut owners_stream = open_stream(&owner).await;
        let user = accounts::find_user_by_email(&app.db, "agent@toko.example").await.unwrap().unwrap();
        owner.call("settings/remove-member", &[("user_id", user.id.as_str())]).await.expect(StatusCode::OK);
        let read = read_until_closed(&mut stream, Duration::from_secs(5)).await.expect("the stream ended");
        assert!(read.contains("event: end"), "{read}");
        assert_eq!(open_stream(&agent).await.status(), StatusCode::UNAUTHORIZED);
        app.state.live.publish(changed(app.workspace.id.as_str(), "owner-still-hears", false));
        assert!(read_stream_until(&mut owners_stream, "owner-still-hears", Duration::from_secs(5)).await.is_some());
    }
}

/// A session or membership that ends while a stream is being admitted: the stream is
/// refused rather than left open (the session was checked before the end was announced).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_admitted_after_its_session_ended_is_refused() {
    let app = TestApp::spawn(Engine::Sqlite).await;
    let hub = hub(&app, LiveConfig::default()).await;
    let checked_at = tokio::time::Instant::now();
    hub.end_streams_for_session("s1");
    assert!(hub.open(viewer("w1", "s1"), checked_at, None).is_err(), "checked before the session ended");
    assert!(hub.open(viewer("w1", "s2"), checked_at, None).is_ok(), "another session");
    assert!(hub.open(viewer("w1", "s1"), tokio::time::Instant::now(), None).is_ok(), "checked after: a new session");
}

/// Two replicas sharing PostgreSQL: signing out on one ends the page's stream served by the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_on_one_replica_ends_streams_on_another() {
    let first = TestApp::spawn(Engine::Postgres).await;
    let agent = first.member("agent@toko.example", Role::Agent, None).await;
    let second = second_replica(&first).await;
    let on_second = Browser { base_url: second, ..agent.clone() };
    let mut stream = open_stream(&on_second).await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(agent.post_form("/logout", &[]).await.status.is_redirection());
    let read = read_until_closed(&mut stream, Duration::from_secs(5)).await.expect("the other replica's stream ended");
    assert!(read.contains("event: end"), "{read}");
}
