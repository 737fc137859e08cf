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
    pub fn parse_typed(raw: &str, region: Region) -> Result<E164, PhoneError> {
        let trimmed = raw.trim();
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
        let parsed = if trimmed.starts_with('+') {
            phonenumber::parse(None, trimmed).ok().and_then(valid)
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
}
