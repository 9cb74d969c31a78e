//! The runtime's error: what failed, named, and the library error underneath.

/// A failed run. `Op` keeps the failing library error as its `source`, so a caller printing
/// the chain (`{:#}` with anyhow) shows "what we were doing: why it failed".
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{context}")]
    Op {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    #[error(transparent)]
    Live(#[from] peregrine_engine::live::LiveError),
    #[error(transparent)]
    Extra(#[from] peregrine_engine::extra::ExtraOutputError),
    #[error(transparent)]
    Web(#[from] peregrine_web::WebError),
    #[error(transparent)]
    ScapWrite(#[from] peregrine_scap::writer::WriteError),
    /// Writing a listing or a report (a closed pipe is the reader's choice, see
    /// [`RuntimeError::is_broken_pipe`]).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A problem stated in full (an invalid filter, a configuration the run cannot use).
    #[error("{0}")]
    Invalid(String),
}

impl RuntimeError {
    /// A write to a reader that went away (`peregrine -L | head`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, RuntimeError::Io(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// `.context("…")` for library results, as anyhow has it, into a [`RuntimeError::Op`].
pub(crate) trait Context<T> {
    fn context(self, context: impl Into<String>) -> Result<T>;
    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| RuntimeError::Op {
            context: context.into(),
            source: Box::new(e),
        })
    }

    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| RuntimeError::Op {
            context: f().into(),
            source: Box::new(e),
        })
    }
}
