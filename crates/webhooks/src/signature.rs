//! The `Stockroom-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256
//! of "<t>.<body>" keyed with the endpoint's secret>`. Signing the time with
//! the body lets a receiver refuse a replayed old request (docs/feed.md).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header a delivery's signature travels in.
pub const HEADER: &str = "stockroom-signature";

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header's value for `body` sent at `timestamp` (Unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// Whether `header` is a valid signature of `body` by `secret`, made within
/// `tolerance` seconds of `now`. Compares in constant time.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance: i64) -> bool {
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", tag)) => tags.extend(from_hex(tag)),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if (now - timestamp).abs() > tolerance {
        return false;
    }
    tags.iter()
        .any(|tag| mac(secret, timestamp, body).verify_slice(tag).is_ok())
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"events":[],"next_after":7}"#;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_timestamp_a_dot_and_the_body() {
        // Computed apart: python3 -c "import hmac, hashlib; print(hmac.new(
        //   b'whsec_test', b'1700000000.' + BODY, hashlib.sha256).hexdigest())"
        assert_eq!(
            sign("whsec_test", 1_700_000_000, BODY),
            "t=1700000000,v1=cb28c67dcb3aef80dd01f0297c1b37980e309f4ce91e40209dff51826ef7c0a0"
        );
    }

    #[test]
    fn a_receiver_accepts_only_the_right_secret_body_and_time() {
        let header = sign("whsec_test", 1_700_000_000, BODY);
        assert!(verify("whsec_test", &header, BODY, 1_700_000_100, 300));
        assert!(!verify("whsec_other", &header, BODY, 1_700_000_100, 300));
        assert!(!verify("whsec_test", &header, b"{}", 1_700_000_100, 300));
        assert!(
            !verify("whsec_test", &header, BODY, 1_700_001_000, 300),
            "too old: a replay"
        );
        let moved = header.replace("t=1700000000", "t=1700000900");
        assert!(
            !verify("whsec_test", &moved, BODY, 1_700_001_000, 300),
            "the time is signed"
        );
        assert!(!verify("whsec_test", "v1=zz", BODY, 0, 300));
    }
}
