fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/skiff/v1/agent.proto", "proto/skiff/v1/node.proto"];
    for p in protos {
        println!("cargo:rerun-if-changed={p}");
    }
    tonic_prost_build::configure().compile_protos(&protos, &["proto"])?;
    Ok(())
}
