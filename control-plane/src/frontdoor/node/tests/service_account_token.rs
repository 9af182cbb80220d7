//! RequestServiceAccountToken below the gRPC layer: only the node's own pods, by uid,
//! for their own account; permission before existence.

use serde_json::json;
use skiff_proto::v1::ServiceAccountTokenRequest;
use tonic::{Code, Status};

use super::{bound_pod, Fixture};
use crate::frontdoor::node::service_account_token::request_token;
use crate::resources::service_accounts;
use crate::store::Key;

fn request(pod: &str, uid: &str) -> ServiceAccountTokenRequest {
    ServiceAccountTokenRequest {
        node_name: String::new(),
        namespace: "default".into(),
        pod_name: pod.into(),
        pod_uid: uid.into(),
        audiences: Vec::new(),
        expiration_seconds: 0,
    }
}

async fn code(f: &Fixture, node: &str, req: ServiceAccountTokenRequest) -> Code {
    match request_token(&f.ctx, node, &req).await {
        Ok(_) => Code::Ok,
        Err(e) => Status::from(e).code(),
    }
}

#[tokio::test]
async fn a_node_gets_tokens_for_its_own_pods_only() {
    let f = Fixture::new();
    let account = json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "builder", "namespace": "default", "uid": "uid-builder"}});
    f.store()
        .create(
            Key::new("ServiceAccount", "default", "builder"),
            "uid-builder".into(),
            serde_json::to_vec(&account).unwrap(),
        )
        .await
        .unwrap();
    let mut web = bound_pod("web", "n1");
    web["spec"]["serviceAccountName"] = json!("builder");
    f.create_pod(web).await;
    let mut orphan = bound_pod("orphan", "n1");
    orphan["spec"]["serviceAccountName"] = json!("ghost");
    f.create_pod(orphan).await;

    let answer = request_token(&f.ctx, "n1", &request("web", "uid-web"))
        .await
        .unwrap();
    let now = f.clock_now();
    assert_eq!(answer.expiration_unix_seconds, now + 3600);
    let user = service_accounts::authenticate(
        f.store(),
        f.ctx.cp.pki.service_account_key(),
        f.ctx.clock.now(),
        &answer.token,
    )
    .await
    .unwrap();
    assert_eq!(user.user_name(), "system:serviceaccount:default:builder");

    // Another node's pod, another uid, a pod that does not exist: all the same refusal.
    assert_eq!(
        code(&f, "n2", request("web", "uid-web")).await,
        Code::PermissionDenied
    );
    assert_eq!(
        code(&f, "n1", request("web", "uid-old")).await,
        Code::PermissionDenied
    );
    assert_eq!(
        code(&f, "n1", request("nope", "uid-nope")).await,
        Code::PermissionDenied
    );
    // The node's own pod whose account is gone.
    assert_eq!(
        code(&f, "n1", request("orphan", "uid-orphan")).await,
        Code::NotFound
    );
    let short = ServiceAccountTokenRequest {
        expiration_seconds: 60,
        ..request("web", "uid-web")
    };
    assert_eq!(code(&f, "n1", short).await, Code::InvalidArgument);
}
