//! What the process-level tests share: running `bourse` as a child process.
#![allow(dead_code)]

pub(crate) mod all_in_one;
pub(crate) mod nginx;
pub(crate) mod scenario;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when dropped.
pub(crate) struct Proc(pub(crate) Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bourse ARGS`, waits for a line containing `ready` on stdout or stderr and
/// returns the process and that line.
pub(crate) fn start(args: &[&str], ready: &str) -> (Proc, String) {
    let (proc, mut lines) = start_collecting(args, ready);
    (proc, lines.pop().unwrap_or_default())
}

/// As [`start`], returning every line printed up to and including the ready one.
pub(crate) fn start_collecting(args: &[&str], ready: &str) -> (Proc, Vec<String>) {
    let mut child = Proc(
        Command::new(env!("CARGO_BIN_EXE_bourse"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn bourse"),
    );
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    for stream in [
        Box::new(child.0.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.0.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                eprintln!("bourse: {line}");
                let _ = tx.send(line);
            }
        });
    }
    // Only the readers hold senders now: a child that exits before it is ready ends
    // the wait at once, with what it printed, instead of at the deadline.
    drop(tx);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = Vec::new();
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|e| panic!("bourse {args:?} never said {ready:?} ({e}): {lines:#?}"));
        let done = line.contains(ready);
        lines.push(line);
        if done {
            return (child, lines);
        }
    }
}

/// A name part no other run shares (process id and time): for schemas, exchanges and
/// queues that tests make on the shared servers.
pub(crate) fn unique_tag() -> String {
    format!(
        "{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    )
}

/// A TCP port free on 127.0.0.1 now (for a child process to bind).
pub(crate) fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
