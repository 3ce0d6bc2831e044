//! `openline-calendar`: openline with the `calendar` source added (SPEC R34). The line
//! `use openline_example_calendar as _;` is what links the source's registration in.

use openline_example_calendar as _;

fn main() -> std::process::ExitCode {
    openline_server::main()
}
