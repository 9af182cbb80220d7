use std::path::Path;

use http::request::Parts;
use http::{Method, Request};

use super::{answer, Reply};

const TOKEN: &str = "K10abc::node:s3cret";

fn shelf() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("x86_64")).unwrap();
    std::fs::write(dir.path().join("x86_64/skiff-agent"), b"agent bytes").unwrap();
    dir
}

fn get(path: &str, auth: Option<&str>) -> Parts {
    let mut req = Request::builder().method(Method::GET).uri(path);
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    req.body(()).unwrap().into_parts().0
}

async fn ask(dir: &Path, path: &str, auth: Option<&str>) -> Reply {
    answer(dir, TOKEN, &get(path, auth)).await
}

#[tokio::test]
async fn the_token_gets_the_bytes_and_their_sha256() {
    let dir = shelf();
    let bearer = format!("Bearer {TOKEN}");
    let path = "/skiff/v1/binaries/x86_64/skiff-agent";
    assert_eq!(
        ask(dir.path(), path, Some(&bearer)).await,
        Reply::File(b"agent bytes".to_vec())
    );
    let Reply::Sha256(line) = ask(dir.path(), &format!("{path}.sha256"), Some(&bearer)).await
    else {
        panic!("no sha256");
    };
    let want = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"agent bytes"));
    assert_eq!(line, format!("{want}  skiff-agent\n"));
}

#[tokio::test]
async fn without_the_token_nothing_is_said_not_even_a_404() {
    let dir = shelf();
    for auth in [None, Some("Bearer wrong"), Some(TOKEN), Some("Bearer ")] {
        for path in [
            "/skiff/v1/binaries/x86_64/skiff-agent",
            "/skiff/v1/binaries/mips/skiff-agent",
        ] {
            assert_eq!(
                ask(dir.path(), path, auth).await,
                Reply::Unauthorized,
                "{auth:?} {path}"
            );
        }
    }
}

#[tokio::test]
async fn unknown_arch_names_and_paths_are_404s_that_say_why() {
    let dir = shelf();
    let bearer = format!("Bearer {TOKEN}");
    let Reply::NotFound(message) = ask(
        dir.path(),
        "/skiff/v1/binaries/aarch64/skiff-agent",
        Some(&bearer),
    )
    .await
    else {
        panic!("aarch64 found");
    };
    assert!(message.contains("it has: x86_64"), "{message}");
    assert!(
        message.contains("--target aarch64-unknown-linux-gnu"),
        "{message}"
    );
    for path in [
        "/skiff/v1/binaries/x86_64/sh",
        "/skiff/v1/binaries/../x86_64/skiff-agent",
        "/skiff/v1/binaries/x86_64/../skiff-agent",
        "/skiff/v1/binaries/skiff-agent",
    ] {
        assert!(
            matches!(
                ask(dir.path(), path, Some(&bearer)).await,
                Reply::NotFound(_)
            ),
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_demo_images_are_served_beside_the_binaries() {
    let dir = shelf();
    std::fs::write(dir.path().join("x86_64/skiff-demo-hostname.tar"), b"oci").unwrap();
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        ask(
            dir.path(),
            "/skiff/v1/binaries/x86_64/skiff-demo-hostname.tar",
            Some(&bearer)
        )
        .await,
        Reply::File(b"oci".to_vec())
    );
    let Reply::NotFound(message) = ask(
        dir.path(),
        "/skiff/v1/binaries/aarch64/skiff-demo-hostname.tar",
        Some(&bearer),
    )
    .await
    else {
        panic!("an aarch64 demo image found");
    };
    assert!(message.contains("no demo image"), "{message}");
}

#[tokio::test]
async fn only_get_is_served() {
    let dir = shelf();
    let req = Request::builder()
        .method(Method::POST)
        .uri("/skiff/v1/binaries/x86_64/skiff-agent")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    assert_eq!(
        answer(dir.path(), TOKEN, &req).await,
        Reply::MethodNotAllowed
    );
}
