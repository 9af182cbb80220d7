//! RequestServiceAccountToken: the kubelet's token for a projected `serviceAccountToken`
//! source, as Kubernetes' node authorizer lets a kubelet ask for one: only for a pod
//! bound to the calling node, with the uid the node knows it by, and only for the pod's
//! own service account. The token is bound to the pod (and names the node), so it stops
//! working when the pod goes. Permission comes before existence: a node learns nothing
//! about pods that are not its own.

use skiff_proto::v1::{ServiceAccountTokenRequest, ServiceAccountTokenResponse};

use super::invalid;
use crate::controllers::nodes::NodeContext;
use crate::core::Error;
use crate::resources::objects::parse;
use crate::resources::service_accounts::{
    self, BoundObject, TokenSpec, DEFAULT_ACCOUNT, DEFAULT_EXPIRATION_SECONDS,
};
use crate::store::Key;

/// A token for `req`'s pod, asked for by `node` (its certificate already checked).
pub async fn request_token(
    ctx: &NodeContext,
    node: &str,
    req: &ServiceAccountTokenRequest,
) -> Result<ServiceAccountTokenResponse, Error> {
    if req.namespace.is_empty() || req.pod_name.is_empty() || req.pod_uid.is_empty() {
        return Err(invalid(
            "namespace, pod_name and pod_uid are required".into(),
        ));
    }
    let store = ctx.cp.store.as_ref();
    let pod = match store
        .get(&Key::new("Pod", &req.namespace, &req.pod_name))
        .await?
    {
        Some(stored) => Some(parse(&stored)?),
        None => None,
    };
    let ours = pod.as_ref().filter(|pod| {
        pod["spec"]["nodeName"] == node && pod["metadata"]["uid"] == req.pod_uid.as_str()
    });
    let Some(pod) = ours else {
        return Err(Error::PermissionDenied(format!(
            "node {node:?} may not request a token for pod {}/{} (uid {}): no such pod is bound to it",
            req.namespace, req.pod_name, req.pod_uid
        )));
    };
    let account = pod["spec"]["serviceAccountName"]
        .as_str()
        .filter(|n| !n.is_empty())
        .unwrap_or(DEFAULT_ACCOUNT);
    let spec = TokenSpec {
        audiences: req.audiences.clone(),
        expiration_seconds: match req.expiration_seconds {
            0 => DEFAULT_EXPIRATION_SECONDS,
            seconds => seconds,
        },
        bound: Some(BoundObject {
            kind: "Pod".into(),
            name: req.pod_name.clone(),
            uid: Some(req.pod_uid.clone()),
        }),
    };
    let issued = service_accounts::issue(
        store,
        ctx.cp.pki.service_account_key(),
        ctx.clock.now(),
        &req.namespace,
        account,
        spec,
    )
    .await?;
    tracing::debug!(node, pod = %format!("{}/{}", req.namespace, req.pod_name), account, "service account token issued");
    Ok(ServiceAccountTokenResponse {
        token: issued.token,
        expiration_unix_seconds: issued.expires.as_second(),
    })
}
