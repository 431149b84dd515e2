use clap::Parser;
use etcd_drill::cli::{self, Cli};
use tokio_util::sync::CancellationToken;

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                etcd_drill::exit_codes::BAD_INPUT
            } else {
                0
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let default = match cli.verbose {
        0 => "warn",
        1 => "etcd_drill=info",
        _ => "etcd_drill=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    // Piped (a CI log, `| less`): tables fit COLUMNS, else 80 columns; a terminal fits itself.
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        let columns = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(80);
        etcd_drill::report::table::fit_to(columns);
    }

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("etcd-drill: cannot start the async runtime: {e}");
            std::process::exit(etcd_drill::exit_codes::ENVIRONMENT);
        }
    };
    let code = runtime.block_on(async {
        let cancel = CancellationToken::new();
        tokio::spawn(cancel_on_signal(cancel.clone()));
        cli::main(cli, cancel).await
    });
    std::process::exit(code);
}

/// SIGINT or SIGTERM cancels the run; the runner then tears the sandbox down.
async fn cancel_on_signal(cancel: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    eprintln!(
        "etcd-drill: signal received; stopping and removing the sandbox (again to quit at once)"
    );
    cancel.cancel();
    // A second signal: the operator wants out now. `etcd-drill clean` removes what is left.
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    eprintln!("etcd-drill: second signal; quitting without teardown: run `etcd-drill clean`");
    std::process::exit(etcd_drill::exit_codes::INTERRUPTED);
}
