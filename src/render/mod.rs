//! The only writer to stdout: plans and reports, for people (`human`) and tools (`json`).

pub mod class;
pub mod human;
pub mod json;
pub mod live;
pub mod query;
pub mod verify;

use std::io::IsTerminal;

/// Colour on a terminal, never when piped or with NO_COLOR set.
pub fn use_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}
