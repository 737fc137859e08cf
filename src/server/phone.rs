//! Phone identity: how any way of writing a number becomes the one key a lead is
//! found by. All parsing and validation is libphonenumber's (the `phonenumber` crate).
//!
//! Two sources, two rules:
//! - WhatsApp numbers (`wa_id`, `from`, `conversation.phone_number`) are always
//!   international, with or without `+`: `14155552671` is a US number even when the
//!   business is in Indonesia. They go through [`CustomerKey::from_whatsapp`], which never
//!   fails: a number libphonenumber rejects is still kept, under its bare digits.
//! - Numbers typed by people (manual create, search, CSV) are read in the workspace's
//!   region, so `0812-3456-7890` is Indonesian in `ID`: [`E164::parse_typed`].

use phonenumber::{country, metadata::DATABASE, Mode, PhoneNumber};
use std::{fmt, str::FromStr};

/// A number libphonenumber accepts as valid, in E.164 form (`+6281234567890`).
/// The only ways to make one are the parsers below, so holding one means the number
/// was checked.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct E164(String);

/// Why a typed number was refused; the message is shown to the person who typed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhoneError(String);

impl fmt::Display for PhoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PhoneError {}

/// A workspace's default region (ISO 3166 alpha-2, e.g. `ID`), checked against
/// libphonenumber's metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region(country::Id);

impl Region {
    pub fn parse(code: &str) -> Result<Region, PhoneError> {
        let upper = code.trim().to_ascii_uppercase();
        country::Id::from_str(&upper)
            .ok()
            .filter(|id| DATABASE.by_id(id.as_ref()).is_some())
            .map(Region)
            .ok_or_else(|| PhoneError(format!("unknown region `{code}`: use a two-letter country code such as ID")))
    }

    pub fn code(&self) -> &str {
        self.0.as_ref()
    }

    /// Digits of the region's country calling code (`62` for ID).
    fn calling_code(self) -> Option<String> {
        DATABASE.by_id(self.code()).map(|meta| meta.country_code().to_string())
    }

    /// The region's national trunk prefix (`0` for ID), if it has one.
    fn trunk_prefix(self) -> Option<&'static str> {
        DATABASE.by_id(self.code()).and_then(|meta| meta.national_prefix())
    }
}

impl E164 {
    /// Reads a WhatsApp (international) number: digits with or without a leading `+`.
    pub fn parse_international(raw: &str) -> Option<E164> {
        let digits = digits_of(raw);
        if digits.is_empty() || digits.len() > 17 {
            return None;
        }
        valid(phonenumber::parse(None, format!("+{digits}")).ok()?)
    }

    /// Reads a number typed by a person. With a `+` it is international; otherwise it is
    /// first read in `region` (`0812…`, `812…`), and if that is not a valid number of the
    /// region, as an international number written without its `+` (`6281…`).
    ///
    /// What people paste is read the way libphonenumber reads it: digits of any script
    /// (`＋６２８１２…`, Arabic-Indic `٠٨١٢…`) are the same digits, a leading `whatsapp:` is
    /// dropped, and a `tel:` URI (RFC 3966) gives its number, with a `;phone-context=+62`
    /// prefix applied and `;ext=` / `;isub=` set aside. Real letters are still refused.
    pub fn parse_typed(raw: &str, region: Region) -> Result<E164, PhoneError> {
        let (typed, context_uri) = normalize_typed(raw)?;
        let trimmed = typed.as_str();
        if trimmed.is_empty() {
            return Err(PhoneError("a phone number is required".into()));
        }
        if trimmed.chars().any(|c| c.is_alphabetic()) {
            return Err(PhoneError(format!("`{trimmed}` is not a phone number: it contains letters")));
        }
        let digits = digits_of(trimmed);
        if digits.len() < 5 {
            return Err(PhoneError(format!("`{trimmed}` is too short to be a phone number")));
        }
        if digits.len() > 17 {
            return Err(PhoneError(format!("`{trimmed}` is too long to be a phone number")));
        }
        let parsed = if let Some(uri) = context_uri {
            // A local number in an international context: libphonenumber's RFC 3966 reader
            // applies the prefix (and drops a trunk `0`, as dialling would).
            phonenumber::parse(None, uri).ok().and_then(valid)
        } else if trimmed.starts_with('+') {
            // As typed first (`+62 (0) 812…`), then as bare digits: the crate misreads some
            // separators right after the country code (`+62810-000000`), libphonenumber does not.
            phonenumber::parse(None, trimmed).ok().and_then(valid).or_else(|| Self::parse_international(&digits))
        } else if let Some(rest) = trimmed.strip_prefix("00") {
            phonenumber::parse(None, format!("+{rest}")).ok().and_then(valid)
        } else {
            phonenumber::parse(Some(region.0), trimmed)
                .ok()
                .and_then(valid)
                .or_else(|| Self::parse_international(&digits))
        };
        parsed.ok_or_else(|| {
            PhoneError(format!("`{trimmed}` is not a valid phone number (read in region {})", region.code()))
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without the `+`.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// International display form, e.g. `+62 812-3456-7890`.
    pub fn international(&self) -> String {
        phonenumber::parse(None, &self.0)
            .map(|number| number.format().mode(Mode::International).to_string())
            .unwrap_or_else(|_| self.0.clone())
    }

    /// Rebuilds a stored key that is already E.164 without parsing it again.
    fn from_stored(key: &str) -> Option<E164> {
        (key.starts_with('+') && key.len() > 1 && key[1..].bytes().all(|b| b.is_ascii_digit()))
            .then(|| E164(key.to_string()))
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The ASCII digit a Unicode decimal digit (general category Nd) stands for. Every Nd
/// block is a run of ten code points from its zero, so the zeros are the whole table.
pub fn ascii_digit(c: char) -> Option<char> {
    if c.is_ascii_digit() {
        return Some(c);
    }
    if c.is_ascii() || !c.is_numeric() {
        return None;
    }
    const ZEROS: &[u32] = &[
        0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66, 0x0DE6, 0x0E50,
        0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50,
        0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136,
        0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0,
        0x11F50, 0x16A60, 0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E4F0,
        0x1E950, 0x1FBF0,
    ];
    let code = c as u32;
    ZEROS.iter().find(|&&zero| (zero..zero + 10).contains(&code)).and_then(|&zero| char::from_digit(code - zero, 10))
}

/// Digits of any script as ASCII, the fullwidth plus as `+`; everything else unchanged.
pub fn ascii_digits(raw: &str) -> String {
    raw.chars()
        .map(|c| match c {
            '\u{FF0B}' => '+',
            c => ascii_digit(c).unwrap_or(c),
        })
        .collect()
}

/// A typed number as a plain string of digits, separators and maybe a `+`: Unicode
/// digits made ASCII, a `whatsapp:` prefix dropped, a `tel:` URI unwrapped (RFC 3966).
/// For a local number with an international `phone-context`, also the checked URI
/// (number and context only) for libphonenumber to read.
fn normalize_typed(raw: &str) -> Result<(String, Option<String>), PhoneError> {
    let text = ascii_digits(raw.trim());
    let mut rest = text.trim();
    if let Some(prefix) = rest.get(..9).filter(|p| p.eq_ignore_ascii_case("whatsapp:")) {
        rest = rest[prefix.len()..].trim_start();
    }
    let Some(scheme) = rest.get(..4).filter(|p| p.eq_ignore_ascii_case("tel:")) else {
        return Ok((rest.to_string(), None));
    };
    // tel:<number>[;param=value]*  (RFC 3966 §3). The number allows only digits and
    // the visual separators - . ( ); a local number takes its prefix from phone-context.
    let mut parts = rest[scheme.len()..].split(';');
    let number = parts.next().unwrap_or_default().trim();
    let mut context = None;
    for param in parts {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "phone-context" => context = Some(value.trim().to_string()),
            // An extension or ISDN subaddress is not part of the WhatsApp number.
            "ext" | "isub" => {}
            _ => {}
        }
    }
    let visual = |c: char| c.is_ascii_digit() || matches!(c, '-' | '.' | '(' | ')');
    let body = number.strip_prefix('+').unwrap_or(number);
    if body.is_empty() || !body.chars().all(visual) {
        return Err(PhoneError(format!("`{}` is not a phone number: not a valid tel: link", raw.trim())));
    }
    Ok(match (number.starts_with('+'), context) {
        (true, _) => (number.to_string(), None),
        // phone-context=+62: the local number belongs to that international prefix.
        (false, Some(context))
            if context.len() > 1
                && context[1..].chars().all(|c| c.is_ascii_digit() || matches!(c, '-' | '.' | '(' | ')')) =>
        {
            (number.to_string(), Some(format!("tel:{number};phone-context={context}")))
        }
        // A domain as context (or none): a local number, read in the workspace's region.
        _ => (number.to_string(), None),
    })
}

fn valid(number: PhoneNumber) -> Option<E164> {
    number.is_valid().then(|| E164(number.format().mode(Mode::E164).to_string()))
}

fn digits_of(raw: &str) -> String {
    raw.chars().filter(char::is_ascii_digit).collect()
}

/// The key a lead is found by (`leads.phone_normalized`). Valid numbers are E.164 and so
/// start with `+`; the fallbacks cannot collide with them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CustomerKey {
    Phone(E164),
    /// A number libphonenumber rejects, kept as its bare digits so the message is not lost.
    UncheckedDigits(String),
    /// A WhatsApp business-scoped user id, for a sender who shares no number.
    BusinessScoped(String),
}

impl CustomerKey {
    /// The key for a sender as WhatsApp names them: their number, or failing that their
    /// business-scoped user id. `None` when the delivery names neither.
    pub fn from_whatsapp(phone: Option<&str>, business_scoped_id: Option<&str>) -> Option<CustomerKey> {
        if let Some(raw) = phone.filter(|raw| !digits_of(raw).is_empty()) {
            return Some(match E164::parse_international(raw) {
                Some(e164) => CustomerKey::Phone(e164),
                None => CustomerKey::UncheckedDigits(digits_of(raw)),
            });
        }
        business_scoped_id
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(|id| CustomerKey::BusinessScoped(id.to_string()))
    }

    pub fn as_str(&self) -> String {
        match self {
            CustomerKey::Phone(e164) => e164.0.clone(),
            CustomerKey::UncheckedDigits(digits) => digits.clone(),
            CustomerKey::BusinessScoped(id) => format!("bsuid:{id}"),
        }
    }

    pub fn is_valid_phone(&self) -> bool {
        matches!(self, CustomerKey::Phone(_))
    }

    /// The number's digits (`leads.phone_digits`), for prefix search; none for a
    /// business-scoped id.
    pub fn digits(&self) -> Option<String> {
        match self {
            CustomerKey::Phone(e164) => Some(e164.digits().to_string()),
            CustomerKey::UncheckedDigits(digits) => Some(digits.clone()),
            CustomerKey::BusinessScoped(_) => None,
        }
    }
}

/// How a stored key is shown to people: `+62 812-3456-7890` for a valid number, the
/// digits with a `+` for an unchecked one, the id for a business-scoped user.
pub fn display_key(key: &str) -> String {
    if let Some(e164) = E164::from_stored(key) {
        return e164.international();
    }
    if let Some(id) = key.strip_prefix("bsuid:") {
        return id.to_string();
    }
    if key.bytes().all(|b| b.is_ascii_digit()) {
        return format!("+{key}");
    }
    key.to_string()
}

/// The digit strings a phone-number search can begin stored numbers with: the query
/// read as international, and read as a national number of `region` (so `812-3456`
/// also tries `628123456`). Empty when the query is not about a phone number (letters,
/// or fewer than 3 digits).
pub fn search_prefixes(query: &str, region: Region) -> Vec<String> {
    let query = &ascii_digits(query);
    if query.chars().any(char::is_alphabetic) {
        return Vec::new();
    }
    let Some(digits) = search_digits(query, region) else { return Vec::new() };
    let mut prefixes = vec![digits.clone()];
    let international = query.trim_start().starts_with('+') || query.trim_start().starts_with("00");
    if let Some(code) = region.calling_code() {
        if !international && !digits.starts_with(&code) {
            prefixes.push(format!("{code}{digits}"));
        }
    }
    prefixes
}

/// Turns a search query's digits into the form they take inside stored keys, so a
/// fragment typed any way finds the lead: `0812 3456` (national, trunk prefix) becomes
/// `628123456`, `+62812` becomes `62812`, `812-3456` stays `8123456`. `None` when the
/// query has too few digits to be about a phone number.
pub fn search_digits(query: &str, region: Region) -> Option<String> {
    let query = &ascii_digits(query);
    let digits = digits_of(query);
    if digits.len() < 3 {
        return None;
    }
    let trimmed = query.trim_start();
    if trimmed.starts_with('+') {
        return Some(digits);
    }
    if let Some(rest) = trimmed.strip_prefix("00") {
        return Some(digits_of(rest));
    }
    if let (Some(trunk), Some(code)) = (region.trunk_prefix(), region.calling_code()) {
        if let Some(national) = digits.strip_prefix(trunk) {
            if !trunk.is_empty() && trimmed.starts_with(trunk) {
                return Some(format!("{code}{national}"));
            }
        }
    }
    Some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> Region {
        Region::parse("ID").unwrap()
    }

    #[test]
    fn every_way_of_typing_an_indonesian_mobile_is_one_number() {
        for typed in [
            "0812-3456-7890",
            "(0812) 3456 7890",
            "+62 812 3456 7890",
            "+62 (0) 812-3456-7890",
            "6281234567890",
            "081234567890",
            "+6281234567890",
            "0062 812 3456 7890",
        ] {
            assert_eq!(E164::parse_typed(typed, id()).unwrap().as_str(), "+6281234567890", "{typed}");
        }
    }

    #[test]
    fn links_prefixes_and_other_digit_sets_are_the_same_number() {
        for typed in [
            "tel:+62-812-3456-7890",
            "TEL:+6281234567890;ext=12",
            "tel:0812-3456-7890;phone-context=+62",
            "tel:812-3456-7890;phone-context=+62;isub=1",
            "tel:0812-3456-7890;phone-context=example.com",
            "whatsapp:+6281234567890",
            "WhatsApp: 0812 3456 7890",
            "＋６２８１２３４５６７８９０",
            "٠٨١٢٣٤٥٦٧٨٩٠",
            "۰۸۱۲-۳۴۵۶-۷۸۹۰",
            "+६२ ८१२ ३४५६ ७८९०",
            "whatsapp:tel:+6281234567890",
        ] {
            assert_eq!(E164::parse_typed(typed, id()).map(|e| e.0), Ok("+6281234567890".to_string()), "{typed}");
        }
        for typed in ["tel:+62812abc", "tel:", "tel:+62 812 3456 7890", "whatsapp:08abc", "ⅷ123456"] {
            assert!(E164::parse_typed(typed, id()).is_err(), "{typed}");
        }
        assert_eq!(search_digits("０８１２ ３４", id()).as_deref(), Some("6281234"));
    }

    #[test]
    fn typed_garbage_is_refused_with_a_reason() {
        for typed in ["", "   ", "hello", "12", "0812-3456-7890-1234-5678-9", "+62 000"] {
            let err = E164::parse_typed(typed, id()).unwrap_err();
            assert!(!err.to_string().is_empty());
        }
        assert!(E164::parse_typed("08abc", id()).unwrap_err().to_string().contains("letters"));
    }

    #[test]
    fn whatsapp_numbers_are_international_whatever_the_region() {
        let us = CustomerKey::from_whatsapp(Some("14155552671"), None).unwrap();
        assert_eq!(us.as_str(), "+14155552671");
        let id = CustomerKey::from_whatsapp(Some("+6281234567890"), None).unwrap();
        assert_eq!(id.as_str(), "+6281234567890");
        let meta = CustomerKey::from_whatsapp(Some("6281234567890"), None).unwrap();
        assert_eq!(meta, id);
    }

    #[test]
    fn an_invalid_whatsapp_number_is_kept_under_its_digits() {
        let key = CustomerKey::from_whatsapp(Some("+999 123"), None).unwrap();
        assert_eq!(key.as_str(), "999123");
        assert!(!key.is_valid_phone());
        assert_eq!(display_key("999123"), "+999123");
    }

    #[test]
    fn a_sender_without_a_number_is_keyed_by_business_scoped_id() {
        let key = CustomerKey::from_whatsapp(None, Some("ID.123abc")).unwrap();
        assert_eq!(key.as_str(), "bsuid:ID.123abc");
        assert_eq!(CustomerKey::from_whatsapp(Some(""), None), None);
    }

    #[test]
    fn display_is_international_format() {
        assert_eq!(display_key("+6281234567890"), "+62 812-3456-7890");
        assert_eq!(display_key("+14155552671"), "+1 415-555-2671");
    }

    #[test]
    fn search_fragments_are_normalized_like_numbers() {
        assert_eq!(search_digits("0812 3456", id()).as_deref(), Some("628123456"));
        assert_eq!(search_digits("+62812", id()).as_deref(), Some("62812"));
        assert_eq!(search_digits("812-3456", id()).as_deref(), Some("8123456"));
        assert_eq!(search_digits("Budi", id()), None);
    }

    #[test]
    fn phone_searches_become_prefixes_of_stored_digits() {
        assert_eq!(search_prefixes("0812 3456", id()), ["628123456"]);
        assert_eq!(search_prefixes("+62812", id()), ["62812"]);
        assert_eq!(search_prefixes("812-3456", id()), ["8123456", "628123456"]);
        assert_eq!(search_prefixes("+1 415", id()), ["1415"]);
        assert!(search_prefixes("Budi 0812", id()).is_empty());
        assert!(search_prefixes("08", id()).is_empty());
    }

    #[test]
    fn regions_are_checked() {
        assert_eq!(Region::parse("id").unwrap().code(), "ID");
        assert!(Region::parse("XX").is_err());
        assert!(Region::parse("Indonesia").is_err());
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        const DIGIT_ZEROS: &[u32] = &[0x30, 0xFF10, 0x0660, 0x06F0, 0x0966, 0x09E6, 0x0E50, 0x1040];

        fn in_script(digits: &str, zero: u32) -> String {
            digits.chars().map(|c| c.to_digit(10).and_then(|d| char::from_u32(zero + d)).unwrap_or(c)).collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

            /// Every way of writing one number reads as that number, or is refused like it.
            #[test]
            fn every_variant_reads_the_same(
                national in "8[1-9][0-9]{7,9}",
                separator in prop::sample::select(vec!["", " ", "-", ".", " - "]),
                prefix in 0usize..8,
                script in prop::sample::select(DIGIT_ZEROS.to_vec()),
            ) {
                let region = Region::parse("ID").unwrap();
                let expected = E164::parse_typed(&format!("+62{national}"), region).ok();
                let (head, tail) = national.split_at(3);
                let spaced = format!("{head}{separator}{tail}");
                let typed = match prefix {
                    0 => format!("+62{separator}{spaced}"),
                    1 => format!("0{spaced}"),
                    2 => format!("0062{separator}{spaced}"),
                    3 => format!("62{spaced}"),
                    4 => format!("tel:+62-{}", spaced.replace([' ', '.'], "-")),
                    5 => format!("tel:0{};phone-context=+62", spaced.replace([' ', '.'], "-")),
                    6 => format!("whatsapp:+62{spaced}"),
                    _ => format!("({head}) {tail}").replace('(', "(0"),
                };
                let typed = in_script(&typed, script);
                let read = E164::parse_typed(&typed, region).ok();
                prop_assert_eq!(read, expected, "{}", typed);
            }

            /// Letters anywhere in the number keep it refused, whatever else is around them.
            #[test]
            fn letters_are_refused(national in "8[1-9][0-9]{7,9}", at in 1usize..8, letter in "[a-zA-Z]") {
                let mut typed = format!("0{national}");
                typed.insert_str(at, &letter);
                prop_assert!(E164::parse_typed(&typed, Region::parse("ID").unwrap()).is_err());
                let tel = format!("tel:+62{national}{letter}");
                prop_assert!(E164::parse_typed(&tel, Region::parse("ID").unwrap()).is_err());
            }
        }
    }
}
