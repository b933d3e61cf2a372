//! What AWS stamps on events and runs: unique ids and timestamps. Unique per process
//! and run, not secret: a counter mixed with the clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static STATE: AtomicU64 = AtomicU64::new(0);

fn next() -> u64 {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
        ^ (u64::from(std::process::id()) << 32);
    let n = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    // splitmix64
    let mut z = seed.wrapping_add(n);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `n` lower-case hex digits.
pub fn hex(n: usize) -> String {
    let mut s = String::new();
    while s.len() < n {
        s.push_str(&format!("{:016x}", next()));
    }
    s.truncate(n);
    s
}

pub fn upper_hex(n: usize) -> String {
    hex(n).to_uppercase()
}

/// A random (version 4 shaped) UUID, as EventBridge gives every event.
pub fn uuid() -> String {
    let h = hex(32);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// S3's per-key ordering token: hex that grows with time.
pub fn sequencer() -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    format!("00{t:016X}")
}

/// `2026-12-03T12:00:00.000Z` (`millis`) or `2026-12-03T12:00:00Z`.
pub fn iso8601(t: SystemTime, millis: bool) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil(days as i64);
    let base = format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if millis {
        format!("{base}.{:03}Z", d.subsec_millis())
    } else {
        format!("{base}Z")
    }
}

/// `2026/12/03`, as Lambda names log streams.
pub fn date_path(t: SystemTime) -> String {
    iso8601(t, false)[..10].replace('-', "/")
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's algorithm.
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_read_as_aws_writes_them() {
        let t = UNIX_EPOCH + Duration::from_millis(1_796_299_200_123);
        assert_eq!(iso8601(t, true), "2026-12-03T12:00:00.123Z");
        assert_eq!(iso8601(t, false), "2026-12-03T12:00:00Z");
        assert_eq!(date_path(t), "2026/12/03");
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_secs(951_782_400), false),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn ids_are_unique_and_shaped() {
        let a: std::collections::BTreeSet<String> = (0..1000).map(|_| hex(12)).collect();
        assert_eq!(a.len(), 1000);
        let u = uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'4');
    }
}
