//! The interactive prompt: line editing and history (rustyline), one prompt that names the
//! user and the open room, passwords read without echo, and events printed above the
//! prompt as they arrive without breaking the line being typed.
//!
//! The editor runs on a thread of its own (it blocks on the terminal). It hands each line to
//! the async side and waits until the command finished before showing the next prompt, so
//! a command's output never lands in the middle of the prompt.

use std::sync::mpsc as std_mpsc;

use rustyline::error::ReadlineError;
use rustyline::{DefaultEditor, ExternalPrinter};
use tokio::sync::mpsc;

use crate::command::{Command, parse_interactive};
use crate::repl::{Flow, Repl};

/// Reads a password from the terminal without echo.
pub fn read_password(prompt: &str) -> Result<String, String> {
    rpassword::prompt_password(prompt).map_err(|e| format!("cannot read the password: {e}"))
}

/// What the editor thread hands over.
enum Input {
    Command(Command),
    Mistake(String),
    End,
}

/// Runs the prompt until `/quit` or end of input. Returns the exit code.
pub async fn run(repl: &mut Repl) -> i32 {
    let mut editor = match DefaultEditor::new() {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("error: cannot use the terminal: {e}");
            return crate::repl::EXIT_FAILED;
        }
    };
    let mut printer = editor.create_external_printer().ok();
    let (inputs, mut input_rx) = mpsc::unbounded_channel();
    let (prompts, prompt_rx) = std_mpsc::channel::<Option<String>>();
    let _ = prompts.send(Some(repl.prompt()));
    std::thread::Builder::new()
        .name("chat-cli-editor".into())
        .spawn(move || edit(editor, inputs, prompt_rx))
        .ok();
    repl.set_interactive(true);
    println!("type /help for the commands; plain text goes to the open room");
    let mut states = repl.client().state();
    let show = |text: String, printer: &mut Option<_>| print_above(printer, text);
    loop {
        tokio::select! {
            input = input_rx.recv() => {
                let flow = match input {
                    Some(Input::Command(command)) => match repl.execute(command).await {
                        Ok(flow) => flow,
                        Err(e) => {
                            eprintln!("error: {e}");
                            Flow::Continue
                        }
                    },
                    Some(Input::Mistake(e)) => {
                        if !e.is_empty() {
                            eprintln!("error: {e}");
                        }
                        Flow::Continue
                    }
                    Some(Input::End) | None => Flow::Quit,
                };
                if flow == Flow::Quit {
                    let _ = prompts.send(None);
                    return 0;
                }
                let _ = prompts.send(Some(repl.prompt()));
            }
            Some(event) = repl.events().recv() => {
                if let Some(text) = repl.printer().event(&event) {
                    show(text, &mut printer);
                }
            }
            Some(state) = states.next_state() => {
                if let Some(text) = repl.printer().state(&state) {
                    show(text, &mut printer);
                }
            }
        }
    }
}

/// Prints a line above the prompt (or plainly, when the terminal cannot do that).
fn print_above(printer: &mut Option<impl ExternalPrinter>, text: String) {
    if let Some(p) = printer
        && p.print(format!("{text}\n")).is_ok()
    {
        return;
    }
    println!("{text}");
}

/// The editor thread: shows the prompt it is given, reads a line, asks for a password left
/// out of `/login` or `/register`, and hands the command over.
fn edit(
    mut editor: DefaultEditor,
    inputs: mpsc::UnboundedSender<Input>,
    prompts: std_mpsc::Receiver<Option<String>>,
) {
    while let Ok(Some(prompt)) = prompts.recv() {
        let input = loop {
            match editor.readline(&prompt) {
                Ok(line) => {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let _ = editor.add_history_entry(line.as_str());
                    break to_input(&line);
                }
                // Ctrl+C drops the line being typed, as in a shell.
                Err(ReadlineError::Interrupted) => continue,
                Err(_) => break Input::End,
            }
        };
        if inputs.send(input).is_err() {
            return;
        }
    }
}

fn to_input(line: &str) -> Input {
    match parse_interactive(line) {
        Ok(Some(Command::Login {
            username,
            password: None,
        })) => match read_password(&format!("password for {username}: ")) {
            Ok(password) => Input::Command(Command::Login {
                username,
                password: Some(password),
            }),
            Err(e) => Input::Mistake(e),
        },
        Ok(Some(Command::Register {
            username,
            password: None,
        })) => match read_password(&format!("new password for {username}: ")) {
            Ok(password) => Input::Command(Command::Register {
                username,
                password: Some(password),
            }),
            Err(e) => Input::Mistake(e),
        },
        Ok(Some(command)) => Input::Command(command),
        Ok(None) => Input::Mistake(String::new()),
        Err(e) => Input::Mistake(e),
    }
}
