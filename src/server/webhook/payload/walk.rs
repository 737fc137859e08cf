//! A tiny JSON walker that remembers where it is, for error messages.

use super::*;

/// A position in the body, kept as a chain of borrowed segments so that walking the
/// happy path allocates nothing; it is rendered only when something is wrong.
#[derive(Clone, Copy)]
pub(super) struct At<'a> {
    parent: Option<&'a At<'a>>,
    segment: Segment<'a>,
}

#[derive(Clone, Copy)]
pub(super) enum Segment<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

impl<'a> At<'a> {
    pub(super) const ROOT: At<'static> = At { parent: None, segment: Segment::Root };

    pub(super) fn key(&'a self, key: &'a str) -> At<'a> {
        At { parent: Some(self), segment: Segment::Key(key) }
    }

    pub(super) fn index(&'a self, index: usize) -> At<'a> {
        At { parent: Some(self), segment: Segment::Index(index) }
    }

    pub(super) fn render(&self) -> String {
        let mut segments = Vec::new();
        let mut cursor = Some(self);
        while let Some(at) = cursor {
            segments.push(at.segment);
            cursor = at.parent;
        }
        let mut path = String::new();
        for segment in segments.iter().rev() {
            match segment {
                Segment::Root => {}
                Segment::Key(key) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Segment::Index(index) => path.push_str(&format!("[{index}]")),
            }
        }
        if path.is_empty() {
            "body".into()
        } else {
            path
        }
    }

    pub(super) fn problem(&self, problem: impl Into<String>) -> ParseError {
        ParseError { path: self.render(), problem: problem.into(), over_limit: false }
    }

    pub(super) fn missing(&self) -> ParseError {
        self.problem("is missing")
    }

    pub(super) fn expected(&self, what: &str, found: &Value) -> ParseError {
        self.problem(format!("expected {what}, found {}", kind_of(found)))
    }
}

pub(super) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(super) fn as_object<'v>(value: &'v Value, at: &At) -> Result<&'v Map<String, Value>, ParseError> {
    value.as_object().ok_or_else(|| at.expected("an object", value))
}

pub(super) fn as_array<'v>(value: &'v Value, at: &At) -> Result<&'v Vec<Value>, ParseError> {
    value.as_array().ok_or_else(|| at.expected("an array", value))
}

pub(super) fn opt_object<'v>(
    object: &'v Map<String, Value>,
    key: &str,
    at: &At,
) -> Result<Option<&'v Map<String, Value>>, ParseError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(at.key(key).expected("an object", other)),
    }
}

pub(super) fn req_str<'v>(object: &'v Map<String, Value>, key: &str, at: &At) -> Result<&'v str, ParseError> {
    match object.get(key) {
        None | Some(Value::Null) => Err(at.key(key).missing()),
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(at.key(key).expected("a string", other)),
    }
}

pub(super) fn opt_str<'v>(object: &'v Map<String, Value>, key: &str, at: &At) -> Result<Option<&'v str>, ParseError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(at.key(key).expected("a string", other)),
    }
}

/// A string where one is present and anything else ignored, for fields whose shape
/// varies between producers and that only decorate a message.
pub(super) fn opt_str_lenient<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v str> {
    object.get(key).and_then(Value::as_str)
}

/// An identifier or number that some producers send as a JSON number (ids, wa_id).
pub(super) fn opt_id(object: &Map<String, Value>, key: &str, at: &At) -> Result<Option<String>, ParseError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.trim().to_string()).filter(|t| !t.is_empty())),
        Some(Value::Number(number)) if number.is_u64() => Ok(Some(number.to_string())),
        Some(other) => Err(at.key(key).expected("a string", other)),
    }
}

/// Unix seconds, as a string (Meta) or a number.
pub(super) fn opt_timestamp(object: &Map<String, Value>, key: &str, at: &At) -> Result<Option<i64>, ParseError> {
    let seconds = match object.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) => {
            text.trim().parse::<i64>().map_err(|_| at.key(key).problem("expected Unix seconds"))?
        }
        Some(Value::Number(number)) => number.as_i64().ok_or_else(|| at.key(key).problem("expected Unix seconds"))?,
        Some(other) => return Err(at.key(key).expected("Unix seconds", other)),
    };
    // Outside year 1970..=9999 is not a message time; keep the message, drop the time.
    Ok((0..=253_402_300_799).contains(&seconds).then(|| seconds * 1000))
}
