//! The agent CLIs this crate can drive, as data: each is an [`AgentProfile`] naming
//! its command, its fixed arguments and the protocol family that drives it. A CLI
//! that speaks a family we already have (Claude-compatible stream-json, ACP) is one
//! entry in [`builtin_profiles`] or in the user's config file, not new code.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

/// How a CLI is driven: the backend that speaks its protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// Claude Code's `--output-format stream-json` lines (Claude Code and the CLIs
    /// that copy its format: CodeBuddy, Qwen Code, Cursor's agent…).
    StreamJson(StreamJsonStyle),
    /// `codex app-server --listen stdio://` (JSON-RPC 2.0).
    CodexAppServer,
    /// `opencode run --format json`.
    OpenCode,
    /// The Agent Client Protocol: JSON-RPC 2.0 over stdio (Gemini CLI, Kimi, Kiro,
    /// Goose, Hermes, Qoder…).
    Acp,
}

impl Protocol {
    /// The family's name in the config file (`protocol = "acp"`).
    pub fn family(&self) -> &'static str {
        match self {
            Protocol::StreamJson(_) => "stream-json",
            Protocol::CodexAppServer => "codex",
            Protocol::OpenCode => "opencode",
            Protocol::Acp => "acp",
        }
    }
}

/// How a stream-json CLI gets its prompt, model and session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamJsonStyle {
    pub prompt: PromptInput,
    /// The flag that picks the model, e.g. `--model`.
    pub model_flag: String,
    /// The flag that continues a session, e.g. `--resume`.
    pub resume_flag: String,
}

impl StreamJsonStyle {
    /// Claude Code's: the prompt as a stream-json message on stdin.
    pub fn claude() -> Self {
        Self {
            prompt: PromptInput::StdinMessage,
            model_flag: "--model".to_owned(),
            resume_flag: "--resume".to_owned(),
        }
    }

    fn with_prompt(prompt: PromptInput) -> Self {
        Self {
            prompt,
            ..Self::claude()
        }
    }
}

/// Where a stream-json CLI reads its prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptInput {
    /// One stream-json user message on stdin, which stays open for the CLI's control
    /// requests until its result arrives (needs `--input-format stream-json`).
    StdinMessage,
    /// The prompt as plain text on stdin, then end of input.
    StdinText,
    /// The last argument, after `flag` when there is one (`-p <prompt>`).
    Argument { flag: Option<String> },
}

/// One agent CLI: everything the engine needs to find, run and describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentProfile {
    /// The key the server knows the provider by, e.g. `claude`.
    pub id: String,
    pub display_name: String,
    pub protocol: Protocol,
    /// The command looked up on PATH when no path is configured.
    pub command: String,
    /// Arguments that always come first, e.g. `acp` for `kimi acp`.
    pub args: Vec<String>,
    /// Set for every run, on top of the inherited environment.
    pub env: Vec<(String, String)>,
    /// The oldest version that speaks the protocol as we drive it.
    pub min_version: Option<String>,
    /// The file in the work dir the CLI reads project instructions from.
    pub brief_file: String,
    /// Where, relative to the work dir, the CLI finds skills by itself; `None`:
    /// skills go to `.agent_context/skills` and the brief points there.
    pub skills_dir: Option<String>,
}

impl AgentProfile {
    /// A profile with the defaults of its family: `AGENTS.md`, no fixed arguments.
    pub fn new(id: &str, display_name: &str, protocol: Protocol, command: &str) -> Self {
        Self {
            id: id.to_owned(),
            display_name: display_name.to_owned(),
            protocol,
            command: command.to_owned(),
            args: Vec::new(),
            env: Vec::new(),
            min_version: None,
            brief_file: "AGENTS.md".to_owned(),
            skills_dir: None,
        }
    }

    fn args(mut self, args: &[&str]) -> Self {
        self.args = args.iter().map(|arg| (*arg).to_owned()).collect();
        self
    }

    fn min_version(mut self, version: &str) -> Self {
        self.min_version = Some(version.to_owned());
        self
    }

    fn brief(mut self, file: &str) -> Self {
        file.clone_into(&mut self.brief_file);
        self
    }

    fn skills(mut self, dir: &str) -> Self {
        self.skills_dir = Some(dir.to_owned());
        self
    }
}

/// The arguments of Claude Code's headless stream-json mode, shared by the CLIs
/// that copy it.
const CLAUDE_STREAM_ARGS: &[&str] = &[
    "-p",
    "--input-format",
    "stream-json",
    "--output-format",
    "stream-json",
    "--verbose",
    "--permission-mode",
    "bypassPermissions",
];

/// The built-in CLIs. Adding one that speaks a known protocol is one entry here.
pub fn builtin_profiles() -> Vec<AgentProfile> {
    use Protocol::{Acp, CodexAppServer, OpenCode, StreamJson};
    vec![
        AgentProfile::new(
            "claude",
            "Claude",
            StreamJson(StreamJsonStyle::claude()),
            "claude",
        )
        .args(CLAUDE_STREAM_ARGS)
        .min_version("2.0.0")
        .brief("CLAUDE.md")
        .skills(".claude/skills"),
        // app-server --listen stdio:// arrived in 0.100.0.
        AgentProfile::new("codex", "Codex", CodexAppServer, "codex").min_version("0.100.0"),
        AgentProfile::new("opencode", "OpenCode", OpenCode, "opencode").skills(".opencode/skills"),
        AgentProfile::new(
            "codebuddy",
            "CodeBuddy",
            StreamJson(StreamJsonStyle::claude()),
            "codebuddy",
        )
        .args(CLAUDE_STREAM_ARGS)
        .brief("CODEBUDDY.md")
        .skills(".codebuddy/skills"),
        AgentProfile::new(
            "qwen",
            "Qwen Code",
            StreamJson(StreamJsonStyle::with_prompt(PromptInput::Argument {
                flag: Some("-p".to_owned()),
            })),
            "qwen",
        )
        .args(&["--output-format", "stream-json", "--yolo"])
        .min_version("0.20.0")
        .brief("QWEN.md"),
        AgentProfile::new(
            "cursor",
            "Cursor Agent",
            StreamJson(StreamJsonStyle::with_prompt(PromptInput::StdinText)),
            "cursor-agent",
        )
        .args(&["-p", "--output-format", "stream-json", "--yolo"])
        .skills(".cursor/skills"),
        AgentProfile::new("gemini", "Gemini", Acp, "gemini")
            .args(&["--experimental-acp"])
            .brief("GEMINI.md"),
        AgentProfile::new("kimi", "Kimi", Acp, "kimi").args(&["acp"]),
        AgentProfile::new("kiro", "Kiro", Acp, "kiro-cli").args(&["acp"]),
        AgentProfile::new("hermes", "Hermes", Acp, "hermes").args(&["acp"]),
        AgentProfile::new("qoder", "Qoder", Acp, "qodercli").args(&["--acp"]),
        AgentProfile::new("goose", "Goose", Acp, "goose").args(&["acp"]),
    ]
}

static BUILTINS: LazyLock<Vec<Provider>> = LazyLock::new(|| {
    builtin_profiles()
        .into_iter()
        .map(|profile| Provider(Arc::new(profile)))
        .collect()
});

/// One agent CLI, built in or declared by the user; cheap to clone. Two providers
/// are the same when their ids are.
#[derive(Clone)]
pub struct Provider(Arc<AgentProfile>);

impl Provider {
    /// The built-in CLIs, in the order they are probed and listed.
    pub fn all() -> &'static [Provider] {
        &BUILTINS
    }

    pub fn builtin(id: &str) -> Option<Provider> {
        let wanted = id.trim();
        BUILTINS
            .iter()
            .find(|provider| provider.as_str().eq_ignore_ascii_case(wanted))
            .cloned()
    }

    /// A CLI the user declared (a custom runtime).
    pub fn custom(profile: AgentProfile) -> Provider {
        Provider(Arc::new(profile))
    }

    pub fn claude() -> Provider {
        Self::named_builtin("claude")
    }

    pub fn codex() -> Provider {
        Self::named_builtin("codex")
    }

    pub fn opencode() -> Provider {
        Self::named_builtin("opencode")
    }

    fn named_builtin(id: &str) -> Provider {
        // The table above has these ids; a test checks it.
        BUILTINS
            .iter()
            .find(|provider| provider.as_str() == id)
            .cloned()
            .unwrap_or_else(|| panic!("the built-in table lost {id}"))
    }

    pub fn profile(&self) -> &AgentProfile {
        &self.0
    }

    pub fn protocol(&self) -> &Protocol {
        &self.0.protocol
    }

    /// The key the server knows the provider by.
    pub fn as_str(&self) -> &str {
        &self.0.id
    }

    pub fn display_name(&self) -> &str {
        &self.0.display_name
    }

    /// The command looked up on PATH when no path is configured.
    pub fn default_executable(&self) -> &str {
        &self.0.command
    }

    /// `CLAUDE` for `MULTICA_CLAUDE_PATH` and `MULTICA_CLAUDE_MODEL`.
    pub fn env_prefix(&self) -> String {
        self.0
            .id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    }
}

impl PartialEq for Provider {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for Provider {}

impl Hash for Provider {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

impl PartialOrd for Provider {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Provider {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.id.cmp(&other.0.id)
    }
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Provider({})", self.0.id)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown agent provider {0:?} (known: {known})", known = known_names())]
pub struct UnknownProvider(pub String);

fn known_names() -> String {
    Provider::all()
        .iter()
        .map(Provider::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for Provider {
    type Err = UnknownProvider;

    /// A built-in provider by its id; custom ones are looked up by the engine.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Provider::builtin(value).ok_or_else(|| UnknownProvider(value.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for provider in Provider::all() {
            assert_eq!(provider.as_str().parse::<Provider>().as_ref(), Ok(provider));
            assert_eq!(provider.to_string(), provider.as_str());
        }
        assert_eq!(" Claude ".parse::<Provider>(), Ok(Provider::claude()));
        let unknown = "nope".parse::<Provider>().expect_err("unknown provider");
        assert!(
            unknown
                .to_string()
                .starts_with("unknown agent provider \"nope\" (known: claude, codex, opencode"),
            "{unknown}"
        );
    }

    #[test]
    fn builtin_ids_are_unique_and_well_formed() {
        let mut ids: Vec<&str> = Provider::all().iter().map(Provider::as_str).collect();
        assert!(
            ids.iter()
                .all(|id| id.chars().all(|c| c.is_ascii_lowercase()))
        );
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), Provider::all().len());
        for named in [Provider::claude(), Provider::codex(), Provider::opencode()] {
            assert!(Provider::all().contains(&named));
        }
    }

    #[test]
    fn claude_names() {
        let claude = Provider::claude();
        assert_eq!(claude.display_name(), "Claude");
        assert_eq!(claude.default_executable(), "claude");
        assert_eq!(claude.env_prefix(), "CLAUDE");
        assert_eq!(claude.profile().brief_file, "CLAUDE.md");
    }

    #[test]
    fn env_prefix_of_a_custom_id() {
        let custom = Provider::custom(AgentProfile::new(
            "my-agent.2",
            "Mine",
            Protocol::Acp,
            "mine",
        ));
        assert_eq!(custom.env_prefix(), "MY_AGENT_2");
        assert_eq!(custom.protocol().family(), "acp");
    }
}
