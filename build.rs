//! Tells the tests what this machine allows, so a test that cannot run here is reported as
//! ignored (with the reason), never as passed: whether the full-precision weights beside
//! the repository exist, and whether tests may mount file systems (root). Everything else
//! runs on the bundled weights and the repo's images.

fn main() {
    // Tests that mount a tiny tmpfs (full disk, read-only file system) need root.
    println!("cargo::rustc-check-cfg=cfg(can_mount)");
    let uid = std::process::Command::new("id").arg("-u").output();
    if uid.is_ok_and(|o| o.stdout.trim_ascii() == b"0") {
        println!("cargo::rustc-cfg=can_mount");
    }
    let f32_weights = "../shared/models/vgg19-conv1_1-conv5_1.f32.safetensors";
    println!("cargo::rustc-check-cfg=cfg(has_f32_weights)");
    println!("cargo::rerun-if-changed={f32_weights}");
    if std::path::Path::new(f32_weights).is_file() {
        println!("cargo::rustc-cfg=has_f32_weights");
    }
}
