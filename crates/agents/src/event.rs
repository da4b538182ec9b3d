#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// What an agent did, in one shape for every CLI.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    /// Text the agent wrote (complete blocks, not deltas).
    Text(String),
    Thinking(String),
    ToolUse {
        call_id: String,
        tool: String,
        input: serde_json::Value,
    },
    ToolResult {
        call_id: String,
        /// The tool the call was for, when the call was seen.
        tool: Option<String>,
        /// The result as text (never the JSON of a content-block list).
        output: String,
        is_error: bool,
    },
    /// Something went wrong that a person reading the transcript should see.
    Error(String),
    /// A change of the run's state (e.g. `running` once the CLI is up).
    Status(String),
    /// The CLI's session, as soon as it names it: what a later run resumes.
    Session(String),
    /// Diagnostics: the CLI's stderr, its log lines, lines we could not read.
    Log {
        level: LogLevel,
        message: String,
    },
}
