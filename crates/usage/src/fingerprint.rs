//! A stable 128-bit fingerprint (FNV-1a) for dedup keys.
//!
//! The cache stores fingerprints instead of message/request ids, so the function must
//! never change between builds (std's `DefaultHasher` gives no such promise).

const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013B;

/// Incremental FNV-1a 128 hasher.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fingerprint(u128);

impl Fingerprint {
    pub(crate) fn new(domain: u8) -> Self {
        let mut fingerprint = Fingerprint(OFFSET);
        fingerprint.bytes(&[domain]);
        fingerprint
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        for &byte in bytes {
            self.0 ^= u128::from(byte);
            self.0 = self.0.wrapping_mul(PRIME);
        }
        self
    }

    /// Length-prefixed string, so `("ab","c")` and `("a","bc")` differ.
    pub(crate) fn str(&mut self, text: &str) -> &mut Self {
        self.u64(text.len() as u64);
        self.bytes(text.as_bytes())
    }

    pub(crate) fn u64(&mut self, value: u64) -> &mut Self {
        self.bytes(&value.to_le_bytes())
    }

    pub(crate) fn finish(&self) -> u128 {
        self.0
    }
}

pub(crate) fn of_str(domain: u8, text: &str) -> u128 {
    Fingerprint::new(domain).str(text).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED: u128 = 51_174_604_954_647_456_535_235_910_821_340_936_308;

    #[test]
    fn is_stable_across_builds() {
        // Pinned value: changing the function silently breaks every persisted cache.
        assert_eq!(
            of_str(1, "msg_01ABC"),
            Fingerprint::new(1).str("msg_01ABC").finish()
        );
        assert_ne!(of_str(1, "ab"), of_str(2, "ab"));
        assert_ne!(
            of_str(1, "ab"),
            Fingerprint::new(1).str("a").str("b").finish()
        );
        assert_eq!(of_str(1, "msg_01ABC"), PINNED);
    }
}
