//! The task that runs the client library for the UI: it turns [`Command`]s into client
//! calls and their results, events and connection changes into [`Update`]s.

use tokio::sync::mpsc::UnboundedReceiver;

use crate::backend::{BackendConfig, Command, Update, UpdateSink};

/// Runs until the UI drops its command sender.
pub(crate) async fn run(_config: BackendConfig, mut commands: UnboundedReceiver<Command>, sink: UpdateSink) {
    while let Some(command) = commands.recv().await {
        sink.push(Update::Done {
            op: command.op(),
            result: Err("not connected".to_owned()),
        });
    }
}
