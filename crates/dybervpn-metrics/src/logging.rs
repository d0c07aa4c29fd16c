//! Log setup: `tracing` events as human-readable text (the default) or one
//! JSON object per line (`log_format = "json"`), on standard error.
//!
//! The level comes from `RUST_LOG` when it is set (for example
//! `RUST_LOG=dybervpn_tunnel=debug`), otherwise from the caller's default
//! (for example `info`). Field names the daemon should use are listed in
//! `docs/observability.md`; peer-caused warnings go through
//! [`crate::ratelimit::WarnLimiter`].

use std::fmt;
use std::io::IsTerminal;
use std::str::FromStr;

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The environment variable that overrides the level.
pub const LEVEL_ENV: &str = "RUST_LOG";

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line, event fields at the top level.
    Json,
}

impl LogFormat {
    /// The configuration spelling: `text` or `json`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LogFormat {
    type Err = LogInitError;

    fn from_str(s: &str) -> Result<Self, LogInitError> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(LogInitError::UnknownFormat(other.to_owned())),
        }
    }
}

/// Why logging could not be set up.
#[derive(Debug)]
#[non_exhaustive]
pub enum LogInitError {
    /// A log format other than `text` or `json`.
    UnknownFormat(String),
    /// `RUST_LOG` is set but is not a valid filter.
    BadEnvFilter(String),
    /// The default level given by the caller is not a valid filter.
    BadDefaultFilter(String),
    /// A global subscriber was already installed.
    AlreadyInitialized,
}

impl fmt::Display for LogInitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownFormat(s) => {
                write!(f, "log_format {s:?} is not one of \"text\", \"json\"")
            }
            Self::BadEnvFilter(e) => write!(f, "{LEVEL_ENV} is not a valid log filter: {e}"),
            Self::BadDefaultFilter(e) => write!(f, "default log level is not valid: {e}"),
            Self::AlreadyInitialized => f.write_str("logging was already initialized"),
        }
    }
}

impl std::error::Error for LogInitError {}

/// The filter: `RUST_LOG` if set (and valid), else `default_directives`.
///
/// # Errors
///
/// If either is set but does not parse.
pub fn filter(default_directives: &str) -> Result<EnvFilter, LogInitError> {
    match std::env::var(LEVEL_ENV) {
        Ok(env) if !env.trim().is_empty() => {
            EnvFilter::try_new(env).map_err(|e| LogInitError::BadEnvFilter(e.to_string()))
        }
        _ => EnvFilter::try_new(default_directives)
            .map_err(|e| LogInitError::BadDefaultFilter(e.to_string())),
    }
}

/// A subscriber writing `format` lines through `writer`. Separate from
/// [`init`] so tests can capture the output.
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.with_ansi(ansi).finish()),
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .finish(),
        ),
    }
}

/// Installs the process-wide subscriber writing to standard error. Call
/// once, early in `main`.
///
/// # Errors
///
/// If a filter does not parse or a subscriber is already installed.
pub fn init(format: LogFormat, default_directives: &str) -> Result<(), LogInitError> {
    let filter = filter(default_directives)?;
    let ansi = std::io::stderr().is_terminal();
    let sub = subscriber(format, filter, std::io::stderr, ansi);
    tracing::subscriber::set_global_default(sub).map_err(|_| LogInitError::AlreadyInitialized)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Capture {
        fn text(&self) -> String {
            self.0
                .lock()
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .unwrap_or_default()
        }
    }

    fn capture(format: LogFormat, directives: &str) -> String {
        let out = Capture::default();
        let writer = out.clone();
        let filter = EnvFilter::try_new(directives).unwrap_or_default();
        let sub = subscriber(format, filter, move || writer.clone(), false);
        tracing::subscriber::with_default(sub, || {
            tracing::info!(
                mode = "hybrid",
                peer = "site-b",
                role = "initiator",
                "handshake complete"
            );
            tracing::debug!("hidden at info");
            tracing::warn!(reason = "bad_mac1", source = "192.0.2.7:51820", "dropped");
        });
        out.text()
    }

    #[test]
    fn json_lines_carry_the_fields_at_the_top_level() {
        let text = capture(LogFormat::Json, "info");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_default())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["message"], "handshake complete");
        assert_eq!(lines[0]["mode"], "hybrid");
        assert_eq!(lines[0]["peer"], "site-b");
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["reason"], "bad_mac1");
        assert!(lines[1]["timestamp"].is_string());
    }

    #[test]
    fn text_is_the_default_and_readable() {
        assert_eq!(LogFormat::default(), LogFormat::Text);
        let text = capture(LogFormat::Text, "info");
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("INFO"));
        assert!(text.contains("handshake complete"));
        assert!(text.contains("mode=\"hybrid\""), "{text}");
        assert!(!text.contains("hidden at info"));
        assert!(
            !text.contains('\u{1b}'),
            "no colour codes when not a terminal"
        );
    }

    #[test]
    fn the_level_filters() {
        assert!(capture(LogFormat::Text, "debug").contains("hidden at info"));
        assert_eq!(capture(LogFormat::Json, "error"), "");
    }

    #[test]
    fn formats_parse_and_bad_ones_explain_themselves() {
        assert_eq!("json".parse::<LogFormat>().ok(), Some(LogFormat::Json));
        assert_eq!("text".parse::<LogFormat>().ok(), Some(LogFormat::Text));
        let err = "yaml".parse::<LogFormat>().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("log_format \"yaml\" is not one of \"text\", \"json\"")
        );
        assert!(EnvFilter::try_new("info,dybervpn=trace").is_ok());
    }
}
