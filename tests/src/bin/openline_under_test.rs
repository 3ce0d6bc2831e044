//! The real openline server and command line, built inside the test package so that the
//! acceptance tests can start it with `env!("CARGO_BIN_EXE_openline-under-test")`.

fn main() -> std::process::ExitCode {
    openline_server::cli::main()
}
