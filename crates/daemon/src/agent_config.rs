//! Which agent CLIs the engine looks for, and how: the built-in ones with the
//! user's overrides, plus custom runtimes declared in the config file.
//!
//! ```json
//! {
//!   "agents": {
//!     "claude": {"path": "/opt/claude/bin/claude", "model": "opus", "max_concurrent_tasks": 2},
//!     "goose": {"enabled": false}
//!   },
//!   "custom_runtimes": [
//!     {"name": "my-gemini", "protocol": "acp", "command": "gemini",
//!      "args": ["--experimental-acp"], "env": {"GEMINI_SANDBOX": "false"}}
//!   ]
//! }
//! ```
//!
//! `MULTICA_<AGENT>_PATH` and `MULTICA_<AGENT>_MODEL` beat the file, as in the Go
//! daemon; the file beats the built-in defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use multica_agents::{AgentProfile, PromptInput, Protocol, Provider, StreamJsonStyle};
use serde::Deserialize;

use crate::cli_config::CliConfig;

/// One agent CLI the engine should look for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSetting {
    pub provider: Provider,
    /// A bare name is looked up on PATH (and in known install directories);
    /// anything with a separator is used as is.
    pub executable: PathBuf,
    /// The path was given by the user (env or config), not the default name.
    pub pinned: bool,
    pub model: Option<String>,
    /// At most this many of its tasks at once, within the global limit.
    pub max_concurrent_tasks: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentConfigError {
    #[error("the config file's \"{key}\" is not valid: {source}")]
    Shape {
        key: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("custom runtime {name:?}: {reason}")]
    CustomRuntime { name: String, reason: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentOverride {
    path: Option<String>,
    model: Option<String>,
    max_concurrent_tasks: Option<usize>,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomRuntime {
    /// The provider key registered with the server.
    name: String,
    display_name: Option<String>,
    /// `acp`, `stream-json` (Claude-compatible), `codex` or `opencode`.
    protocol: String,
    command: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    model: Option<String>,
    max_concurrent_tasks: Option<usize>,
    min_version: Option<String>,
    /// The instructions file the CLI reads (default `AGENTS.md`).
    brief_file: Option<String>,
    /// For `stream-json`: `stdin-message` (default, Claude Code's), `stdin-text`
    /// or `argument`.
    prompt: Option<String>,
    /// For `stream-json` with `prompt: argument`: the flag before the prompt.
    prompt_flag: Option<String>,
}

/// The settings for every agent: built-in ones first (those disabled left out),
/// then custom runtimes.
pub fn agent_settings(
    var: impl Fn(&str) -> Option<String>,
    file: &CliConfig,
) -> Result<Vec<AgentSetting>, AgentConfigError> {
    let overrides: BTreeMap<String, AgentOverride> = section(file, "agents")?.unwrap_or_default();
    let customs: Vec<CustomRuntime> = section(file, "custom_runtimes")?.unwrap_or_default();

    let mut settings = Vec::new();
    for provider in Provider::all() {
        let own = overrides.get(provider.as_str());
        if own.is_some_and(|own| !own.enabled) {
            continue;
        }
        settings.push(setting_for(
            provider.clone(),
            &var,
            own.and_then(|own| own.path.clone()),
            own.and_then(|own| own.model.clone()),
            own.and_then(|own| own.max_concurrent_tasks),
        ));
    }
    for custom in customs {
        let (model, cap) = (custom.model.clone(), custom.max_concurrent_tasks);
        let provider = Provider::custom(custom_profile(custom)?);
        if settings.iter().any(|setting| setting.provider == provider) {
            return Err(AgentConfigError::CustomRuntime {
                name: provider.as_str().to_owned(),
                reason: "the name is already taken by another runtime".to_owned(),
            });
        }
        settings.push(setting_for(provider, &var, None, model, cap));
    }
    Ok(settings)
}

fn setting_for(
    provider: Provider,
    var: &impl Fn(&str) -> Option<String>,
    file_path: Option<String>,
    file_model: Option<String>,
    max_concurrent_tasks: Option<usize>,
) -> AgentSetting {
    let prefix = provider.env_prefix();
    let path = var(&format!("MULTICA_{prefix}_PATH"))
        .or(file_path)
        .map(|path| path.trim().to_owned())
        .filter(|path| !path.is_empty());
    let model = var(&format!("MULTICA_{prefix}_MODEL"))
        .or(file_model)
        .map(|model| model.trim().to_owned())
        .filter(|model| !model.is_empty());
    AgentSetting {
        executable: path.clone().map_or_else(
            || PathBuf::from(provider.default_executable()),
            PathBuf::from,
        ),
        pinned: path.is_some(),
        model,
        max_concurrent_tasks: max_concurrent_tasks.filter(|cap| *cap > 0),
        provider,
    }
}

fn section<T: serde::de::DeserializeOwned>(
    file: &CliConfig,
    key: &'static str,
) -> Result<Option<T>, AgentConfigError> {
    file.other
        .get(key)
        .filter(|value| !value.is_null())
        .map(|value| {
            T::deserialize(value).map_err(|source| AgentConfigError::Shape { key, source })
        })
        .transpose()
}

fn custom_profile(custom: CustomRuntime) -> Result<AgentProfile, AgentConfigError> {
    let invalid = |reason: String| AgentConfigError::CustomRuntime {
        name: custom.name.clone(),
        reason,
    };
    let name = custom.name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(invalid(
            "the name must be letters, digits, '-', '_' or '.'".to_owned(),
        ));
    }
    if custom.command.trim().is_empty() {
        return Err(invalid("\"command\" is empty".to_owned()));
    }
    let prompt = match (custom.prompt.as_deref(), custom.prompt_flag.clone()) {
        (None | Some("stdin-message"), _) => PromptInput::StdinMessage,
        (Some("stdin-text"), _) => PromptInput::StdinText,
        (Some("argument"), flag) => PromptInput::Argument { flag },
        (Some(other), _) => {
            return Err(invalid(format!(
                "prompt {other:?} is not one of stdin-message, stdin-text, argument"
            )));
        }
    };
    let protocol = match custom.protocol.trim() {
        "acp" => Protocol::Acp,
        "stream-json" | "claude" => Protocol::StreamJson(StreamJsonStyle {
            prompt,
            ..StreamJsonStyle::claude()
        }),
        "codex" => Protocol::CodexAppServer,
        "opencode" => Protocol::OpenCode,
        other => {
            return Err(invalid(format!(
                "protocol {other:?} is not one of acp, stream-json, codex, opencode"
            )));
        }
    };
    let brief_file = custom.brief_file.unwrap_or_else(|| "AGENTS.md".to_owned());
    if brief_file.contains(['/', '\\']) || brief_file.starts_with('.') {
        return Err(invalid(format!(
            "brief_file {brief_file:?} must be a plain file name"
        )));
    }
    let mut profile = AgentProfile::new(
        name,
        custom.display_name.as_deref().unwrap_or(name),
        protocol,
        custom.command.trim(),
    );
    profile.args = custom.args;
    profile.env = custom.env.into_iter().collect();
    profile.min_version = custom.min_version;
    profile.brief_file = brief_file;
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn file(value: serde_json::Value) -> CliConfig {
        serde_json::from_value(value).expect("config")
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_are_every_builtin_by_its_command_name() {
        let settings = agent_settings(no_env, &CliConfig::default()).expect("settings");
        assert_eq!(settings.len(), Provider::all().len());
        assert_eq!(settings[0].provider, Provider::claude());
        assert_eq!(settings[0].executable, PathBuf::from("claude"));
        assert!(!settings[0].pinned);
        let cursor = settings
            .iter()
            .find(|s| s.provider.as_str() == "cursor")
            .expect("cursor");
        assert_eq!(cursor.executable, PathBuf::from("cursor-agent"));
    }

    #[test]
    fn env_beats_file_beats_default_and_agents_can_be_disabled() {
        let config = file(json!({"agents": {
            "claude": {"path": "/file/claude", "model": "sonnet", "max_concurrent_tasks": 2},
            "codex": {"path": "/file/codex"},
            "goose": {"enabled": false},
        }}));
        let env = |name: &str| (name == "MULTICA_CODEX_PATH").then(|| "/env/codex".to_owned());
        let settings = agent_settings(env, &config).expect("settings");
        let get = |id: &str| settings.iter().find(|s| s.provider.as_str() == id);
        let claude = get("claude").expect("claude");
        assert_eq!(claude.executable, PathBuf::from("/file/claude"));
        assert!(claude.pinned);
        assert_eq!(claude.model.as_deref(), Some("sonnet"));
        assert_eq!(claude.max_concurrent_tasks, Some(2));
        assert_eq!(
            get("codex").expect("codex").executable,
            PathBuf::from("/env/codex")
        );
        assert!(get("goose").is_none());
    }

    #[test]
    fn a_custom_runtime_is_one_declaration() {
        let config = file(json!({"custom_runtimes": [{
            "name": "my-agent", "display_name": "Mine", "protocol": "acp",
            "command": "/opt/mine", "args": ["acp", "--quiet"], "env": {"MINE_MODE": "ci"},
            "model": "m1", "max_concurrent_tasks": 1,
        }, {
            "name": "qwen-fork", "protocol": "stream-json", "command": "qf",
            "args": ["--output-format", "stream-json"], "prompt": "argument", "prompt_flag": "-p",
        }]}));
        let settings = agent_settings(no_env, &config).expect("settings");
        let mine = settings
            .iter()
            .find(|s| s.provider.as_str() == "my-agent")
            .expect("mine");
        assert_eq!(mine.provider.display_name(), "Mine");
        assert_eq!(*mine.provider.protocol(), Protocol::Acp);
        assert_eq!(mine.provider.profile().args, ["acp", "--quiet"]);
        assert_eq!(
            mine.provider.profile().env,
            [("MINE_MODE".to_owned(), "ci".to_owned())]
        );
        assert_eq!(mine.executable, PathBuf::from("/opt/mine"));
        assert_eq!(mine.model.as_deref(), Some("m1"));
        assert_eq!(mine.max_concurrent_tasks, Some(1));
        let fork = settings
            .iter()
            .find(|s| s.provider.as_str() == "qwen-fork")
            .expect("fork");
        let Protocol::StreamJson(style) = fork.provider.protocol() else {
            panic!("stream-json");
        };
        assert_eq!(
            style.prompt,
            PromptInput::Argument {
                flag: Some("-p".into())
            }
        );
    }

    #[test]
    fn bad_declarations_say_what_is_wrong() {
        let cases = [
            (
                json!({"custom_runtimes": [{"name": "claude", "protocol": "acp", "command": "x"}]}),
                "already taken",
            ),
            (
                json!({"custom_runtimes": [{"name": "a b", "protocol": "acp", "command": "x"}]}),
                "the name must be",
            ),
            (
                json!({"custom_runtimes": [{"name": "a", "protocol": "grpc", "command": "x"}]}),
                "protocol \"grpc\"",
            ),
            (
                json!({"custom_runtimes": [{"name": "a", "protocol": "acp", "command": " "}]}),
                "\"command\" is empty",
            ),
            (
                json!({"custom_runtimes": [{"name": "a", "protocol": "acp", "command": "x", "brief_file": "../x.md"}]}),
                "plain file name",
            ),
            (
                json!({"custom_runtimes": [{"name": "a", "protocol": "acp", "comand": "x"}]}),
                "custom_runtimes",
            ),
            (
                json!({"agents": {"claude": {"pth": "/x"}}}),
                "\"agents\" is not valid",
            ),
        ];
        for (config, expected) in cases {
            let error = agent_settings(no_env, &file(config))
                .expect_err("invalid")
                .to_string();
            assert!(
                error.contains(expected),
                "{error:?} should contain {expected:?}"
            );
        }
    }
}
