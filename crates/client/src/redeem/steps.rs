//! The numbered step lines the flow prints (`[2/8] Preflight checks ... ok`), and the failure
//! that ends the flow before anything changed.

use std::io::Write;

use super::Step;
use crate::exit::ExitCode;

/// Writes the step lines.
pub(super) struct Steps<'w> {
    out: &'w mut dyn Write,
    total: usize,
    /// Steps printed before the token flow's own (1 when a code is exchanged for the token
    /// first): the flow's step N is printed as N + `before`.
    before: usize,
}

impl<'w> Steps<'w> {
    pub(super) fn new(out: &'w mut dyn Write, total: usize, before: usize) -> Self {
        Self { out, total, before }
    }

    /// Starts one of the token flow's steps.
    pub(super) fn begin(&mut self, step: Step, extra: &str) {
        self.begin_numbered(step.number() + self.before, step.title(), extra);
    }

    /// Starts a step that is not one of the token flow's [`Step`]s.
    pub(super) fn begin_numbered(&mut self, number: usize, title: &str, extra: &str) {
        let _ = write!(self.out, "[{number}/{}] {title}{extra} ... ", self.total);
        let _ = self.out.flush();
    }

    pub(super) fn ok(&mut self, note: &str) {
        if note.is_empty() {
            let _ = writeln!(self.out, "ok");
        } else {
            let _ = writeln!(self.out, "ok ({note})");
        }
    }

    pub(super) fn failed(&mut self) {
        let _ = writeln!(self.out, "FAILED");
    }

    pub(super) fn say(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
    }

    /// Ends the started step as failed with `e`'s message; its exit code.
    pub(super) fn early_exit(&mut self, e: &Early) -> ExitCode {
        self.failed();
        self.say(&format!("error: {}", e.message));
        e.code
    }
}

/// A failure before the redeem: nothing changed anywhere.
pub(super) struct Early {
    pub(super) code: ExitCode,
    pub(super) message: String,
    /// The token was refused as expired or not yet valid: this machine's clock may be wrong.
    pub(super) clock_suspect: bool,
}

impl Early {
    pub(super) fn new(code: ExitCode, message: String) -> Self {
        Self {
            code,
            message,
            clock_suspect: false,
        }
    }
}
