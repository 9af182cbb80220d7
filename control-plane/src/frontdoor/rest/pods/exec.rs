//! `GET|POST .../pods/NAME/exec` and `.../attach`: checked as kube-apiserver checks
//! them (options, the container, a node), then the session is opened on the pod's agent
//! through the relay before the WebSocket is accepted, so a container that is not
//! running is refused with a `Status` rather than a socket that closes at once.

use futures::stream::BoxStream;
use http::{Request, Response};
use hyper::body::Incoming;
use k8s_openapi::api::core::v1::Pod;
use skiff_proto::v1::exec_input::Input;
use skiff_proto::v1::{ExecInput, ExecOutput, ExecStart};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tracing::info;

use super::super::objects::Target;
use super::super::reply::Body;
use super::super::route::Query;
use super::super::status::RestError;
use super::super::Ctx;
use super::channels::{Channels, Protocol};
use super::options::{pick_container, StreamOptions};
use super::{node_refusal, options_refusal, read_pod, session, upgrade};
use crate::core::Error;
use crate::frontdoor::relay;

/// Serves exec (`attach` false) or attach.
pub async fn handle(
    ctx: &Ctx,
    target: &Target<'_>,
    name: &str,
    req: Request<Incoming>,
    attach: bool,
) -> Result<Response<Body>, RestError> {
    let query = Query::parse(req.uri().query());
    let opts = StreamOptions::parse(query.pairs(), attach).map_err(options_refusal)?;
    let pod: Pod = read_pod(ctx, target, name).await?;
    let container =
        pick_container(&pod, opts.container.as_deref(), true).map_err(options_refusal)?;
    if pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_none()
    {
        return Err(RestError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let (response, chosen) = upgrade::accept(req.headers(), &Protocol::NAMES)?;
    let channels = Channels::new(Protocol::from_name(chosen).unwrap_or(Protocol::V4));
    let namespace = target.key(name).namespace;
    let start = ExecStart {
        namespace: namespace.clone(),
        pod: name.to_string(),
        container: container.clone(),
        command: opts.command.clone(),
        stdin: opts.stdin,
        tty: opts.tty,
        size: None,
    };
    let (inbound, outbound) = open(ctx, start, attach).await?;
    info!(pod = %name, %namespace, %container, attach, protocol = chosen, "session accepted");
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        if let Some(socket) = upgrade::socket(on_upgrade).await {
            session::run(socket, channels, opts, attach, inbound, outbound).await;
        }
    });
    Ok(response)
}

/// Opens the session on the pod's agent: its input, and its output.
async fn open(
    ctx: &Ctx,
    start: ExecStart,
    attach: bool,
) -> Result<
    (
        session::Inbound,
        BoxStream<'static, Result<ExecOutput, Error>>,
    ),
    RestError,
> {
    let (tx, rx) = mpsc::channel(16);
    let first = ExecInput {
        input: Some(Input::Start(start)),
    };
    tx.send(Ok(first))
        .await
        .map_err(|_| RestError::from(Error::Internal("exec: input closed".into())))?;
    let inbound = ReceiverStream::new(rx);
    let outbound = if attach {
        relay::attach(&ctx.cp, inbound).await
    } else {
        relay::exec(&ctx.cp, inbound).await
    }
    .map_err(node_refusal)?;
    Ok((tx, outbound))
}
