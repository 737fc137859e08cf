use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kapso").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn only_message(delivery: &Delivery) -> &MessageEvent {
    match &delivery.items[..] {
        [Item { event: Event::Message(m), .. }] => m,
        other => panic!("expected one message, got {other:?}"),
    }
}

#[test]
fn kapso_v2_single_message() {
    let d = parse(&fixture("v2-message-received.json"), Some("whatsapp.message.received")).unwrap();
    assert_eq!(d.format, Format::KapsoV2);
    assert_eq!(d.items[0].phone_number_id.as_deref(), Some("123456789012345"));
    let m = only_message(&d);
    assert_eq!(m.direction, Direction::Inbound);
    assert_eq!(m.customer.phone.as_deref(), Some("+6281234567890"));
    assert_eq!(m.customer.profile_name.as_deref(), Some("Budi Santoso"));
    assert_eq!(m.kapso_conversation_id.as_deref(), Some("3f1c2b7e-8d4a-4c1e-9a55-2b6f0d9e7a11"));
    assert_eq!(m.content.as_deref(), Some("Halo, apakah produk ini masih tersedia?"));
    assert_eq!(m.provider_timestamp, Some(1_767_243_600_000));
}

#[test]
fn kapso_batch_with_media_placeholder() {
    let d = parse(&fixture("v2-batch-message-received.json"), None).unwrap();
    assert_eq!(d.format, Format::KapsoBatch);
    assert_eq!(d.items.len(), 2);
    let Event::Message(image) = &d.items[1].event else { panic!() };
    assert_eq!(image.preview, "[Image] ini fotonya");
    assert_eq!(image.media_url.as_deref(), Some("https://example.invalid/media/1234567890"));
}

#[test]
fn meta_message_and_statuses() {
    let d = parse(&fixture("meta-forwarded-text.json"), None).unwrap();
    assert_eq!(d.format, Format::Meta);
    let m = only_message(&d);
    assert_eq!(m.customer.phone.as_deref(), Some("6281234567890"));
    assert_eq!(m.customer.profile_name.as_deref(), Some("Budi Santoso"));
    assert_eq!(m.reply_to.as_deref(), Some("wamid.OUTBOUND0001"));
    let d = parse(&fixture("meta-forwarded-statuses.json"), None).unwrap();
    assert!(matches!(
        &d.items[..],
        [Item { event: Event::Status(StatusEvent { status: DeliveryStatus::Read, .. }), .. }]
    ));
}

#[test]
fn whatsapp_status_names_are_read_as_the_five_it_reports() {
    for (name, status) in [
        ("pending", DeliveryStatus::Pending),
        ("queued", DeliveryStatus::Pending),
        ("accepted", DeliveryStatus::Pending),
        ("sent", DeliveryStatus::Sent),
        ("delivered", DeliveryStatus::Delivered),
        ("read", DeliveryStatus::Read),
        ("played", DeliveryStatus::Read),
        ("failed", DeliveryStatus::Failed),
        ("undelivered", DeliveryStatus::Failed),
    ] {
        assert_eq!(delivery_status(name), Some(status), "{name}");
    }
    // `unknown` is leadline's own (an interrupted send), never WhatsApp's.
    assert_eq!(delivery_status("unknown"), None);
    assert_eq!(delivery_status("Read"), None);
}

#[test]
fn business_scoped_ids_and_usernames_are_read_everywhere() {
    let d = parse(&fixture("v2-message-received-bsuid-only.json"), Some("whatsapp.message.received")).unwrap();
    let m = only_message(&d);
    assert_eq!(m.customer.phone, None);
    assert_eq!(m.customer.business_scoped_id.as_deref(), Some("ID.77700011122233344"));
    assert_eq!(m.customer.username.as_deref(), Some("@dewi.kue"));
    assert_eq!(m.customer.profile_name.as_deref(), Some("Dewi"));

    let d = parse(&fixture("meta-forwarded-bsuid.json"), None).unwrap();
    let m = only_message(&d);
    assert_eq!(m.customer.phone.as_deref(), Some("6281377788899"));
    assert_eq!(m.customer.business_scoped_id.as_deref(), Some("ID.77700011122233344"));
    assert_eq!(m.customer.username.as_deref(), Some("@dewi.kue"));
    assert_eq!(m.customer.profile_name.as_deref(), Some("Dewi"));

    let body = br#"{"message": {"id": "w1", "type": "text", "text": {"body": "x"},
        "from_user_id": "US.1", "from_parent_user_id": "US.ENT.9"},
        "conversation": {"id": "c1", "phone_number": null, "business_scoped_user_id": 42,
                         "username": ["odd"], "kapso": {"contact_name": "Al"}},
        "phone_number_id": "1"}"#;
    let d = parse(body, Some("whatsapp.message.received")).unwrap();
    let m = only_message(&d);
    assert_eq!(m.customer.business_scoped_id.as_deref(), Some("US.1"), "the sender's own id wins");
    assert_eq!(m.customer.parent_business_scoped_id.as_deref(), Some("US.ENT.9"));
    assert_eq!(m.customer.username, None, "an odd-shaped username is ignored, not refused");
}

#[test]
fn number_and_user_id_changes_are_read_from_system_messages() {
    let d = parse(&fixture("meta-system-user-changed-number.json"), None).unwrap();
    let m = only_message(&d);
    assert_eq!(m.customer.phone.as_deref(), Some("6281234567890"));
    let change = m.customer.changed_to.as_ref().unwrap();
    assert_eq!(change.phone.as_deref(), Some("6285712345678"));
    let body = br#"{"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {
        "metadata": {"phone_number_id": "1"},
        "messages": [{"from_user_id": "ID.old", "id": "w", "type": "system",
                      "system": {"type": "user_id_update", "user_id": "ID.new", "body": "changed"}}]}}]}]}"#;
    let d = parse(body, None).unwrap();
    let change = only_message(&d).customer.changed_to.clone().unwrap();
    assert_eq!(change.business_scoped_id.as_deref(), Some("ID.new"));
    assert_eq!(change.phone, None);
}

#[test]
fn statuses_carry_the_recipients_phone_and_bsuid() {
    let body = br#"{"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {
        "metadata": {"phone_number_id": "1"},
        "statuses": [{"id": "w", "status": "read", "recipient_id": "6281", "recipient_user_id": "ID.9"}]}}]}]}"#;
    let d = parse(body, None).unwrap();
    let Event::Status(status) = &d.items[0].event else { panic!() };
    assert_eq!(status.recipient.phone.as_deref(), Some("6281"));
    assert_eq!(status.recipient.business_scoped_id.as_deref(), Some("ID.9"));
}

#[test]
fn meta_senders_are_found_among_many_contacts_by_number_or_user_id() {
    // As many as one delivery may hold (see the item cap).
    let n = MAX_ITEMS_PER_DELIVERY / 2;
    let contacts: Vec<serde_json::Value> = (0..n)
        .map(|i| serde_json::json!({"wa_id": format!("62812{i:06}"), "user_id": format!("ID.{i}"), "profile": {"name": format!("C{i}")}}))
        .collect();
    let messages: Vec<serde_json::Value> = (0..n)
        .map(|i| if i % 2 == 0 {
            serde_json::json!({"from": format!("62812{i:06}"), "id": format!("w{i}"), "type": "text", "text": {"body": "x"}})
        } else {
            serde_json::json!({"from_user_id": format!("ID.{i}"), "id": format!("w{i}"), "type": "text", "text": {"body": "x"}})
        })
        .collect();
    let body = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"changes": [{"value": {
        "metadata": {"phone_number_id": "1"}, "contacts": contacts, "messages": messages}}]}]});
    let d = parse(&serde_json::to_vec(&body).unwrap(), None).unwrap();
    for (i, item) in d.items.iter().enumerate() {
        let Event::Message(m) = &item.event else { panic!() };
        assert_eq!(m.customer.profile_name.as_deref(), Some(format!("C{i}").as_str()));
        assert_eq!(m.customer.phone.as_deref(), Some(format!("62812{i:06}").as_str()));
        assert_eq!(m.customer.business_scoped_id.as_deref(), Some(format!("ID.{i}").as_str()));
    }
}

#[test]
fn conversation_event() {
    let d = parse(&fixture("v2-conversation-created.json"), Some("whatsapp.conversation.created")).unwrap();
    assert!(matches!(&d.items[0].event, Event::Conversation(c) if c.status.as_deref() == Some("active")));
}

#[test]
fn wrong_shapes_name_the_problem() {
    let err = parse(br#"{"message": {"id": 5}}"#, None).unwrap_err();
    assert_eq!(err.to_string(), "message.id: expected a string, found a number");
    let err = parse(br#"{"batch": true, "data": [{"message": {"id": "a"}}, {"message": "x"}]}"#, None).unwrap_err();
    assert_eq!(err.to_string(), "data[1].message: expected an object, found a string");
    let err = parse(b"[1,2]", None).unwrap_err();
    assert_eq!(err.to_string(), "body: expected an object, found an array");
    assert!(parse(b"{nope", None).unwrap_err().to_string().starts_with("malformed JSON"));
    assert!(parse(br#"{"hello": 1}"#, None).is_err());
    let err = parse(br#"{"message": {"id": "x"}}"#, Some("whatsapp.conversation.ended")).unwrap_err();
    assert_eq!(err.to_string(), "conversation: is missing");
}

#[test]
fn unknown_events_are_ignored_not_refused() {
    let d = parse(br#"{"message": {"id": "x"}}"#, Some("whatsapp.phone_number.updated")).unwrap();
    assert!(matches!(d.items[0].event, Event::Ignored { .. }));
}

#[test]
fn previews_are_bounded_and_readable() {
    assert_eq!(preview("text", Some("  hello \n world "), false), "hello world");
    assert_eq!(preview("audio", None, true), "[Voice message]");
    assert_eq!(preview("sticker", None, false), "[Sticker]");
    let long = "x".repeat(300);
    let p = preview("text", Some(&long), false);
    assert_eq!(p.chars().count(), PREVIEW_CHARS);
    assert!(p.ends_with('…'));
}

fn corpus(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn shared_contact_cards_are_read_not_refused() {
    let d = parse(&corpus("meta-contacts.json"), None).unwrap();
    let m = only_message(&d);
    assert_eq!(m.message_type, "contacts");
    assert_eq!(m.preview, "Shared contact: Ani Wijaya, +62 812-3456-7801 + 1 more");
    assert_eq!(m.shared_contacts.len(), 2);
    assert_eq!(m.shared_contacts[0].phones[0].wa_id.as_deref(), Some("6281234567801"));
    assert_eq!(m.customer.phone.as_deref(), Some("16505551234"), "the sender, not the shared contact");
}

#[test]
fn an_errors_only_change_is_routed() {
    let d = parse(&corpus("meta-errors-only.json"), None).unwrap();
    match &d.items[..] {
        [Item { phone_number_id: Some(id), event: Event::ErrorNotice(notice) }] => {
            assert_eq!(id, "123456789012345");
            assert_eq!((notice.code, notice.title.as_str()), (Some(130429), "Rate limit hit"));
        }
        other => panic!("{other:?}"),
    }
    let d = parse(&corpus("meta-status-failed.json"), None).unwrap();
    let Event::Status(status) = &d.items[0].event else { panic!() };
    assert_eq!(status.notices[0].code, Some(131047));
    // A change with nothing leadline uses is still acknowledged for its number.
    let empty = br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"1"}}}]}]}"#;
    assert!(matches!(&parse(empty, None).unwrap().items[..], [Item { event: Event::Ignored { .. }, .. }]));
}

#[test]
fn unknown_types_and_odd_shapes_get_placeholders() {
    for (typed, expected) in [
        (r#""type": "poll_vote", "poll_vote": {"x": 1}"#, "[Message]"),
        (r#""type": "image", "image": "not an object""#, "[Image]"),
        (r#""type": "text", "text": {"body": 42}"#, "[Message]"),
        (r#""type": "location", "location": [1, 2]"#, "[Location]"),
        (r#""type": "contacts", "contacts": {"name": "not an array"}"#, "Shared contact:"),
        (r#""type": "unsupported", "unsupported": {"type": "poll_update"}"#, "[Unsupported message] (poll_update)"),
    ] {
        let body = format!(r#"{{"message": {{"id": "w1", {typed}, "context": "odd"}}, "phone_number_id": "1"}}"#);
        let d = parse(body.as_bytes(), Some("whatsapp.message.received")).unwrap_or_else(|e| panic!("{typed}: {e}"));
        assert_eq!(only_message(&d).preview, expected, "{typed}");
    }
}

#[test]
fn the_item_cap_is_checked_before_reading() {
    let batch = |n: usize| {
        let items: Vec<String> = (0..n).map(|i| format!(r#"{{"message":{{"id":"w{i}"}}}}"#)).collect();
        format!(r#"{{"batch": true, "data": [{}]}}"#, items.join(","))
    };
    assert_eq!(parse(batch(MAX_ITEMS_PER_DELIVERY).as_bytes(), None).unwrap().items.len(), MAX_ITEMS_PER_DELIVERY);
    let err = parse(batch(MAX_ITEMS_PER_DELIVERY + 1).as_bytes(), None).unwrap_err();
    assert!(err.over_limit);
    assert!(err.to_string().contains("MAX_ITEMS_PER_DELIVERY"), "{err}");
}

mod properties {
    use super::super::parse;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes, None);
        }

        #[test]
        fn arbitrary_json_values_never_panic(json in arb_json()) {
            let body = serde_json::to_vec(&json).unwrap();
            let _ = parse(&body, Some("whatsapp.message.received"));
            let _ = parse(&body, None);
        }
    }

    /// JSON built from the keys the parser looks for, so the walk goes deep.
    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let keys = prop::sample::select(vec![
            "message",
            "conversation",
            "data",
            "batch",
            "object",
            "entry",
            "changes",
            "value",
            "messages",
            "statuses",
            "contacts",
            "metadata",
            "phone_number_id",
            "id",
            "type",
            "text",
            "body",
            "kapso",
            "direction",
            "from",
            "to",
            "timestamp",
            "status",
            "image",
            "caption",
            "context",
            "profile",
            "name",
            "wa_id",
            "field",
            "errors",
            "location",
            "interactive",
            "button_reply",
            "title",
            "transcript",
            "phone_number",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|n| serde_json::Number::from_f64(n).map(Value::Number).unwrap_or(Value::Null)),
            ".{0,12}".prop_map(Value::String),
            Just(Value::String("text".into())),
            Just(Value::String("1767243600".into())),
        ];
        leaf.prop_recursive(5, 64, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((keys.clone(), inner), 0..6)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
            ]
        })
    }
}

#[test]
fn identifiers_are_parsed_once_the_customer_is_complete() {
    // Meta: the number comes from `contacts`, the BSUID too; both parsed into `ids`.
    let d = parse(&fixture("meta-forwarded-bsuid.json"), None).unwrap();
    let ids = &only_message(&d).customer.ids;
    let phone = ids.phone.as_ref().expect("a parsed phone");
    assert_eq!((phone.value.as_str(), phone.valid), ("+6281377788899", true));
    assert_eq!(ids.bsuid.as_deref(), Some("ID.77700011122233344"));
    assert_eq!(ids.username.as_deref(), Some("@dewi.kue"));
    // A status names its recipient the same way.
    let d = parse(&fixture("meta-forwarded-statuses.json"), None).unwrap();
    let Event::Status(status) = &d.items[0].event else { panic!("a status: {:?}", d.items[0]) };
    assert_eq!(status.recipient.ids.phone.as_ref().map(|p| p.value.as_str()), Some("+6281234567890"));
    // No identifier at all: nothing parsed, nothing invented.
    let body = br#"{"message": {"id": "w1", "type": "text", "text": {"body": "x"}}, "conversation": {"id": "c1"}}"#;
    let d = parse(body, Some("whatsapp.message.received")).unwrap();
    assert!(only_message(&d).customer.ids.is_empty());
}
