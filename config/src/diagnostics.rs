//! Errors reported against a position in a configuration file.

use std::fmt;
use std::path::PathBuf;

/// One error at a place in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file.
    pub file: PathBuf,
    /// 1-based line; 0 when the error concerns the whole file.
    pub line: usize,
    /// 1-based column (in characters); 0 when unknown.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// The offending line of the file, quoted under the message.
    pub source_line: Option<String>,
}

/// All the errors found in one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "error: {}", d.message)?;
            writeln!(f, "  --> {}:{}:{}", d.file.display(), d.line, d.column)?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
