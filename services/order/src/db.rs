//! The connection pool: the shell's ([`bourse_shell::db`]).

pub use bourse_shell::db::{DbError, pool};
