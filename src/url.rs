//! Percent-encoding for the URLs both halves build (query values, path segments): one
//! encoder, the `percent-encoding` crate's, rather than one hand-written per module.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986's unreserved characters and `/` is encoded. A `/` is legal in
/// a query (`/login?next=/leads` stays readable), and the path segments we build are ids,
/// which never hold one.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// A query-string value or an id as a path segment, percent-encoded.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn only_unreserved_characters_stay_as_they_are() {
        assert_eq!(encode("0812 3456/7?&=#+%"), "0812%203456/7%3F%26%3D%23%2B%25");
        assert_eq!(encode("Pak Budi ☕"), "Pak%20Budi%20%E2%98%95");
        assert_eq!(encode("a-b_c.d~e"), "a-b_c.d~e");
    }
}
