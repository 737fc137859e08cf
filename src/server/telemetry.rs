//! Logging. Structured events through `tracing`; `LOG_FORMAT=json` for one JSON object
//! per line. Customer data never goes into a log unmasked: use [`mask_phone`] and
//! [`mask_text`] for anything that identifies or quotes a customer.

use tracing_subscriber::{fmt, EnvFilter};

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let json = std::env::var("LOG_FORMAT").map(|v| v.eq_ignore_ascii_case("json")).unwrap_or(false);
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    let result = if json { builder.json().try_init() } else { builder.try_init() };
    // Already initialised (tests start several apps in one process): keep the first.
    let _ = result;
}

/// `+6281234567890` → `+62812*****890`: enough to tell numbers apart in a log, not
/// enough to call anyone.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let keep_start = (chars.len() / 3).min(6);
    let keep_end = 3;
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < keep_start || i >= chars.len() - keep_end { *c } else { '*' })
        .collect()
}

/// Message text is never logged: only its length.
pub fn mask_text(text: &str) -> String {
    format!("<{} chars>", text.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_and_texts_are_masked() {
        assert_eq!(mask_phone("+6281234567890"), "+628*******890");
        assert_eq!(mask_phone("12345"), "*****");
        assert_eq!(mask_text("Halo kak"), "<8 chars>");
    }
}
