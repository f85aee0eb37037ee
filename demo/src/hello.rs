// A second binary whose name differs from its source file: found through cargo's JSON messages.
fn main() {
    println!(
        "wavry-hello {} ({}): hello",
        env!("CARGO_PKG_VERSION"),
        env!("WAVRY_DEMO_TARGET")
    );
}
