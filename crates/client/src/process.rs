//! Running a local command for a backend: arguments, stdin (the only way a password travels),
//! `LC_ALL=C`, output collected on threads, and a timeout after which the child is killed.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::backend::BackendError;

/// What a finished command left behind.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// Exit status (`None` if killed by a signal).
    pub status: Option<i32>,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    pub fn combined(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    pub fn status_text(&self) -> String {
        match self.status {
            Some(code) => format!("exit status {code}"),
            None => "killed by a signal".to_owned(),
        }
    }
}

/// Runs `program args`, feeding `stdin` (if any) and collecting output, killing it after
/// `timeout`. The environment is inherited (KRB5_CONFIG etc.) with `LC_ALL=C`.
pub fn run_command(
    program: &Path,
    args: &[OsString],
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<CmdOutput, BackendError> {
    let shown = display_command(program, args);
    let mut child = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| BackendError::Failed(format!("cannot run `{shown}`: {e}")))?;

    let stdout_reader = child.stdout.take().map(spawn_reader);
    let stderr_reader = child.stderr.take().map(spawn_reader);
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A child that exits without reading gives EPIPE: its exit status tells the rest.
        let _ = pipe.write_all(input);
        drop(pipe);
    }

    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(BackendError::Failed(format!(
                    "`{shown}` did not finish within {} s and was stopped",
                    timeout.as_secs()
                )));
            }
            // A synchronous poll of a child process: blocking is the point here.
            #[allow(clippy::disallowed_methods)]
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                return Err(BackendError::Failed(format!("waiting for `{shown}`: {e}")));
            }
        }
    };
    let collect = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
        h.and_then(|h| h.join().ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    Ok(CmdOutput {
        status: status.code(),
        stdout: collect(stdout_reader),
        stderr: collect(stderr_reader),
    })
}

fn spawn_reader<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

fn display_command(program: &Path, args: &[OsString]) -> String {
    std::iter::once(program.as_os_str())
        .chain(args.iter().map(OsString::as_os_str))
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn commands_get_stdin_and_status() {
        let out = run_command(
            Path::new("sh"),
            &[
                "-c".into(),
                "read -r l; printf 'got %s\\n' \"$l\"; echo err >&2; exit 3".into(),
            ],
            Some(b"a b c\n"),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(out.status, Some(3));
        assert_eq!(out.stdout, "got a b c\n");
        assert_eq!(out.stderr, "err\n");
    }

    #[cfg(unix)]
    #[test]
    fn commands_time_out() {
        let r = run_command(
            Path::new("sleep"),
            &["5".into()],
            None,
            Duration::from_millis(200),
        );
        assert!(r.unwrap_err().to_string().contains("did not finish"));
    }

    #[cfg(unix)]
    #[test]
    fn missing_program_is_an_error() {
        let r = run_command(
            Path::new("/nonexistent/net"),
            &[],
            None,
            Duration::from_secs(1),
        );
        assert!(r.unwrap_err().to_string().contains("cannot run"));
    }
}
