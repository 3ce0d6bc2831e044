//! `loadgen`: the HTTP load generator of openline (see benches/README.md).

fn main() -> std::process::ExitCode {
    openline_benches::loadgen::main()
}
