// The system allocator instead (`--features system-alloc`) lets heap
// profilers (valgrind's dhat and massif, heaptrack) see every allocation.
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = server::config::Config::parse();
    match server::start(config).await {
        Ok(server) => {
            tracing::info!("Parley is listening on http://{}", server.addr);
            println!("Parley is running at http://{}", server.addr);
            server.run_until_signal().await;
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("server: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
