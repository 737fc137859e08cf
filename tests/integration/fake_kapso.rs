//! A local stand-in for Kapso's send API, driven by the reply tests: it records every
//! request (path, headers, JSON body) and answers from a script — 200 with a wamid,
//! any status, a redirect, or no answer at all (hang).

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde_json::{json, Value};
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

#[derive(Clone, Debug)]
pub enum Answer {
    /// 200 with `messages[0].id = wamid.fake.<n>` (n: the request's number, from 1).
    Ok,
    /// 200 after a delay.
    SlowOk(Duration),
    Status(u16),
    /// 302 to this URL.
    Redirect(String),
    /// Never answers.
    Hang,
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Default)]
struct Fake {
    requests: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Answer>>,
    otherwise: Mutex<Option<Answer>>,
    templates: Mutex<Value>,
}

#[derive(Clone)]
pub struct FakeKapso {
    pub base_url: String,
    fake: Arc<Fake>,
}

/// The wamid the fake gives its n-th request (from 1).
pub fn fake_wamid(n: usize) -> String {
    format!("wamid.fake.{n}")
}

impl FakeKapso {
    pub async fn start() -> FakeKapso {
        let fake = Arc::new(Fake::default());
        *fake.templates.lock().unwrap() = json!({"data": [
            {"name": "follow_up", "language": "id", "status": "APPROVED", "category": "UTILITY",
             "components": [{"type": "BODY", "text": "Halo {{1}}, pesanan {{2}} sudah siap."}]},
            {"name": "promo_image", "language": "id", "status": "APPROVED", "category": "MARKETING",
             "components": [{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Diskon!"}]}
        ]});
        let router = Router::new()
            .route("/meta/whatsapp/v24.0/{number}/messages", post(send))
            .route("/meta/whatsapp/v24.0/{waba}/message_templates", get(templates))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        FakeKapso { base_url: format!("http://{addr}"), fake }
    }

    /// The next answers, in order; after them, `otherwise` (200 by default).
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.fake.script.lock().unwrap().extend(answers);
    }

    pub fn otherwise(&self, answer: Answer) {
        *self.fake.otherwise.lock().unwrap() = Some(answer);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.fake.requests.lock().unwrap().clone()
    }

    pub fn sends(&self) -> usize {
        self.fake.requests.lock().unwrap().iter().filter(|r| r.path.ends_with("/messages")).count()
    }

    /// Waits until at least `n` sends arrived (panics after `within`).
    pub async fn wait_for_sends(&self, n: usize, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while self.sends() < n {
            assert!(tokio::time::Instant::now() < deadline, "Kapso got {} sends, expected {n}", self.sends());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn send(State(fake): State<Arc<Fake>>, Path(number): Path<String>, headers: HeaderMap, body: String) -> Response {
    let n = {
        let mut requests = fake.requests.lock().unwrap();
        requests.push(Recorded {
            path: format!("/meta/whatsapp/v24.0/{number}/messages"),
            headers,
            body: serde_json::from_str(&body).unwrap_or(Value::Null),
        });
        requests.len()
    };
    let answer = fake.script.lock().unwrap().pop_front();
    let answer = answer.or_else(|| fake.otherwise.lock().unwrap().clone()).unwrap_or(Answer::Ok);
    let ok = || {
        Json(json!({"messaging_product": "whatsapp", "contacts": [{"input": "x", "wa_id": "x"}],
                    "messages": [{"id": fake_wamid(n)}]}))
        .into_response()
    };
    match answer {
        Answer::Ok => ok(),
        Answer::SlowOk(delay) => {
            tokio::time::sleep(delay).await;
            ok()
        }
        Answer::Status(code) => (
            StatusCode::from_u16(code).unwrap(),
            Json(json!({"error": {"message": format!("fake answer {code}"), "code": code}})),
        )
            .into_response(),
        Answer::Redirect(to) => (StatusCode::FOUND, [("location", to)]).into_response(),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            ok()
        }
    }
}

async fn templates(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    fake.requests.lock().unwrap().push(Recorded { path: "message_templates".into(), headers, body: Value::Null });
    Json(fake.templates.lock().unwrap().clone()).into_response()
}
