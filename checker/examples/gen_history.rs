//! Writes a generated register history as JSONL, for measuring `check_linearizability_file` by hand.
//!
//! `cargo run --release -p checker --example gen_history -- OUT OPS KEYS PROCESSES [stale]`

use checker::generate::{GenSpec, plant_stale_read, register_history, write_jsonl};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, ops, keys, processes, rest @ ..] = args.as_slice() else {
        return Err("usage: gen_history OUT OPS KEYS PROCESSES [stale]".into());
    };
    let spec = GenSpec {
        ops: ops.parse()?,
        keys: keys.parse()?,
        processes: processes.parse()?,
        info_per_mille: 10,
        seed: 42,
    };
    let mut history = register_history(spec);
    if rest.first().is_some_and(|s| s == "stale") {
        let at = plant_stale_read(&mut history, 3).ok_or("no read to make stale")?;
        eprintln!("stale read at record {at}");
    }
    write_jsonl(&history, std::fs::File::create(out)?)?;
    Ok(())
}
