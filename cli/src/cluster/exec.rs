//! `exec` through the control plane: `pods/exec` over WebSocket (`v5.channel.k8s.io`,
//! the kube crate's client): stdin until its end (then closed on the remote side), a
//! terminal with its size passed on at every change, and the exit code the kubelet's
//! Status carries made skiff's own.

use futures::SinkExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{AttachParams, AttachedProcess, TerminalSize};
use tokio::io::AsyncWriteExt;

use super::Api;
use crate::exec::{checked_tty, exit_with, local_terminal_size, ExecArgs, RawMode};

pub async fn run(api: &Api, args: ExecArgs) -> anyhow::Result<()> {
    exit_with(session(api, args).await)
}

async fn session(api: &Api, args: ExecArgs) -> anyhow::Result<i32> {
    let tty = checked_tty(&args)?;
    let params = AttachParams {
        container: args.container.clone(),
        stdin: args.stdin,
        stdout: true,
        // A terminal merges stderr into its one stream.
        stderr: !tty,
        tty,
        ..AttachParams::default()
    };
    let pods: kube::Api<Pod> = kube::Api::namespaced(api.client(), &args.namespace);
    let mut process = pods
        .exec(&args.pod, args.command.clone(), &params)
        .await
        .map_err(|e| api.error(e))?;
    // Raw only once the session exists, so an error prints on a sane terminal.
    let raw = if tty { Some(RawMode::enter()?) } else { None };
    if tty {
        pass_resizes(&mut process);
    }
    if let Some(mut remote) = process.stdin() {
        tokio::spawn(async move {
            let mut local = tokio::io::stdin();
            let _ = tokio::io::copy(&mut local, &mut remote).await;
            let _ = remote.shutdown().await;
        });
    }
    let status = process.take_status();
    let copies = async {
        let out = copy_out(process.stdout(), tokio::io::stdout());
        let err = copy_out(process.stderr(), tokio::io::stderr());
        let (out, err) = tokio::join!(out, err);
        out.and(err)
    };
    let copied = copies.await;
    let status = match status {
        Some(status) => status.await,
        None => None,
    };
    drop(raw);
    copied?;
    exit_code(status)
}

async fn copy_out<R, W>(from: Option<R>, mut to: W) -> std::io::Result<()>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let Some(mut from) = from else {
        return Ok(());
    };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::io::AsyncReadExt::read(&mut from, &mut buf).await?;
        if n == 0 {
            return to.flush().await;
        }
        to.write_all(&buf[..n]).await?;
        to.flush().await?;
    }
}

/// The local terminal's size now and after every SIGWINCH.
fn pass_resizes(process: &mut AttachedProcess) {
    let Some(mut sizes) = process.terminal_size() else {
        return;
    };
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let size = || local_terminal_size().map(|(width, height)| TerminalSize { width, height });
        if let Some(now) = size() {
            if sizes.send(now).await.is_err() {
                return;
            }
        }
        let Ok(mut winch) = signal(SignalKind::window_change()) else {
            return;
        };
        while winch.recv().await.is_some() {
            if let Some(now) = size() {
                if sizes.send(now).await.is_err() {
                    return;
                }
            }
        }
    });
}

/// The exit code the session's last Status carries: 0 on Success, the `ExitCode` cause
/// of a `NonZeroExitCode`, else the Status' message as the error.
fn exit_code(status: Option<Status>) -> anyhow::Result<i32> {
    let Some(status) = status else {
        anyhow::bail!(
            "the exec session ended without an exit code (the node or the control plane went away?)"
        );
    };
    if status.status.as_deref() == Some("Success") {
        return Ok(0);
    }
    let code = status
        .details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .and_then(|causes| {
            causes
                .iter()
                .find(|c| c.reason.as_deref() == Some("ExitCode"))
        })
        .and_then(|c| c.message.as_deref()?.parse::<i32>().ok());
    match code {
        Some(code) => Ok(code),
        None => anyhow::bail!("{}", status.message.unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{StatusCause, StatusDetails};

    use super::*;

    #[test]
    fn the_exit_code_comes_from_the_status() {
        let success = Status {
            status: Some("Success".into()),
            ..Status::default()
        };
        assert_eq!(exit_code(Some(success)).unwrap(), 0);
        let failed = Status {
            status: Some("Failure".into()),
            reason: Some("NonZeroExitCode".into()),
            message: Some("command terminated with non-zero exit code".into()),
            details: Some(StatusDetails {
                causes: Some(vec![StatusCause {
                    reason: Some("ExitCode".into()),
                    message: Some("3".into()),
                    field: None,
                }]),
                ..StatusDetails::default()
            }),
            ..Status::default()
        };
        assert_eq!(exit_code(Some(failed)).unwrap(), 3);
        assert!(exit_code(None).is_err());
    }
}
