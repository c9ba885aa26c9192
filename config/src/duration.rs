//! Durations as the configuration writes them: a whole number and a unit,
//! `250ms`, `5s`, `2m`, `1h`, `30d`.

use std::time::Duration;

/// Why a string is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DurationError {
    /// Nothing, or no digits before the unit.
    #[error("expected a whole number and a unit, e.g. \"5s\", \"250ms\", \"2m\", \"1h\", \"30d\"")]
    Syntax,
    /// A unit other than `ms`, `s`, `m`, `h`, `d`.
    #[error("unknown unit `{0}`; use ms, s, m, h or d")]
    Unit(String),
    /// Longer than [`MAX_DURATION`].
    #[error("duration too large; at most 365d")]
    Overflow,
}

/// The longest duration any setting takes (365 days): every timeout stays
/// far from the limits of the clock arithmetic that uses it.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(365 * 86_400);

/// Parses `<digits><unit>` with unit `ms`, `s`, `m`, `h` or `d`. Zero is
/// accepted here; callers refuse it where it makes no sense.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or(DurationError::Syntax)?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(DurationError::Syntax);
    }
    let n: u64 = digits.parse().map_err(|_| DurationError::Overflow)?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => return Err(DurationError::Unit(other.to_owned())),
    };
    n.checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .filter(|d| *d <= MAX_DURATION)
        .ok_or(DurationError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects() {
        assert_eq!(parse_duration(""), Err(DurationError::Syntax));
        assert_eq!(parse_duration("5"), Err(DurationError::Syntax));
        assert_eq!(parse_duration("s"), Err(DurationError::Syntax));
        assert_eq!(parse_duration("-5s"), Err(DurationError::Syntax));
        assert_eq!(
            parse_duration("1.5s"),
            Err(DurationError::Unit(".5s".into()))
        );
        assert_eq!(parse_duration("5 s"), Err(DurationError::Unit(" s".into())));
        assert_eq!(parse_duration("5w"), Err(DurationError::Unit("w".into())));
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err(DurationError::Overflow)
        );
        assert_eq!(
            parse_duration("999999999999999999d"),
            Err(DurationError::Overflow)
        );
        assert_eq!(parse_duration("365d"), Ok(MAX_DURATION));
        assert_eq!(parse_duration("366d"), Err(DurationError::Overflow));
        assert_eq!(
            parse_duration("200000000000000d"),
            Err(DurationError::Overflow)
        );
    }
}
