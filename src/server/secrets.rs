//! Random tokens and their digests. Tokens that are only ever compared (API tokens,
//! Meta's verify token) are stored as SHA-256 digests: they are long and random, so a
//! fast digest is enough, and a leaked database does not leak them.

use sha2::{Digest, Sha256};

/// `bytes` bytes from the OS generator, as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system's random generator failed");
    hex::encode(buf)
}

/// A new API token; the prefix lets secret scanners and people recognise it.
pub fn new_api_token() -> String {
    format!("ll_{}", random_hex(32))
}

pub fn new_webhook_secret() -> String {
    random_hex(32)
}

pub fn new_verify_token() -> String {
    random_hex(24)
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_digests_stable() {
        assert_ne!(new_api_token(), new_api_token());
        assert_eq!(new_webhook_secret().len(), 64);
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
