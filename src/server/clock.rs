//! Time as the database stores it: UTC milliseconds since the Unix epoch (a BIGINT both
//! engines handle alike), printed as RFC 3339 for the API and in the workspace's zone
//! for people.

/// Now, in UTC milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// RFC 3339 in UTC with milliseconds, always the same width (`2026-01-01T05:00:00.123Z`),
/// so API clients can compare them as strings.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// Parses an RFC 3339 time into UTC milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>().ok().map(|ts| ts.as_millisecond())
}

/// Checks an IANA time zone name (`Asia/Jakarta`) against the bundled tz database.
pub fn valid_time_zone(name: &str) -> bool {
    jiff::tz::TimeZone::get(name).is_ok()
}

/// A time as people in `zone` read it: `25 Nov 2026, 14:03 WIB`.
pub fn local_display(ms: i64, zone: &str) -> String {
    let Ok(ts) = jiff::Timestamp::from_millisecond(ms) else {
        return String::new();
    };
    let tz = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    ts.to_zoned(tz).strftime("%-d %b %Y, %H:%M %Z").to_string()
}

/// Just the time of day in `zone`, e.g. `14:03`.
pub fn local_time(ms: i64, zone: &str) -> String {
    let Ok(ts) = jiff::Timestamp::from_millisecond(ms) else {
        return String::new();
    };
    let tz = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    ts.to_zoned(tz).strftime("%H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_in_utc_and_in_the_workspace_zone() {
        let ms = 1_767_243_600_000; // 2026-01-01T05:00:00Z
        assert_eq!(rfc3339(ms), "2026-01-01T05:00:00.000Z");
        assert_eq!(rfc3339(ms + 7), "2026-01-01T05:00:00.007Z");
        assert_eq!(parse_rfc3339("2026-01-01T05:00:00Z"), Some(ms));
        assert_eq!(local_display(ms, "Asia/Jakarta"), "1 Jan 2026, 12:00 WIB");
        assert_eq!(local_time(ms, "Asia/Jakarta"), "12:00");
        assert!(valid_time_zone("Asia/Jakarta"));
        assert!(!valid_time_zone("Mars/Olympus"));
    }
}
