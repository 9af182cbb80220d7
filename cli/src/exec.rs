//! `skiff exec POD [-c C] [-i] [-t] -- CMD...`: what the session against a node agent's
//! `Exec` stream (here) and against the control plane's `pods/exec` WebSocket
//! (`cluster/exec.rs`) share.
//!
//! With `-i` the local stdin goes to the process (its end closes the process's stdin);
//! with `-t` the process runs on a terminal, the local terminal is put in raw mode for the
//! session (and restored however it ends) and window size changes are passed on. The
//! remote exit code becomes skiff's own.

use std::future::Future;
use std::io::{IsTerminal, Write};

use anyhow::{bail, Context};
use futures::stream::BoxStream;
use futures::StreamExt;
use skiff_proto::v1::exec_input::Input;
use skiff_proto::v1::exec_output::Output;
use skiff_proto::v1::{ExecInput, ExecOutput, ExecStart, TerminalSize};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::client::status_error;

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct ExecArgs {
    pub namespace: String,
    pub pod: String,
    pub container: Option<String>,
    pub stdin: bool,
    pub tty: bool,
    pub command: Vec<String>,
}

/// Runs the session through `call` (the Agent's `exec`) and exits the process
/// with the remote exit code: stdin is read on a blocking thread that would otherwise keep
/// the runtime from shutting down.
pub async fn run<F, Fut>(args: ExecArgs, call: F) -> anyhow::Result<()>
where
    F: FnOnce(BoxStream<'static, ExecInput>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<tonic::Streaming<ExecOutput>>, tonic::Status>>,
{
    exit_with(session(args, call).await)
}

/// Ends the process with the remote exit code, or 1 after printing why there is none.
pub fn exit_with(result: anyhow::Result<i32>) -> ! {
    let code = match result {
        Ok(code) => code,
        Err(error) => {
            let status = error.downcast_ref::<crate::client::ApiError>();
            if status.is_some_and(crate::client::ApiError::is_status) {
                eprintln!("{error:#}");
            } else {
                eprintln!("error: {error:#}");
            }
            1
        }
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}

/// Checks the command and whether `-t` can have a terminal: kubectl goes on without one
/// when stdin is not a terminal.
pub fn checked_tty(args: &ExecArgs) -> anyhow::Result<bool> {
    if args.command.is_empty() {
        bail!(
            "you must specify at least one command for the container (skiff exec POD -- CMD ...)"
        );
    }
    if args.tty && !std::io::stdin().is_terminal() {
        eprintln!("Unable to use a TTY - input is not a terminal or the right kind of file");
        return Ok(false);
    }
    Ok(args.tty)
}

async fn session<F, Fut>(args: ExecArgs, call: F) -> anyhow::Result<i32>
where
    F: FnOnce(BoxStream<'static, ExecInput>) -> Fut,
    Fut: Future<Output = Result<tonic::Response<tonic::Streaming<ExecOutput>>, tonic::Status>>,
{
    let tty = checked_tty(&args)?;
    let start = ExecStart {
        namespace: args.namespace.clone(),
        pod: args.pod.clone(),
        container: args.container.clone().unwrap_or_default(),
        command: args.command.clone(),
        stdin: args.stdin,
        tty,
        size: if tty { terminal_size() } else { None },
    };
    let (tx, rx) = mpsc::channel(16);
    tx.send(ExecInput {
        input: Some(Input::Start(start)),
    })
    .await?;
    let outbound = ReceiverStream::new(rx).boxed();
    let mut inbound = call(outbound).await.map_err(exec_error)?.into_inner();
    // Raw only once the session exists, so an error prints on a sane terminal.
    let raw = if tty { Some(RawMode::enter()?) } else { None };
    if args.stdin {
        tokio::spawn(pump_stdin(tx.clone()));
    }
    if tty {
        tokio::spawn(pass_resizes(tx.clone()));
    }
    drop(tx);
    let result = relay_output(&mut inbound).await;
    drop(raw);
    result
}

/// Writes the session's output; returns its exit code.
async fn relay_output(inbound: &mut tonic::Streaming<ExecOutput>) -> anyhow::Result<i32> {
    while let Some(message) = inbound.message().await.map_err(exec_error)? {
        match message.output {
            Some(Output::Stdout(bytes)) => {
                let mut out = std::io::stdout().lock();
                out.write_all(&bytes)?;
                out.flush()?;
            }
            Some(Output::Stderr(bytes)) => {
                let mut err = std::io::stderr().lock();
                err.write_all(&bytes)?;
                err.flush()?;
            }
            Some(Output::ExitCode(code)) => return Ok(code),
            None => {}
        }
    }
    bail!("the exec session ended without an exit code (the node or the control plane went away?)")
}

async fn pump_stdin(tx: mpsc::Sender<ExecInput>) {
    let mut stdin = tokio::io::stdin();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let input = match stdin.read(&mut buf).await {
            Ok(n) if n > 0 => Input::Stdin(buf[..n].to_vec()),
            _ => Input::CloseStdin(true),
        };
        let last = matches!(input, Input::CloseStdin(_));
        if tx.send(ExecInput { input: Some(input) }).await.is_err() || last {
            return;
        }
    }
}

async fn pass_resizes(tx: mpsc::Sender<ExecInput>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut winch) = signal(SignalKind::window_change()) else {
        return;
    };
    while winch.recv().await.is_some() {
        if let Some(size) = terminal_size() {
            let input = Input::Resize(size);
            if tx.send(ExecInput { input: Some(input) }).await.is_err() {
                return;
            }
        }
    }
}

/// The local terminal's size (of stdin, the terminal being typed into).
fn terminal_size() -> Option<TerminalSize> {
    local_terminal_size().map(|(width, height)| TerminalSize {
        width: u32::from(width),
        height: u32::from(height),
    })
}

/// The local terminal's (columns, rows).
pub fn local_terminal_size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ fills the winsize struct it is given and nothing else.
    let rc = unsafe { libc::ioctl(libc::STDIN_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_col > 0).then_some((ws.ws_col, ws.ws_row))
}

/// The local terminal in raw mode (keys go to the remote terminal as typed, Ctrl-C
/// included); the saved settings come back on drop.
pub struct RawMode {
    saved: nix::sys::termios::Termios,
}

impl RawMode {
    pub fn enter() -> anyhow::Result<RawMode> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).context("reading the terminal's settings")?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).context("setting the terminal to raw mode")?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        use nix::sys::termios::{tcsetattr, SetArg};
        let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.saved);
    }
}

fn exec_error(status: tonic::Status) -> anyhow::Error {
    match status.code() {
        tonic::Code::Unimplemented => {
            anyhow::anyhow!("this server cannot exec: {}", status.message())
        }
        _ => status_error(status),
    }
}
