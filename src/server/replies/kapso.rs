//! Kapso's API as the senders and Settings use it: post one message, list the approved
//! templates. No retries here (the sender decides), no redirects (the `X-API-Key` header
//! must never be replayed to another host), bounded answers, and nothing of the key or
//! the message text in logs.

use super::ReplyConfig;
use serde::Deserialize;
use std::time::Duration;

/// Graph API version of Kapso's Meta proxy.
const GRAPH_VERSION: &str = "v24.0";
/// Kapso's answers are small; a larger one is cut here rather than buffered whole.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

#[derive(Clone)]
pub struct KapsoClient {
    http: reqwest::Client,
    base: String,
}

/// What one attempt to send came to.
#[derive(Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// Kapso took it: `messages[0].id`.
    Sent { wamid: String },
    /// Kapso refused it (4xx but 429; a redirect): sending it again changes nothing.
    /// `key_refused` for 401/403.
    Refused { reason: String, key_refused: bool },
    /// Maybe later: 5xx, 429, a timeout, no connection.
    Transient { reason: String, retry_after: Option<Duration> },
    /// 2xx without a message id: it may have been sent.
    Unclear { reason: String },
}

/// One approved template with what filling it in needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub name: String,
    pub language: String,
    pub category: String,
    /// The body with `{{1}}`… placeholders.
    pub body: String,
    /// How many `{{n}}` the body has.
    pub params: usize,
}

impl KapsoClient {
    pub fn new(config: &ReplyConfig) -> KapsoClient {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("leadline/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with these settings can always be built");
        KapsoClient { http, base: config.api_base.trim_end_matches('/').to_string() }
    }

    /// `POST {base}/meta/whatsapp/v24.0/{phone_number_id}/messages` with `body` as is.
    pub async fn send(&self, phone_number_id: &str, api_key: &str, body: &str) -> SendOutcome {
        let url = format!("{}/meta/whatsapp/{GRAPH_VERSION}/{}/messages", self.base, encode(phone_number_id));
        let response = self
            .http
            .post(url)
            .header("X-API-Key", api_key)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(err) if err.is_timeout() => {
                return SendOutcome::Transient { reason: "Kapso did not answer in time".into(), retry_after: None }
            }
            Err(err) if err.is_connect() => {
                return SendOutcome::Transient { reason: "could not connect to Kapso".into(), retry_after: None }
            }
            Err(_) => {
                return SendOutcome::Transient { reason: "the request to Kapso failed".into(), retry_after: None }
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(3600)));
        let answer = read_bounded(response).await;
        if status.is_success() {
            let id = answer.as_ref().and_then(|a| serde_json::from_slice::<SendAnswer>(a).ok()).and_then(|a| {
                a.messages.into_iter().next().map(|m| m.id).filter(|id| !id.is_empty() && id.len() <= 256)
            });
            return match id {
                Some(wamid) => SendOutcome::Sent { wamid },
                None => SendOutcome::Unclear { reason: format!("Kapso answered {status} without a message id") },
            };
        }
        let detail = answer.as_deref().and_then(error_message);
        let described = |what: &str| match &detail {
            Some(detail) => format!("{what} ({}): {detail}", status.as_u16()),
            None => format!("{what} ({})", status.as_u16()),
        };
        match status.as_u16() {
            401 | 403 => SendOutcome::Refused {
                reason: described("Kapso refused the API key; set a valid key in Settings"),
                key_refused: true,
            },
            429 => SendOutcome::Transient { reason: described("Kapso is rate limiting"), retry_after },
            300..=399 => SendOutcome::Refused {
                reason: format!("Kapso answered with a redirect ({}); check KAPSO_API_BASE", status.as_u16()),
                key_refused: false,
            },
            400..=499 => SendOutcome::Refused { reason: described("Kapso refused the message"), key_refused: false },
            _ => SendOutcome::Transient { reason: described("Kapso had a problem"), retry_after },
        }
    }

    /// The approved templates of a WhatsApp Business Account that leadline can fill in
    /// (text only: a media header or button parameters need more than a text box).
    pub async fn templates(&self, waba_id: &str, api_key: &str) -> Result<Vec<Template>, String> {
        let url = format!(
            "{}/meta/whatsapp/{GRAPH_VERSION}/{}/message_templates?status=APPROVED&limit=200",
            self.base,
            encode(waba_id)
        );
        let response = self.http.get(url).header("X-API-Key", api_key).send().await.map_err(|err| {
            if err.is_timeout() {
                "Kapso did not answer in time".to_string()
            } else {
                "could not reach Kapso".to_string()
            }
        })?;
        let status = response.status();
        let answer = read_bounded(response).await.unwrap_or_default();
        if !status.is_success() {
            let detail = error_message(&answer).map(|d| format!(": {d}")).unwrap_or_default();
            return Err(match status.as_u16() {
                401 | 403 => format!("Kapso refused the API key ({}){detail}", status.as_u16()),
                _ => format!("Kapso answered {}{detail}", status.as_u16()),
            });
        }
        let list: TemplateList =
            serde_json::from_slice(&answer).map_err(|_| "Kapso's template list could not be read".to_string())?;
        Ok(list.data.into_iter().filter_map(TemplateJson::usable).collect())
    }
}

fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn read_bounded(mut response: reqwest::Response) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body)
}

/// Meta's `{"error": {"message": …}}` (Kapso passes it through), cut to a readable size.
fn error_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = value.get("error")?;
    let message = error.get("message").and_then(|m| m.as_str()).or_else(|| error.as_str())?;
    let details = error.get("error_data").and_then(|d| d.get("details")).and_then(|d| d.as_str());
    let text = match details {
        Some(details) if !details.is_empty() => format!("{message} — {details}"),
        _ => message.to_string(),
    };
    Some(text.chars().take(300).collect())
}

#[derive(Deserialize)]
struct SendAnswer {
    #[serde(default)]
    messages: Vec<SentMessage>,
}

#[derive(Deserialize)]
struct SentMessage {
    id: String,
}

#[derive(Deserialize)]
struct TemplateList {
    #[serde(default)]
    data: Vec<TemplateJson>,
}

#[derive(Deserialize)]
struct TemplateJson {
    name: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    components: Vec<serde_json::Value>,
}

impl TemplateJson {
    fn usable(self) -> Option<Template> {
        if !self.status.is_empty() && !self.status.eq_ignore_ascii_case("APPROVED") {
            return None;
        }
        let mut body = None;
        for component in &self.components {
            let kind = component.get("type").and_then(|t| t.as_str()).unwrap_or_default().to_ascii_uppercase();
            let text = component.get("text").and_then(|t| t.as_str()).unwrap_or_default();
            match kind.as_str() {
                "BODY" => body = Some(text.to_string()),
                "HEADER" => {
                    let format = component.get("format").and_then(|f| f.as_str()).unwrap_or("TEXT");
                    if !format.eq_ignore_ascii_case("TEXT") || text.contains("{{") {
                        return None;
                    }
                }
                "BUTTONS" if component.to_string().contains("{{") => return None,
                _ => {}
            }
        }
        let body = body?;
        let params = placeholder_count(&body)?;
        Some(Template { name: self.name, language: self.language, category: self.category, body, params })
    }
}

/// The number of positional parameters `{{1}}`…`{{n}}` in a template body; `None` for
/// named parameters (`{{first_name}}`), which this form does not fill in.
pub fn placeholder_count(body: &str) -> Option<usize> {
    let mut highest = 0;
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}")?;
        let n: usize = after[..end].trim().parse().ok()?;
        highest = highest.max(n);
        rest = &after[end + 2..];
    }
    Some(highest)
}

/// The body with its parameters filled in, as the thread shows the sent template.
pub fn fill(body: &str, params: &[String]) -> String {
    let mut text = body.to_string();
    for (i, value) in params.iter().enumerate().rev() {
        text = text.replace(&format!("{{{{{}}}}}", i + 1), value);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_counted_and_filled() {
        assert_eq!(placeholder_count("Halo {{1}}, pesanan {{2}} siap."), Some(2));
        assert_eq!(placeholder_count("Terima kasih!"), Some(0));
        assert_eq!(placeholder_count("Halo {{name}}"), None);
        assert_eq!(
            fill("Halo {{1}}, pesanan {{2}} siap.", &["Ani".into(), "#12".into()]),
            "Halo Ani, pesanan #12 siap."
        );
    }

    #[test]
    fn templates_with_media_headers_or_named_parameters_are_not_offered() {
        let list: TemplateList = serde_json::from_value(serde_json::json!({"data": [
            {"name": "promo", "language": "id", "status": "APPROVED", "category": "MARKETING",
             "components": [{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Diskon {{1}}"}]},
            {"name": "named", "language": "id", "status": "APPROVED", "components": [{"type": "BODY", "text": "Hi {{first_name}}"}]},
            {"name": "follow_up", "language": "id", "status": "APPROVED", "category": "UTILITY",
             "components": [{"type": "BODY", "text": "Halo {{1}}, ada yang bisa kami bantu?"}]}
        ]}))
        .unwrap();
        let usable: Vec<_> = list.data.into_iter().filter_map(TemplateJson::usable).collect();
        assert_eq!(usable.len(), 1);
        assert_eq!(usable[0].name, "follow_up");
        assert_eq!(usable[0].params, 1);
    }

    #[test]
    fn meta_errors_are_read_and_cut() {
        let body = br#"{"error":{"message":"Invalid parameter","code":100,"error_data":{"details":"to is invalid"}}}"#;
        assert_eq!(error_message(body).as_deref(), Some("Invalid parameter — to is invalid"));
        assert_eq!(error_message(b"not json"), None);
    }
}
