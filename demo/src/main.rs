#[cfg(feature = "broken")]
compile_error!("the `broken` feature is enabled: this target is meant to fail");

// Only for tests: fails on aarch64 alone, so one cargo invocation can build one target and fail another.
#[cfg(all(feature = "broken-on-aarch64", target_arch = "aarch64"))]
compile_error!("the `broken-on-aarch64` feature is enabled on aarch64: this target is meant to fail");

mod generated {
    include!(concat!(env!("OUT_DIR"), "/generated.rs"));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let line = format!(
        "{} {} ({})",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION"),
        env!("WAVRY_DEMO_TARGET")
    );
    match args.first().map(String::as_str) {
        Some("--version") | Some("-V") | None => println!("{line}"),
        Some("--help") | Some("-h") => {
            println!("{line}\nUsage: wavry-demo [--version|--help]");
        }
        Some("--generated-from") => println!("{}", generated::GENERATED_FROM),
        Some(other) => {
            eprintln!("wavry-demo: unknown argument {other:?}");
            std::process::exit(2);
        }
    }
}
