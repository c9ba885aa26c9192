//! Errors and warnings reported against a position in a configuration
//! file, printed the way rustc and cargo print them: message,
//! `--> file:line:column`, the offending line and a caret under the column.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Whether a diagnostic stops the file from loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The file is invalid.
    Error,
    /// The file is valid, but a setting likely does not do what was meant.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One error or warning at a place in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
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
    /// How many characters the caret line underlines (at least 1 when
    /// `source_line` is set).
    pub width: usize,
}

impl Diagnostic {
    /// An error about the file as a whole (line 0), e.g. one that cannot be read.
    pub(crate) fn whole_file(file: &Path, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            message: message.into(),
            source_line: None,
            width: 0,
        }
    }

    /// An error at the byte range `span` of `source`, the text of `file`.
    /// Out-of-range or mid-character offsets are clamped, never a panic.
    pub(crate) fn at_span(
        file: &Path,
        source: &str,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Diagnostic {
        let start = floor_char_boundary(source, span.start);
        let before = source.get(..start).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
        let rest = source.get(line_start..).unwrap_or_default();
        let line_text = rest.split('\n').next().unwrap_or_default();
        let line_text = line_text.strip_suffix('\r').unwrap_or(line_text);
        let end = floor_char_boundary(source, span.end.max(start));
        let line_end = line_start + line_text.len();
        let width = source
            .get(start..end.min(line_end))
            .map_or(0, |s| s.chars().count())
            .max(1);
        Diagnostic {
            severity: Severity::Error,
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
            source_line: Some(line_text.to_owned()),
            width,
        }
    }
}

/// The largest char boundary of `s` at or below `offset`.
fn floor_char_boundary(s: &str, offset: usize) -> usize {
    let mut i = offset.min(s.len());
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {}", self.severity, self.message)?;
        let Some(text) = self.source_line.as_ref().filter(|_| self.line > 0) else {
            return writeln!(f, "  --> {}", self.file.display());
        };
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len());
        writeln!(
            f,
            "{gutter}--> {}:{}:{}",
            self.file.display(),
            self.line,
            self.column
        )?;
        writeln!(f, "{gutter} |")?;
        writeln!(f, "{number} | {text}")?;
        // Keep tabs in the padding so the caret lines up under tabbed text.
        let pad: String = text
            .chars()
            .take(self.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        writeln!(f, "{gutter} | {pad}{}", "^".repeat(self.width.max(1)))
    }
}

/// All the errors (or all the warnings) found in one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The diagnostics, in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// A configuration that passed validation, with the warnings found on the
/// way (empty when there are none).
#[derive(Debug, Clone)]
pub struct Checked<T> {
    /// The validated configuration.
    pub config: T,
    /// Settings that are valid but likely wrong, in file order.
    pub warnings: Diagnostics,
}

/// Collects the errors and warnings of one file while it is validated.
pub(crate) struct Reporter<'a> {
    file: &'a Path,
    source: &'a str,
    found: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    /// A reporter for `source`, the text of `file`.
    pub(crate) fn new(file: &'a Path, source: &'a str) -> Reporter<'a> {
        Reporter {
            file,
            source,
            found: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Records an error at `span`.
    pub(crate) fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.found
            .push(Diagnostic::at_span(self.file, self.source, span, message));
    }

    /// Records a warning at `span`: the file stays valid.
    pub(crate) fn warn(&mut self, span: Range<usize>, message: impl Into<String>) {
        let mut warning = Diagnostic::at_span(self.file, self.source, span, message);
        warning.severity = Severity::Warning;
        self.warnings.push(warning);
    }

    /// The 1-based line of byte offset `offset`, for messages that point
    /// back at an earlier place.
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        let end = floor_char_boundary(self.source, offset);
        self.source
            .get(..end)
            .unwrap_or_default()
            .matches('\n')
            .count()
            + 1
    }

    /// The span of the key in the `key = value` line that holds the value at
    /// `value`, so a message can underline the setting's name; the value's
    /// own span when the line has no such shape.
    pub(crate) fn key_span(&self, value: Range<usize>) -> Range<usize> {
        let start = floor_char_boundary(self.source, value.start);
        let before = self.source.get(..start).unwrap_or_default();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.get(line_start..).unwrap_or_default();
        let Some(eq) = line.rfind('=') else {
            return value;
        };
        let key = line.get(..eq).unwrap_or_default();
        let lead = key.len() - key.trim_start().len();
        let key_len = key.trim().len();
        if key_len == 0 {
            return value;
        }
        let key_start = line_start + lead;
        key_start..key_start + key_len
    }

    /// `value` and the warnings when no error was recorded, otherwise
    /// every error in file order. A missing value without a recorded error
    /// is reported as an internal error rather than a panic.
    pub(crate) fn finish<T>(mut self, value: Option<T>) -> Result<Checked<T>, Diagnostics> {
        match value {
            Some(config) if self.found.is_empty() => {
                self.warnings.sort_by_key(|d| (d.line, d.column));
                Ok(Checked {
                    config,
                    warnings: Diagnostics(self.warnings),
                })
            }
            _ => {
                if self.found.is_empty() {
                    self.found.push(Diagnostic::whole_file(
                        self.file,
                        "internal error: validation failed without a message",
                    ));
                }
                self.found.sort_by_key(|d| (d.line, d.column));
                Err(Diagnostics(self.found))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_and_caret() {
        let src = "a = 1\n# é comment\nbackend = \"x\"\n";
        let off = src.find("backend").unwrap();
        let d = Diagnostic::at_span(Path::new("/f.toml"), src, off..off + 7, "bad");
        assert_eq!((d.line, d.column, d.width), (3, 1, 7));
        assert_eq!(
            d.to_string(),
            "error: bad\n --> /f.toml:3:1\n  |\n3 | backend = \"x\"\n  | ^^^^^^^\n"
        );
    }

    #[test]
    fn gutter_widens_with_the_line_number() {
        let src = format!("{}backend = \"[200::1]:80\"\n", "#\n".repeat(11));
        let off = src.find("backend").unwrap();
        let d = Diagnostic::at_span(
            Path::new("/etc/portico/gateway.toml"),
            &src,
            off..off + 7,
            "m",
        );
        assert_eq!(
            d.to_string(),
            "error: m\n  --> /etc/portico/gateway.toml:12:1\n   |\n\
             12 | backend = \"[200::1]:80\"\n   | ^^^^^^^\n"
        );
    }

    #[test]
    fn column_counts_characters_not_bytes() {
        let src = "k = \"éé\" # x\n";
        let off = src.find('#').unwrap();
        let d = Diagnostic::at_span(Path::new("f"), src, off..off + 1, "m");
        assert_eq!((d.line, d.column), (1, 10));
    }

    #[test]
    fn spans_out_of_range_or_mid_char_are_clamped() {
        let src = "é\n";
        let d = Diagnostic::at_span(Path::new("f"), src, 1..999, "m");
        assert_eq!((d.line, d.column), (1, 1));
        let d = Diagnostic::at_span(Path::new("f"), src, 999..1000, "m");
        assert_eq!(d.line, 2);
    }

    #[test]
    fn key_span_underlines_the_setting_name() {
        let src = "[[route]]\n  backend = \"x\"\n";
        let r = Reporter::new(Path::new("f"), src);
        let v = src.find('"').unwrap();
        let k = r.key_span(v..v + 3);
        assert_eq!(src.get(k), Some("backend"));
        assert_eq!(r.key_span(0..2), 0..2);
    }

    #[test]
    fn warnings_keep_the_file_valid_and_print_as_warnings() {
        let src = "[[route]]\nalpn = [\"h2\"]\n";
        let mut r = Reporter::new(Path::new("f"), src);
        let v = src.find('[').unwrap();
        let alpn = src.find("[\"").unwrap();
        r.warn(r.key_span(alpn..alpn + 6), "careful");
        let checked = r.finish(Some(v)).unwrap();
        assert_eq!(checked.config, 0);
        let w = &checked.warnings.0[0];
        assert_eq!(
            (w.severity, w.line, w.column, w.width),
            (Severity::Warning, 2, 1, 4)
        );
        assert_eq!(
            w.to_string(),
            "warning: careful\n --> f:2:1\n  |\n2 | alpn = [\"h2\"]\n  | ^^^^\n"
        );
    }

    #[test]
    fn whole_file_error_has_line_zero() {
        let d = Diagnostic::whole_file(Path::new("/nope"), "cannot read");
        assert_eq!(d.line, 0);
        assert_eq!(d.to_string(), "error: cannot read\n  --> /nope\n");
    }

    #[test]
    fn reporter_sorts_and_keeps_all() {
        let src = "a\nb\nc\n";
        let mut r = Reporter::new(Path::new("f"), src);
        r.error(4..5, "third");
        r.error(0..1, "first");
        assert_eq!(r.line_of(2), 2);
        let err = r.finish::<()>(Some(())).unwrap_err();
        let lines: Vec<usize> = err.iter().map(|d| d.line).collect();
        assert_eq!(lines, vec![1, 3]);
    }
}
