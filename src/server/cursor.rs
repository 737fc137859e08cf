//! Opaque keyset cursors for every paged listing (Database, API leads, a lead's messages,
//! the Inbox): the parts of a position in a sorted listing, joined with `|` and
//! hex-encoded, so clients pass them back untouched. The last part may itself hold `|`.

use crate::server::error::{AppError, AppResult};

pub fn encode(parts: &[&str]) -> String {
    hex::encode(parts.join("|"))
}

/// The `N` parts of a cursor made by `encode`, or 400 naming the problem.
pub fn decode<const N: usize>(cursor: &str) -> AppResult<[String; N]> {
    let text = hex::decode(cursor.trim()).ok().and_then(|bytes| String::from_utf8(bytes).ok()).ok_or_else(invalid)?;
    let parts: Vec<String> = text.splitn(N, '|').map(str::to_string).collect();
    parts.try_into().map_err(|_| invalid())
}

pub fn invalid() -> AppError {
    AppError::BadRequest("invalid cursor: pass back next_cursor exactly as received".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let cursor = encode(&["name", "a", "0190c0de", "budi | santoso"]);
        assert_eq!(decode::<4>(&cursor).unwrap(), ["name", "a", "0190c0de", "budi | santoso"]);
        assert_eq!(decode::<2>(&encode(&["1700000000000", "m1"])).unwrap(), ["1700000000000", "m1"]);
        assert!(decode::<4>(&encode(&["only", "three", "parts"])).is_err());
        for bad in ["zz", "6", "ff", ""] {
            assert!(decode::<2>(bad).is_err(), "{bad}");
        }
    }
}
