//! Progress on a terminal: the running actions at the bottom of the screen, each with
//! its elapsed time and what it waits for, redrawn in place; finished actions scroll
//! above them as the plain lines a pipe gets. Off when stdout is not a terminal (or
//! TERM is `dumb`): those plain lines, and a line per wait, are all there is then.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

struct Running {
    label: String,
    since: Instant,
    /// What it waits for, and since when.
    wait: Option<(String, Instant)>,
}

#[derive(Default)]
struct State {
    running: BTreeMap<usize, Running>,
    /// Lines of the board on screen now, to be redrawn over.
    drawn: usize,
}

pub struct Board {
    state: Mutex<State>,
}

/// The terminal's board, when stdout is one.
pub fn board() -> Option<&'static Board> {
    static BOARD: OnceLock<Option<Board>> = OnceLock::new();
    BOARD
        .get_or_init(|| {
            let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
            (std::io::stdout().is_terminal() && !dumb).then(|| Board {
                state: Mutex::default(),
            })
        })
        .as_ref()
}

impl Board {
    pub fn start(&self, i: usize, label: String) {
        let mut s = self.lock();
        s.running.insert(
            i,
            Running {
                label,
                since: Instant::now(),
                wait: None,
            },
        );
        redraw(&mut s, None);
    }

    /// `line` goes above the board, for good.
    pub fn finish(&self, i: usize, line: &str) {
        let mut s = self.lock();
        s.running.remove(&i);
        redraw(&mut s, Some(line));
    }

    /// What action `i` (or, unknown, every running one) waits for now.
    pub fn wait(&self, i: Option<usize>, what: &str) {
        let mut s = self.lock();
        // The retry loop says how long it has waited ("..., 12 s so far (gives up
        // after 5 min)"); the board counts by itself.
        let what = match what.split_once(" s so far") {
            Some((head, _)) => head.rsplit_once(", ").map_or(head, |x| x.0),
            None => what,
        }
        .to_owned();
        for (k, r) in s.running.iter_mut() {
            if i.is_none_or(|i| i == *k) {
                let keep = r.wait.as_ref().is_some_and(|(w, _)| *w == what);
                if !keep {
                    r.wait = Some((what.clone(), Instant::now()));
                }
            }
        }
        redraw(&mut s, None);
    }

    pub fn tick(&self) {
        let mut s = self.lock();
        redraw(&mut s, None);
    }

    /// Takes the board off the screen (before the summary).
    pub fn clear(&self) {
        let mut s = self.lock();
        s.running.clear();
        redraw(&mut s, None);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn redraw(s: &mut State, line: Option<&str>) {
    let out = frame(s, line, terminal_width());
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(out.as_bytes());
    let _ = o.flush();
}

/// What to write: back over the board, the finished line, the board again.
fn frame(s: &mut State, line: Option<&str>, width: usize) -> String {
    let mut out = String::new();
    if s.drawn > 0 {
        // To the first line of the board, and clear from there down.
        out.push_str(&format!("\x1b[{}F\x1b[J", s.drawn));
    }
    if let Some(l) = line {
        out.push_str(l);
        out.push('\n');
    }
    for r in s.running.values() {
        let mut l = format!("  {} {:.1}s", r.label, r.since.elapsed().as_secs_f64());
        if let Some((what, since)) = &r.wait {
            l.push_str(&format!(" ({what}, {}s)", since.elapsed().as_secs()));
        }
        // A wrapped line would throw the count of lines to redraw off.
        out.push_str(&l.chars().take(width.saturating_sub(1)).collect::<String>());
        out.push('\n');
    }
    s.drawn = s.running.len();
    out
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_redraws_over_itself_and_keeps_finished_lines() {
        let mut s = State::default();
        s.running.insert(
            3,
            Running {
                label: "+ iam role r: creating...".into(),
                since: Instant::now(),
                wait: Some(("IAM role propagating".into(), Instant::now())),
            },
        );
        let first = frame(&mut s, None, 100);
        assert_eq!(
            first,
            "  + iam role r: creating... 0.0s (IAM role propagating, 0s)\n"
        );
        let narrow = frame(&mut s, None, 20);
        assert!(narrow.starts_with("\x1b[1F\x1b[J"), "{narrow:?}");
        let visible = narrow
            .trim_start_matches("\x1b[1F\x1b[J")
            .trim_end_matches('\n');
        assert_eq!(visible.chars().count(), 19, "{narrow:?}");
        s.running.clear();
        let done = frame(&mut s, Some("+ iam role r: created (1.0 s)"), 100);
        assert_eq!(done, "\x1b[1F\x1b[J+ iam role r: created (1.0 s)\n");
        assert_eq!(s.drawn, 0);
    }
}
