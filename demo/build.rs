// Cargo gives build scripts the target triple; pass it on so the binary can print it.
fn main() {
    let target = std::env::var("TARGET").expect("cargo sets TARGET for build scripts");
    println!("cargo:rustc-env=WAVRY_DEMO_TARGET={target}");
    // Code generated into OUT_DIR (as prost or bindgen do): its file!() and panic locations name
    // the target dir, which a reproducible build must remap.
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    let code = "/// This file's path as the binary records it.\npub const GENERATED_FROM: &str = file!();\n";
    std::fs::write(std::path::Path::new(&out).join("generated.rs"), code).expect("write generated.rs");
    println!("cargo:rerun-if-changed=build.rs");
}
