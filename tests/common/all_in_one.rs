//! The all-in-one process (`bourse` with no subcommand) as a child, and what its
//! start-up banner says.

use std::path::Path;

use super::{Proc, start_collecting};

/// The all-in-one process and what its start-up printed.
pub(crate) struct AllInOne {
    pub(crate) proc: Proc,
    pub(crate) lines: Vec<String>,
}

impl AllInOne {
    pub(crate) fn start(data: &Path, gateway: &str, feed: &str, extra: &[&str]) -> AllInOne {
        let mut args = vec![
            "--data-dir",
            data.to_str().unwrap(),
            "--port",
            "0",
            "--front-port",
            "0",
            "--gateway",
            gateway,
            "--feed",
            feed,
            "--admin",
            "root:root-password",
        ];
        args.extend_from_slice(extra);
        let (proc, lines) = start_collecting(&args, "bourse: all-in-one ready");
        AllInOne { proc, lines }
    }

    /// The value after `label` on the banner line that starts with it.
    pub(crate) fn printed(&self, label: &str) -> String {
        self.lines
            .iter()
            .find_map(|l| l.trim_start().strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label:?} in {:#?}", self.lines))
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }

    /// `host:port` of a service.
    pub(crate) fn addr(&self, role: &str) -> String {
        let label = match role {
            "user" => "user service",
            "trader" => "trader service",
            "stock" => "stock service",
            "notification" => "notifications",
            "auto" => "alerts",
            _ => "portfolio",
        };
        let url = self.printed(label);
        let rest = url.split("://").nth(1).unwrap();
        rest.split('/').next().unwrap().to_string()
    }
}
