//! The `openline` binary: everything lives in the library ([`openline_server::main`]).

fn main() -> std::process::ExitCode {
    openline_server::main()
}
