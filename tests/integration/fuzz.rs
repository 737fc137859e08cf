//! Property tests on the webhook as a whole: whatever a correctly signed body holds,
//! the answer is never a 5xx (nor a panic), and a refused body stores nothing.

use proptest::{prelude::*, strategy::ValueTree, test_runner::TestRunner};
use serde_json::Value;

/// Every JSON pointer inside `value`.
fn pointers(value: &Value, prefix: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let pointer = format!("{prefix}/{}", key.replace('~', "~0").replace('/', "~1"));
                out.push(pointer.clone());
                pointers(child, pointer, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let pointer = format!("{prefix}/{i}");
                out.push(pointer.clone());
                pointers(child, pointer, out);
            }
        }
        _ => {}
    }
}

fn replacement() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        Just(Value::from(-1.5)),
        "\\PC{0,40}".prop_map(Value::String),
        Just(Value::String("x".repeat(5000))),
        Just(Value::String("<script>alert(1)</script>".into())),
        Just(Value::String("+62 812 3456 7890".into())),
        Just(Value::String("".into())),
        Just(serde_json::json!({})),
        Just(serde_json::json!([])),
        Just(serde_json::json!([{}])),
    ]
}

/// A fixture with a few of its values replaced (or removed) at random places.
fn mutated_bodies() -> impl Strategy<Value = (usize, Vec<(prop::sample::Index, Option<Value>)>)> {
    (
        0..FIXTURES.len(),
        prop::collection::vec((any::<prop::sample::Index>(), prop::option::weighted(0.85, replacement())), 1..5),
    )
}

const FIXTURES: [&str; 5] = [
    "v2-message-received.json",
    "v2-batch-message-received.json",
    "v2-conversation-created.json",
    "meta-forwarded-text.json",
    "meta-forwarded-statuses.json",
];

fn apply(fixture: usize, mutations: &[(prop::sample::Index, Option<Value>)]) -> Value {
    let mut body: Value = serde_json::from_slice(&crate::support::fixture(FIXTURES[fixture])).unwrap();
    for (index, replacement) in mutations {
        let mut all = Vec::new();
        pointers(&body, String::new(), &mut all);
        if all.is_empty() {
            break;
        }
        let pointer = all[index.index(all.len())].clone();
        match replacement {
            Some(value) => {
                if let Some(slot) = body.pointer_mut(&pointer) {
                    *slot = value.clone();
                }
            }
            None => {
                let (parent, key) = pointer.rsplit_once('/').unwrap();
                match body.pointer_mut(parent) {
                    Some(Value::Object(map)) => {
                        map.remove(&key.replace("~1", "/").replace("~0", "~"));
                    }
                    Some(Value::Array(items)) => {
                        if let Ok(i) = key.parse::<usize>() {
                            if i < items.len() {
                                items.remove(i);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    body
}

on_both_engines! {
    async fn mutated_deliveries_never_cause_a_server_error(app: TestApp) {
        let mut runner = TestRunner::deterministic();
        let strategy = mutated_bodies();
        let events = [None, Some("whatsapp.message.received"), Some("whatsapp.message.read"), Some("whatsapp.conversation.ended")];
        for case in 0..150 {
            let (fixture, mutations) = strategy.new_tree(&mut runner).unwrap().current();
            let body = apply(fixture, &mutations);
            let reply = app.deliver(&body, events[case % events.len()]).await;
            assert!(
                reply.status.is_success() || reply.status.is_client_error(),
                "case {case}: {} for body {body}: {}",
                reply.status,
                reply.body
            );
            if reply.status.is_client_error() {
                assert!(reply.body["error"].is_string() && reply.body["message"].is_string(), "{}", reply.body);
            }
        }
    }

    async fn arbitrary_signed_bytes_are_refused_cleanly(app: TestApp) {
        let mut runner = TestRunner::deterministic();
        let strategy = prop::collection::vec(any::<u8>(), 0..2048);
        let before = app.count("webhook_deliveries").await;
        for case in 0..200 {
            let bytes = strategy.new_tree(&mut runner).unwrap().current();
            let reply = app.deliver_bytes(&bytes, None, None).await;
            assert!(reply.status.is_client_error(), "case {case}: {} for {bytes:?}", reply.status);
        }
        assert_eq!(app.count("webhook_deliveries").await, before);
    }
}

/// What may be added to a valid delivery without making it invalid: a field of a name no
/// producer uses today, a message type that does not exist yet, or a type-specific part
/// in a shape leadline does not expect.
#[derive(Clone, Debug)]
enum Addition {
    UnknownField { at: prop::sample::Index, name: u16, value: Value },
    UnknownType { name: u16, value: Value },
    OddTypeSpecific { value: Value },
}

fn additions() -> impl Strategy<Value = (prop::sample::Index, Vec<Addition>)> {
    let addition = prop_oneof![
        4 => (any::<prop::sample::Index>(), any::<u16>(), replacement())
            .prop_map(|(at, name, value)| Addition::UnknownField { at, name, value }),
        1 => (any::<u16>(), replacement()).prop_map(|(name, value)| Addition::UnknownType { name, value }),
        1 => replacement().prop_map(|value| Addition::OddTypeSpecific { value }),
    ];
    (any::<prop::sample::Index>(), prop::collection::vec(addition, 1..5))
}

/// Every object inside `value`, by JSON pointer.
fn objects(value: &Value, prefix: String, out: &mut Vec<String>) {
    if value.is_object() {
        out.push(prefix.clone());
    }
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                objects(child, format!("{prefix}/{}", key.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                objects(child, format!("{prefix}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn grow(mut body: Value, additions: &[Addition]) -> Value {
    for addition in additions {
        let message =
            ["/entry/0/changes/0/value/messages/0", "/message"].into_iter().find(|p| body.pointer(p).is_some());
        match addition {
            Addition::UnknownField { at, name, value } => {
                let mut all = Vec::new();
                objects(&body, String::new(), &mut all);
                let pointer = all[at.index(all.len())].clone();
                if let Some(Value::Object(map)) = body.pointer_mut(&pointer) {
                    map.insert(format!("x_future_{name}"), value.clone());
                }
            }
            Addition::UnknownType { name, value } => {
                if let Some(Value::Object(message)) = message.and_then(|p| body.pointer_mut(p)) {
                    let kind = format!("future_type_{name}");
                    message.insert("type".into(), Value::String(kind.clone()));
                    message.insert(kind, value.clone());
                }
            }
            Addition::OddTypeSpecific { value } => {
                if let Some(Value::Object(message)) = message.and_then(|p| body.pointer_mut(p)) {
                    if let Some(kind) = message.get("type").and_then(Value::as_str).map(str::to_string) {
                        message.insert(kind, value.clone());
                    }
                }
            }
        }
    }
    body
}

on_both_engines! {
    async fn signed_deliveries_that_only_add_unknown_fields_or_types_are_accepted(app: TestApp) {
        let files = crate::corpus::corpus();
        let mut runner = TestRunner::deterministic();
        let strategy = additions();
        for case in 0..160 {
            let (which, additions) = strategy.new_tree(&mut runner).unwrap().current();
            let (name, raw) = &files[which.index(files.len())];
            let body = grow(serde_json::from_slice(raw).unwrap(), &additions);
            let bytes = serde_json::to_vec(&body).unwrap();
            let reply = crate::corpus::deliver_file(&app, name, &bytes).await;
            assert_eq!(reply.status, reqwest::StatusCode::OK, "case {case} ({name}, {additions:?}): {}\n{body}", reply.body);
        }
    }
}
