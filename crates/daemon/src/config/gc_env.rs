//! Clean-up settings from the environment (`MULTICA_GC_*`).

use std::time::Duration;

use super::ConfigError;
use crate::gc::GcSettings;
use crate::go_duration::parse_go_duration;

/// Reads `MULTICA_GC_*` the way the Go daemon does; `0` turns a TTL off where the
/// Go daemon allows it (artifacts, repositories).
pub(crate) fn gc_settings(var: impl Fn(&str) -> Option<String>) -> Result<GcSettings, ConfigError> {
    let mut settings = GcSettings::default();
    if let Some(raw) = var("MULTICA_GC_ENABLED") {
        settings.enabled = !matches!(
            raw.trim().to_ascii_lowercase().as_str(),
            "0" | "false" | "no" | "off"
        );
    }
    let parse = |name: &'static str| -> Result<Option<Duration>, ConfigError> {
        var(name)
            .map(|raw| {
                parse_go_duration(&raw).map_err(|source| ConfigError::Duration { name, source })
            })
            .transpose()
    };
    let required = |name: &'static str, value: Option<Duration>, current: Duration| match value {
        None => Ok(current),
        Some(value) if value.is_zero() => Err(ConfigError::Zero { name }),
        Some(value) => Ok(value),
    };
    settings.interval = required(
        "MULTICA_GC_INTERVAL",
        parse("MULTICA_GC_INTERVAL")?,
        settings.interval,
    )?;
    settings.issue_ttl = required(
        "MULTICA_GC_TTL",
        parse("MULTICA_GC_TTL")?,
        settings.issue_ttl,
    )?;
    settings.orphan_ttl = required(
        "MULTICA_GC_ORPHAN_TTL",
        parse("MULTICA_GC_ORPHAN_TTL")?,
        settings.orphan_ttl,
    )?;
    if let Some(ttl) = parse("MULTICA_GC_ARTIFACT_TTL")? {
        settings.artifact_ttl = (!ttl.is_zero()).then_some(ttl);
    }
    if let Some(ttl) = parse("MULTICA_GC_REPO_TTL")? {
        settings.repo_ttl = (!ttl.is_zero()).then_some(ttl);
    }
    if let Some(raw) = var("MULTICA_GC_ARTIFACT_PATTERNS") {
        // Plain directory names only: a pattern must not reach outside a work dir.
        let patterns: Vec<String> = raw
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty() && *p != "." && *p != ".." && !p.contains(['/', '\\']))
            .map(str::to_owned)
            .collect();
        if !patterns.is_empty() {
            settings.artifact_patterns = patterns;
        }
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_are_the_go_daemons() {
        let settings = gc_settings(env(&[])).expect("defaults");
        assert_eq!(settings, GcSettings::default());
        assert_eq!(settings.issue_ttl, Duration::from_secs(86_400));
        assert_eq!(settings.orphan_ttl, Duration::from_secs(3 * 86_400));
        assert_eq!(settings.artifact_ttl, Some(Duration::from_secs(12 * 3_600)));
        assert_eq!(settings.repo_ttl, Some(Duration::from_secs(30 * 86_400)));
    }

    #[test]
    fn environment_overrides_and_switches_off() {
        let settings = gc_settings(env(&[
            ("MULTICA_GC_ENABLED", "false"),
            ("MULTICA_GC_TTL", "1h"),
            ("MULTICA_GC_ARTIFACT_TTL", "0"),
            ("MULTICA_GC_REPO_TTL", "0s"),
            ("MULTICA_GC_ARTIFACT_PATTERNS", "target, ../etc ,dist,a/b"),
        ]))
        .expect("settings");
        assert!(!settings.enabled);
        assert_eq!(settings.issue_ttl, Duration::from_secs(3_600));
        assert_eq!(settings.artifact_ttl, None);
        assert_eq!(settings.repo_ttl, None);
        assert_eq!(settings.artifact_patterns, vec!["target", "dist"]);
        assert!(gc_settings(env(&[("MULTICA_GC_TTL", "0")])).is_err());
        assert!(gc_settings(env(&[("MULTICA_GC_INTERVAL", "soon")])).is_err());
    }
}
