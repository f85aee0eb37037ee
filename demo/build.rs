// Cargo gives build scripts the target triple; pass it on so the binary can print it.
fn main() {
    let target = std::env::var("TARGET").expect("cargo sets TARGET for build scripts");
    println!("cargo:rustc-env=WAVRY_DEMO_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
