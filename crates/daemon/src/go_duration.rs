//! Durations written the way the Go daemon accepts them (`time.ParseDuration`):
//! `500ms`, `3s`, `1m30s`, `2h`, `1.5h`, plus the day suffix today's daemon
//! adds (`2d`, `1.5d`, `1d12h`). Users move their flags and env vars over
//! unchanged, so the syntax must match, not merely resemble.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (examples: 500ms, 3s, 1m30s, 2h)")]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

/// Parses a Go duration. Negative durations are refused: every duration the daemon
/// takes is an interval or a timeout.
pub fn parse_go_duration(input: &str) -> Result<Duration, DurationError> {
    let fail = |reason| DurationError {
        input: input.to_owned(),
        reason,
    };
    let mut rest = input.trim();
    if let Some(stripped) = rest.strip_prefix('+') {
        rest = stripped;
    }
    if rest.starts_with('-') {
        return Err(fail("negative durations are not allowed"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(fail("empty"));
    }
    let mut total_nanos: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| fail("missing unit"))?;
        if number_len == 0 {
            return Err(fail("expected a number"));
        }
        let value: f64 = rest[..number_len]
            .parse()
            .map_err(|_| fail("malformed number"))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86_400e9,
            "" => return Err(fail("missing unit")),
            _ => return Err(fail("unknown unit")),
        };
        rest = &rest[unit_len..];
        total_nanos += value * nanos_per_unit;
    }
    if !total_nanos.is_finite() || total_nanos > u64::MAX as f64 {
        return Err(fail("out of range"));
    }
    Ok(Duration::from_nanos(total_nanos.round() as u64))
}

/// Formats like Go's `Duration.String()` for whole units (`2h0m0s` → `2h`, we keep it
/// short and readable instead: `2h`, `1m30s`, `500ms`).
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let total_secs = duration.as_secs();
    let (hours, minutes, seconds) = (total_secs / 3600, (total_secs / 60) % 60, total_secs % 60);
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if seconds > 0 || out.is_empty() {
        out.push_str(&format!("{seconds}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(input: &str) -> Duration {
        parse_go_duration(input).expect("valid duration")
    }

    #[test]
    fn accepts_go_syntax() {
        assert_eq!(parsed("500ms"), Duration::from_millis(500));
        assert_eq!(parsed("3s"), Duration::from_secs(3));
        assert_eq!(parsed("2h"), Duration::from_secs(7200));
        assert_eq!(parsed("1m30s"), Duration::from_secs(90));
        assert_eq!(parsed("1.5h"), Duration::from_secs(5400));
        assert_eq!(parsed("2h45m10.5s"), Duration::from_millis(9_910_500));
        assert_eq!(parsed("100us"), Duration::from_micros(100));
        assert_eq!(parsed("100µs"), Duration::from_micros(100));
        assert_eq!(parsed("7ns"), Duration::from_nanos(7));
        assert_eq!(parsed("0"), Duration::ZERO);
        assert_eq!(parsed("+5s"), Duration::from_secs(5));
    }

    #[test]
    fn accepts_the_day_suffix_of_todays_daemon() {
        assert_eq!(parsed("2d"), Duration::from_secs(2 * 86_400));
        assert_eq!(parsed("1.5d"), Duration::from_secs(36 * 3_600));
        assert_eq!(parsed("1d12h"), Duration::from_secs(36 * 3_600));
    }

    #[test]
    fn rejects_what_go_rejects_and_negatives() {
        for bad in ["", "5", "s", "5x", "1.2.3s", "-1s", "5 s", "ms5"] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn error_names_the_input_and_shows_examples() {
        let error = parse_go_duration("soon").expect_err("not a duration");
        let text = error.to_string();
        assert!(
            text.contains("\"soon\"") && text.contains("500ms"),
            "{text}"
        );
    }

    #[test]
    fn formats_readably() {
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
