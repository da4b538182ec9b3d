//! What to answer, independent of the wire dialect.
//!
//! Every answer is decided from the request alone. A CLI sends side requests (titles,
//! probes) besides the conversation, and a resumed session replays its whole history,
//! so a counter of requests seen would drift; the last user message does not.

use serde_json::{Value, json};

use crate::Scenario;

/// What a dialect read from one request: enough to decide the next turn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Conversation {
    /// The last user message carries a tool result: the tool ran, time to answer.
    pub(crate) answers_tool_call: bool,
    /// The name under which the request offers a shell tool, if it does. Side
    /// requests offer no tools and must not be answered with a tool call.
    pub(crate) shell_tool: Option<String>,
    /// Messages in the request. Ids derived from it are unique within a
    /// conversation (even across a resume) without any state on our side.
    pub(crate) message_count: usize,
}

/// The first of `known` shell tools (in their order of preference) that the
/// request offers.
pub(crate) fn offered_shell_tool(offered: &[&str], known: &[&str]) -> Option<String> {
    known
        .iter()
        .find(|name| offered.contains(name))
        .map(|name| (*name).to_owned())
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Block {
    Text(String),
    ToolCall {
        id: String,
        name: String,
        input: Value,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    EndTurn,
    ToolUse,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    Turn { blocks: Vec<Block>, stop: Stop },
    Hang,
    Error { status: u16, body: String },
}

/// Said before the scripted tool call, as models usually do.
pub(crate) const TOOL_PREAMBLE: &str = "I'll run the command.";

/// Describes the scripted tool call (Claude Code's Bash tool takes one).
pub(crate) const TOOL_DESCRIPTION: &str = "Run the scripted command";

impl Scenario {
    pub(crate) fn reply(&self, conversation: &Conversation) -> Reply {
        match self {
            Scenario::ToolThenAnswer {
                command,
                final_text,
            } => match (&conversation.shell_tool, conversation.answers_tool_call) {
                (Some(tool), false) => Reply::Turn {
                    blocks: vec![
                        Block::Text(TOOL_PREAMBLE.to_owned()),
                        Block::ToolCall {
                            id: format!("toolu_fake_{:04}", conversation.message_count),
                            name: tool.clone(),
                            input: json!({"command": command, "description": TOOL_DESCRIPTION}),
                        },
                    ],
                    stop: Stop::ToolUse,
                },
                _ => text_turn(final_text.clone()),
            },
            Scenario::Answer(text) => text_turn(text.clone()),
            Scenario::HugeAnswer { bytes } => text_turn(filler_text(*bytes)),
            Scenario::Hang => Reply::Hang,
            Scenario::Error { status, body } => Reply::Error {
                status: *status,
                body: body.clone(),
            },
        }
    }
}

fn text_turn(text: String) -> Reply {
    Reply::Turn {
        blocks: vec![Block::Text(text)],
        stop: Stop::EndTurn,
    }
}

/// Exactly `bytes` bytes of ASCII prose, the same every time.
pub fn filler_text(bytes: usize) -> String {
    const WORDS: &str = "the quick brown fox jumps over the lazy dog ";
    WORDS.bytes().cycle().take(bytes).map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool_scenario() -> Scenario {
        Scenario::ToolThenAnswer {
            command: "ls".into(),
            final_text: "done".into(),
        }
    }

    #[test]
    fn tool_call_first_then_answer_once_the_result_is_back() {
        let asking = Conversation {
            answers_tool_call: false,
            shell_tool: Some("Bash".into()),
            message_count: 1,
        };
        let Reply::Turn { blocks, stop } = tool_scenario().reply(&asking) else {
            panic!("a turn");
        };
        assert_eq!(stop, Stop::ToolUse);
        assert!(matches!(&blocks[1], Block::ToolCall { name, input, .. }
            if name == "Bash" && input["command"] == "ls"));

        let answered = Conversation {
            answers_tool_call: true,
            ..asking
        };
        assert_eq!(tool_scenario().reply(&answered), text_turn("done".into()));
    }

    #[test]
    fn side_requests_without_tools_get_text() {
        let side = Conversation {
            answers_tool_call: false,
            shell_tool: None,
            message_count: 1,
        };
        assert_eq!(tool_scenario().reply(&side), text_turn("done".into()));
    }

    #[test]
    fn filler_has_the_exact_length() {
        assert_eq!(filler_text(0), "");
        assert_eq!(filler_text(9), "the quick");
        assert_eq!(filler_text(1_000_003).len(), 1_000_003);
    }
}
