//! SHA-256 certificate fingerprints, as a server prints them and a user pastes them.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// The SHA-256 digest of a certificate's DER bytes. Parsed from hex with or without colons
/// (or spaces) between byte pairs, in any case; shown as uppercase pairs joined by colons,
/// the way the server prints it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

/// Why a fingerprint string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a fingerprint is 64 hex digits (32 bytes), optionally separated by ':' or spaces: {0}")]
pub struct FingerprintError(String);

impl Fingerprint {
    /// The fingerprint of a certificate's DER encoding.
    pub fn of_der(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }

    /// The 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Compares without an early exit, so the comparison's time does not reveal how many
    /// leading bytes matched.
    pub(crate) fn matches(&self, other: &Fingerprint) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl FromStr for Fingerprint {
    type Err = FingerprintError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        let digits: String = trimmed
            .chars()
            .filter(|c| *c != ':' && !c.is_whitespace())
            .collect();
        // Separators must sit between byte pairs, not inside them: "A:BC..." is a typo.
        let well_placed = trimmed
            .split(|c: char| c == ':' || c.is_whitespace())
            .filter(|part| !part.is_empty())
            .all(|part| part.len() % 2 == 0);
        if digits.len() != 64 || !well_placed {
            return Err(FingerprintError(format!("got {:?}", truncate(trimmed))));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&digits, &mut bytes)
            .map_err(|e| FingerprintError(format!("{e} in {:?}", truncate(trimmed))))?;
        Ok(Self(bytes))
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(120).collect()
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPPER: &str =
        "0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9";

    #[test]
    fn accepts_colons_or_none_in_any_case_and_prints_uppercase_with_colons() {
        let canonical: Fingerprint = UPPER.parse().unwrap();
        assert_eq!(canonical.to_string(), UPPER);
        let plain = UPPER.replace(':', "");
        for variant in [
            plain.clone(),
            plain.to_lowercase(),
            UPPER.to_lowercase(),
            format!("  {UPPER}\n"),
            UPPER.replace(':', " "),
        ] {
            assert_eq!(variant.parse::<Fingerprint>().unwrap(), canonical, "{variant:?}");
        }
    }

    #[test]
    fn refuses_wrong_lengths_non_hex_and_misplaced_separators() {
        let plain = UPPER.replace(':', "");
        for bad in [
            String::new(),
            plain[..62].to_owned(),
            format!("{plain}00"),
            plain.replacen('A', "G", 1),
            format!("0:A{}", &plain[2..]),
            "sha256:abcd".to_owned(),
        ] {
            assert!(bad.parse::<Fingerprint>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn fingerprint_of_der_is_sha256() {
        // SHA-256 of the empty string, a well-known value.
        let empty = Fingerprint::of_der(b"");
        assert_eq!(
            empty.to_string().replace(':', ""),
            "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
        );
        assert!(empty.matches(&empty));
        assert!(!empty.matches(&Fingerprint::of_der(b"x")));
    }
}
