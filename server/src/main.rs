//! The `openline` binary: everything lives in the library's [`openline_server::cli`].

fn main() -> std::process::ExitCode {
    openline_server::cli::main()
}
