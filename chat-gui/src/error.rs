//! The GUI's own errors: things that stop the window from starting.

/// Why the app could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GuiError {
    /// The tokio runtime for the network could not be built.
    #[error("cannot start the network runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The window could not be opened.
    #[error("cannot open the window: {0}")]
    Window(String),
}
