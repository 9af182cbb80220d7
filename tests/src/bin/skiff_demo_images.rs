//! Writes the demo images (built from Debian's busybox-static, no registry needed) as OCI
//! archives into a directory that `skiff-agent --images` watches. Used by the quickstart.
//!
//!     skiff_demo_images DIR

use anyhow::{bail, Context};
use skiff_e2e::{ImageVariant, TestImage};

fn main() -> anyhow::Result<()> {
    let Some(dir) = std::env::args_os().nth(1).map(std::path::PathBuf::from) else {
        bail!("usage: skiff_demo_images DIR");
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let images = [
        (
            ImageVariant::Httpd,
            "docker.io/library/skiff-demo-httpd:1",
            "skiff-demo-httpd.tar",
        ),
        (
            ImageVariant::Busybox,
            "docker.io/library/skiff-demo-busybox:1",
            "skiff-demo-busybox.tar",
        ),
        (
            ImageVariant::EchoHostname,
            "docker.io/library/skiff-demo-hostname:1",
            "skiff-demo-hostname.tar",
        ),
    ];
    for (variant, name, file) in images {
        let path = dir.join(file);
        // Written under a hidden name and renamed, so the agent never imports half a file.
        let tmp = dir.join(format!(".{file}.tmp"));
        TestImage::build(variant)?.write_oci_archive(&tmp, name)?;
        std::fs::rename(&tmp, &path)?;
        println!("{name} -> {}", path.display());
    }
    Ok(())
}
