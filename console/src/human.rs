//! Numbers for people: byte counts, durations and ages as the page and the
//! terminal tables show them.

/// `1536` → `1.5 KiB`; below 1 KiB, plain bytes.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = "KiB";
    for next in UNITS.iter().skip(1) {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

/// `3725` → `1h 2m`; the two largest units.
pub fn duration(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// How long ago `at` was, seen at `now` (both Unix seconds): `5m 3s ago`.
pub fn ago(at: u64, now: u64) -> String {
    format!("{} ago", duration(now.saturating_sub(at)))
}

/// How long until `at`, seen at `now`: `in 20d 3h`, or `expired 2h ago`.
pub fn until(at: u64, now: u64) -> String {
    if at >= now {
        format!("in {}", duration(at - now))
    } else {
        format!("expired {}", ago(at, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(61), "1m 1s");
        assert_eq!(duration(3725), "1h 2m");
        assert_eq!(duration(90_000), "1d 1h");
        assert_eq!(ago(100, 160), "1m 0s ago");
        assert_eq!(until(200, 100), "in 1m 40s");
        assert_eq!(until(100, 200), "expired 1m 40s ago");
    }
}
