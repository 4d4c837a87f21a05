//! `feedcorpus generate-assets DIR` (hidden, for packaging): the man page and shell
//! completions, generated from the argument definitions themselves (clap_mangen, clap_complete),
//! so they never drift from the binary.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

#[derive(clap::Args)]
pub struct Args {
    dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    write_assets(&args.dir)
}

fn write_assets(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    let cmd = super::Cli::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    let man = dir.join("feedcorpus.1");
    std::fs::write(&man, page).map_err(|e| anyhow::anyhow!("{}: {e}", man.display()))?;
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        let mut cmd = cmd.clone();
        clap_complete::generate_to(shell, &mut cmd, "feedcorpus", dir)?;
    }
    Ok(())
}
