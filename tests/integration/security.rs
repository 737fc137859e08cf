//! Attacks on signing in and on the browser, each written as the attacker would send it
//! (issue 9): redirect tricks after sign-in, cacheable pages, concurrent password
//! guessing, a client-written `X-Forwarded-For`, and workspaces left without an owner.

use crate::support::*;
use leadline::model::Role;
use reqwest::StatusCode;

/// Signs in with `next` and returns where the browser is sent.
async fn sign_in_with_next(app: &TestApp, next: &str) -> (StatusCode, String) {
    let browser = Browser::anonymous(app);
    let reply =
        browser.post_form("/login", &[("email", "owner@toko.example"), ("password", PASSWORD), ("next", next)]).await;
    let location = reply.headers.get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (reply.status, location)
}

on_both_engines! {
    async fn open_redirect_with_a_tab_or_newline_in_next_goes_to_the_database(app: TestApp) {
        app.member("owner@toko.example", Role::Owner, None).await;
        for hostile in [
            "/\t/evil.example",
            "/%09/evil.example",
            "/\n/evil.example",
            "/%0A/evil.example",
            "/%0d%0a/evil.example",
            "/\r\nSet-Cookie: planted=1",
            "/\\evil.example",
            "/%5Cevil.example",
            "/%2f/evil.example",
            "//evil.example",
            "///evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "/ /evil.example",
            "/\u{0}/evil.example",
            "/\u{2028}/evil.example",
            "/login?next=//evil.example",
        ] {
            let (status, location) = sign_in_with_next(&app, hostile).await;
            assert_eq!(status, StatusCode::SEE_OTHER, "{hostile:?} is answered, never a 500");
            assert_eq!(location, "/leads", "{hostile:?}");
        }
        // A genuine deep link survives sign-in.
        let (_, location) = sign_in_with_next(&app, "/leads?q=budi&status=hot").await;
        assert_eq!(location, "/leads?q=budi&status=hot");
        // A failed sign-in carries `next` back to the form encoded, never raw.
        let reply = Browser::anonymous(&app)
            .post_form("/login", &[("email", "owner@toko.example"), ("password", "wrong password!"), ("next", "/\n/x")])
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        let location = reply.headers["location"].to_str().unwrap();
        assert!(location.starts_with("/login?error=invalid") && !location.contains('\n'), "{location}");
    }

    async fn the_sign_in_page_with_a_newline_in_next_is_not_a_server_error(app: TestApp) {
        for next in ["%0A", "%0D%0ALocation:%20//evil.example", "%09/evil.example"] {
            let reply = Browser::anonymous(&app).get(&format!("/login?next={next}")).await;
            assert_eq!(reply.status, StatusCode::OK, "{next}");
        }
    }
}

on_both_engines! {
    async fn signed_in_pages_server_functions_and_the_api_are_never_cacheable(app: TestApp) {
        let (lead, conversation) = crate::access::seed(&app).await;
        let owner = app.member("owner@toko.example", Role::Owner, None).await;
        let no_store = |what: &str, reply: &Reply| {
            let value = reply.headers.get("cache-control").map(|v| v.to_str().unwrap().to_string());
            assert_eq!(value.as_deref(), Some("no-store"), "{what} ({})", reply.status);
        };
        for page in crate::access::pages(&lead, &conversation) {
            no_store(&page, &owner.get(&page).await);
        }
        for (endpoint, args) in crate::access::server_functions(&lead, &conversation) {
            no_store(endpoint, &owner.call(endpoint, &args).await);
        }
        for path in ["/api/v1/leads".to_string(), format!("/api/v1/leads/{lead}"), format!("/api/v1/leads/{lead}/messages")] {
            no_store(&path, &app.get(&path).await);
        }
        // Refusals too (a 401 page must not be served from a cache after sign-in).
        no_store("anonymous /leads", &Browser::anonymous(&app).get("/leads").await);
        no_store("bad token", &app.api_as("nope", reqwest::Method::GET, "/api/v1/leads", None).await);
        let live = owner
            .http
            .get(format!("{}/api/live", owner.base_url))
            .header("cookie", owner.cookie.clone().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(live.headers()["cache-control"], "no-store", "/api/live");
        // Plain http: no HSTS, the plain cookie name.
        assert!(owner.get("/leads").await.headers.get("strict-transport-security").is_none());
    }
}

/// With `PUBLIC_URL=https://…`: HSTS on every response and a `__Host-` session cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_the_session_cookie_is_host_only_and_hsts_is_sent() {
    let app = TestApp::spawn_with(Engine::Sqlite, |security| security.https = true).await;
    app.member_without_sign_in("owner@toko.example", Role::Owner).await;
    let browser = Browser::anonymous(&app);
    let login = browser.get("/login").await;
    assert_eq!(login.headers["strict-transport-security"], "max-age=31536000");
    let reply = browser.post_form("/login", &[("email", "owner@toko.example"), ("password", PASSWORD)]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let set_cookie = reply.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.starts_with("__Host-leadline_session="), "{set_cookie}");
    for part in ["Secure", "Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(set_cookie.contains(part), "{part} in {set_cookie}");
    }
    assert!(!set_cookie.contains("Domain"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let signed_in = Browser { cookie: Some(cookie.clone()), ..browser.clone() };
    assert_eq!(signed_in.call("me", &[]).await.expect(StatusCode::OK)["email"], "owner@toko.example");
    // The plain name (which a subdomain could set) is not a session here.
    let planted = Browser { cookie: Some(cookie.trim_start_matches("__Host-").to_string()), ..browser };
    assert_eq!(planted.call("me", &[]).await.body, serde_json::Value::Null);
}

/// A sign-in posted through a proxy that appended `forwarded_for` to `X-Forwarded-For`.
async fn sign_in_via(app: &TestApp, email: &str, password: &str, forwarded_for: Option<&str>) -> Reply {
    let mut request = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/login"))
        .header("origin", app.base_url.clone())
        .header("sec-fetch-site", "same-origin")
        .form(&[("email", email), ("password", password)]);
    if let Some(value) = forwarded_for {
        request = request.header("x-forwarded-for", value);
    }
    Reply::from(request.send().await.unwrap()).await
}

fn location(reply: &Reply) -> String {
    reply.headers.get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

on_both_engines! {
    async fn sixty_concurrent_wrong_passwords_get_at_most_five_hash_checks(app: TestApp) {
        app.member_without_sign_in("owner@toko.example", Role::Owner).await;
        let before = app.state.password_gate.checks();
        let attempts = (0..60).map(|i| {
            let app = &app;
            async move { sign_in_via(app, "owner@toko.example", &format!("wrong guess {i}"), None).await }
        });
        let replies = futures::future::join_all(attempts).await;
        let checks = app.state.password_gate.checks() - before;
        assert!(checks <= 5, "{checks} passwords were checked against the hash");
        assert!(checks >= 1);
        for reply in &replies {
            assert!(
                reply.status == StatusCode::SEE_OTHER || reply.status == StatusCode::TOO_MANY_REQUESTS,
                "{} {}",
                reply.status,
                reply.body
            );
            assert!(session_cookie(reply).is_none());
        }
        let wrong = replies.iter().filter(|r| location(r).starts_with("/login?error=invalid")).count();
        let limited = replies.iter().filter(|r| location(r).starts_with("/login?error=too_many")).count();
        let busy = replies.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS).count();
        assert_eq!(wrong as u64, checks, "every checked guess was answered as wrong, no other was checked");
        assert_eq!(wrong + limited + busy, 60);
        assert!(limited >= 50, "{limited} limited, {busy} refused by the argon2 gate");
        // Guesses the gate refused were not checked and do not count; the window fills
        // with at most five checked ones, and then even the right password is refused.
        for _ in checks..5 {
            sign_in_via(&app, "owner@toko.example", "one more guess", None).await;
        }
        let right = sign_in_via(&app, "owner@toko.example", PASSWORD, None).await;
        assert!(location(&right).starts_with("/login?error=too_many"), "{}", location(&right));
        assert_eq!(app.state.password_gate.checks() - before, 5);
    }

    async fn a_client_written_forwarded_for_does_not_escape_the_address_limit(app: TestApp) {
        let app = TestApp::spawn_with(app.database.engine, |security| {
            security.trust_proxy = leadline::server::security::TrustProxy::Hops(1)
        })
        .await;
        // The attacker writes a new address each time; our proxy appends the real one.
        for i in 0..20 {
            let reply =
                sign_in_via(&app, &format!("guess{i}@toko.example"), "wrong password!", Some(&format!("10.9.{i}.1, 203.0.113.7"))).await;
            assert!(location(&reply).starts_with("/login?error=invalid"), "{i}: {}", location(&reply));
        }
        let spoofed = sign_in_via(&app, "guess99@toko.example", "wrong password!", Some("1.2.3.4, 203.0.113.7")).await;
        assert!(location(&spoofed).starts_with("/login?error=too_many"), "{}", location(&spoofed));
        // Another real client is not affected.
        let other = sign_in_via(&app, "guess99@toko.example", "wrong password!", Some("1.2.3.4, 203.0.113.8")).await;
        assert!(location(&other).starts_with("/login?error=invalid"), "{}", location(&other));
    }

    async fn huge_emails_and_passwords_are_refused_before_hashing_or_storing(app: TestApp) {
        app.member_without_sign_in("owner@toko.example", Role::Owner).await;
        let before = app.state.password_gate.checks();
        let long_email = format!("{}@toko.example", "a".repeat(10_000));
        let reply = sign_in_via(&app, &long_email, "wrong password!", None).await;
        assert!(location(&reply).starts_with("/login?error=invalid"));
        assert!(location(&reply).len() < 200, "the email is not echoed back");
        let reply = sign_in_via(&app, "owner@toko.example", &"x".repeat(100_000), None).await;
        assert!(location(&reply).starts_with("/login?error=invalid"));
        assert_eq!(app.state.password_gate.checks(), before, "no hash was computed");
        assert_eq!(app.count("sign_in_attempts").await, 0, "nothing was stored");
        // The owner can still sign in.
        let ok = sign_in_via(&app, "owner@toko.example", PASSWORD, None).await;
        assert!(session_cookie(&ok).is_some(), "{}", location(&ok));
    }
}

/// More concurrent argon2 work than the gate allows is answered 429 at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_sign_ins_beyond_the_argon2_gate_is_answered_429() {
    let app = TestApp::spawn_with(Engine::Sqlite, |security| {
        security.max_password_checks = 1;
        security.trust_proxy = leadline::server::security::TrustProxy::Hops(1);
    })
    .await;
    let attempts = (0..30).map(|i| {
        let app = &app;
        async move {
            sign_in_via(app, &format!("p{i}@toko.example"), "wrong password!", Some(&format!("198.51.100.{i}"))).await
        }
    });
    let replies = futures::future::join_all(attempts).await;
    let busy: Vec<_> = replies.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS).collect();
    assert!(!busy.is_empty(), "30 concurrent checks with one slot: some are refused");
    assert_eq!(busy[0].headers["retry-after"], "1");
    assert_eq!(app.state.password_gate.most_at_once(), 1);
    assert!(app.state.password_gate.checks() < 30);
    // Refused attempts were not counted against anyone: a refused address can try again.
    assert_eq!(
        replies.iter().filter(|r| r.status == StatusCode::SEE_OTHER).count() as u64,
        app.state.password_gate.checks()
    );
}
