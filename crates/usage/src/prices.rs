//! Per-model prices: a table built into the binary, overridable by a user file.
//!
//! The format (built-in `prices.json` and user files alike), USD per million tokens:
//!
//! ```json
//! { "taken_on": "2026-11-24",
//!   "models": {
//!     "claude-sonnet-4-5": { "input": 3.0, "output": 15.0, "cache_write_5m": 3.75,
//!                            "cache_write_1h": 6.0, "cache_read": 0.3,
//!                            "long_context": { "input": 6.0, "output": 22.5, ... },
//!                            "fast_multiplier": 6.0 } } }
//! ```
//!
//! Names are looked up after normalization: lower case, provider prefixes
//! (`anthropic/`, `us.anthropic.`), Bedrock/Vertex suffixes (`-v1:0`, `@20250514`)
//! and a trailing `-YYYYMMDD` date are removed, so `claude-sonnet-4-5-20250929` finds
//! `claude-sonnet-4-5`. A model whose name is not in the table has no price: its
//! tokens are reported with `cost: None`, never a made-up 0. A `-fast` model (Claude
//! fast mode) is priced as its base model times `fast_multiplier`, and has no price
//! when the base model has no multiplier.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, UsageError};
use crate::record::Tokens;

const BUILT_IN: &str = include_str!("prices.json");

/// Prices of one tier, USD per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TierPrice {
    pub input: f64,
    pub output: f64,
    /// 5-minute cache writes (Anthropic); 0 where the provider does not bill them.
    pub cache_write_5m: f64,
    /// 1-hour cache writes (Anthropic).
    pub cache_write_1h: f64,
    /// Cache reads (Anthropic) or cached input (OpenAI).
    pub cache_read: f64,
}

/// Prices of one model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    #[serde(flatten)]
    pub standard: TierPrice,
    /// Rates for requests whose prompt exceeds
    /// [`LONG_CONTEXT_THRESHOLD`](crate::LONG_CONTEXT_THRESHOLD) tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_context: Option<TierPrice>,
    /// Multiplier for the model's `-fast` variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fast_multiplier: Option<f64>,
}

/// A price table: the built-in one, possibly with user overrides merged in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceTable {
    /// The date the prices were taken (`YYYY-MM-DD`).
    #[serde(default)]
    pub taken_on: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub models: BTreeMap<String, ModelPrice>,
}

impl Default for PriceTable {
    fn default() -> Self {
        PriceTable::built_in()
    }
}

impl PriceTable {
    /// The table compiled into this binary.
    pub fn built_in() -> PriceTable {
        // The file is part of the crate and checked by a unit test.
        serde_json::from_str(BUILT_IN).unwrap_or_else(|_| PriceTable {
            taken_on: String::new(),
            source: None,
            models: BTreeMap::new(),
        })
    }

    /// The built-in table with the models of a user file added or replaced.
    pub fn with_overrides_from(path: &Path) -> Result<PriceTable> {
        let text = std::fs::read_to_string(path).map_err(|source| UsageError::PriceFileRead {
            path: path.to_owned(),
            source,
        })?;
        let overrides: PriceTable =
            serde_json::from_str(&text).map_err(|source| UsageError::PriceFileParse {
                path: path.to_owned(),
                source,
            })?;
        let mut table = PriceTable::built_in();
        table.merge(overrides);
        Ok(table)
    }

    /// Adds or replaces models (and `taken_on`, when set) from `overrides`.
    pub fn merge(&mut self, overrides: PriceTable) {
        if !overrides.taken_on.is_empty() {
            self.taken_on = overrides.taken_on;
        }
        for (name, price) in overrides.models {
            self.models.insert(normalize(&name), price);
        }
    }

    /// The price of a model as it appears in logs, or `None` when unknown.
    pub fn lookup(&self, model: &str) -> Option<ModelPrice> {
        let normalized = normalize(model);
        if let Some(price) = self.models.get(&normalized) {
            return Some(*price);
        }
        let base = normalized.strip_suffix("-fast")?;
        let price = self.models.get(base)?;
        let multiplier = price.fast_multiplier?;
        let scale = |tier: TierPrice| TierPrice {
            input: tier.input * multiplier,
            output: tier.output * multiplier,
            cache_write_5m: tier.cache_write_5m * multiplier,
            cache_write_1h: tier.cache_write_1h * multiplier,
            cache_read: tier.cache_read * multiplier,
        };
        Some(ModelPrice {
            standard: scale(price.standard),
            long_context: price.long_context.map(scale),
            fast_multiplier: None,
        })
    }

    /// Cost in USD of one agent run's tokens as its CLI reported them (a sum over
    /// the run's requests), or `None` when the model has no price. The run's sum
    /// cannot tell which requests were long-context or which cache writes were 1-hour
    /// ones, so the standard rates and 5-minute cache writes apply; the log scan
    /// prices each request and is exact.
    pub fn run_cost(
        &self,
        model: &str,
        input: u64,
        output: u64,
        cache_write: u64,
        cache_read: u64,
    ) -> Option<f64> {
        let tokens = Tokens {
            input,
            output,
            cache_write_5m: cache_write,
            cache_read,
            ..Tokens::default()
        };
        Some(self.lookup(model)?.cost(&tokens, &Tokens::default()))
    }

    /// Cost in USD of standard-tier and long-context-tier token sums.
    #[cfg(test)]
    pub(crate) fn cost(
        &self,
        model: &str,
        standard: &Tokens,
        long_context: &Tokens,
    ) -> Option<f64> {
        Some(self.lookup(model)?.cost(standard, long_context))
    }
}

impl ModelPrice {
    /// Cost in USD of standard-tier and long-context-tier token sums.
    pub(crate) fn cost(&self, standard: &Tokens, long_context: &Tokens) -> f64 {
        let long_price = self.long_context.unwrap_or(self.standard);
        tier_cost(&self.standard, standard) + tier_cost(&long_price, long_context)
    }
}

fn tier_cost(price: &TierPrice, tokens: &Tokens) -> f64 {
    (tokens.input as f64 * price.input
        + tokens.output as f64 * price.output
        + tokens.cache_write_5m as f64 * price.cache_write_5m
        + tokens.cache_write_1h as f64 * price.cache_write_1h
        + tokens.cache_read as f64 * price.cache_read)
        / 1_000_000.0
}

/// `us.anthropic.claude-sonnet-4-5-20250929-v1:0` → `claude-sonnet-4-5`.
pub(crate) fn normalize(model: &str) -> String {
    let mut name = model.trim().to_ascii_lowercase();
    if let Some(position) = name.rfind('/') {
        name = name[position + 1..].to_owned();
    }
    if let Some(position) = name.find("anthropic.") {
        name = name[position + "anthropic.".len()..].to_owned();
    }
    if let Some(position) = name.find('@') {
        name.truncate(position);
    }
    if let Some(position) = name.find("-v1:") {
        name.truncate(position);
    }
    let fast = name.ends_with("-fast");
    if fast {
        name.truncate(name.len() - "-fast".len());
    }
    let bytes = name.as_bytes();
    if bytes.len() > 9 {
        let tail = &bytes[bytes.len() - 9..];
        if tail[0] == b'-' && tail[1..].iter().all(u8::is_ascii_digit) {
            name.truncate(name.len() - 9);
        }
    }
    if fast {
        name.push_str("-fast");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_parses_and_has_a_date() {
        let table: PriceTable = serde_json::from_str(BUILT_IN).expect("prices.json parses");
        assert_eq!(table.taken_on.len(), 10);
        assert!(table.models.len() > 20);
    }

    #[test]
    fn normalizes_dated_and_routed_names() {
        assert_eq!(normalize("claude-sonnet-4-5-20250929"), "claude-sonnet-4-5");
        assert_eq!(
            normalize("us.anthropic.claude-sonnet-4-20250514-v1:0"),
            "claude-sonnet-4"
        );
        assert_eq!(normalize("claude-opus-4-1@20250805"), "claude-opus-4-1");
        assert_eq!(normalize("anthropic/claude-haiku-4-5"), "claude-haiku-4-5");
        assert_eq!(normalize("gpt-5-codex"), "gpt-5-codex");
        assert_eq!(normalize("claude-opus-4-6-fast"), "claude-opus-4-6-fast");
    }

    #[test]
    fn prices_long_context_and_fast_mode_and_refuses_unknown_models() {
        let table = PriceTable::built_in();
        let tokens = Tokens {
            input: 1_000_000,
            output: 1_000_000,
            ..Tokens::default()
        };
        let none = Tokens::default();
        assert_eq!(
            table.cost("claude-sonnet-4-20250514", &tokens, &none),
            Some(18.0)
        );
        assert_eq!(
            table.cost("claude-sonnet-4-20250514", &none, &tokens),
            Some(28.5)
        );
        assert_eq!(
            table.cost("claude-opus-4-6-fast", &tokens, &none),
            Some(180.0)
        );
        assert_eq!(table.cost("claude-opus-4-5-fast", &tokens, &none), None);
        assert_eq!(table.cost("mystery-model", &tokens, &none), None);
    }

    #[test]
    fn prices_a_run_at_the_standard_rates() {
        let table = PriceTable::built_in();
        let sonnet = table.lookup("claude-sonnet-4").expect("priced").standard;
        let expected = (2.0 * sonnet.input
            + 1.0 * sonnet.output
            + 1.0 * sonnet.cache_write_5m
            + 4.0 * sonnet.cache_read)
            / 1_000_000.0;
        let cost = table
            .run_cost("claude-sonnet-4-20250514", 2, 1, 1, 4)
            .expect("priced");
        assert!((cost - expected).abs() < 1e-15, "{cost} vs {expected}");
        assert_eq!(table.run_cost("mystery-model", 1, 1, 0, 0), None);
    }
}
