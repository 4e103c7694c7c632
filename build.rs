//! Tells the tests whether the full-precision weights beside the repository exist, so a
//! test that needs them is reported as ignored (with the reason) where they are absent,
//! never as passed. Everything else runs on the bundled weights and the repo's images.

fn main() {
    let f32_weights = "../shared/models/vgg19-conv1_1-conv5_1.f32.safetensors";
    println!("cargo::rustc-check-cfg=cfg(has_f32_weights)");
    println!("cargo::rerun-if-changed={f32_weights}");
    if std::path::Path::new(f32_weights).is_file() {
        println!("cargo::rustc-cfg=has_f32_weights");
    }
}
