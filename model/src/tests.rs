use super::*;
use stateright::Checker;

fn check(variant: &str, bounds: Bounds) -> impl Checker<Warmup> {
    bounds
        .into_model(Variant::preset(variant).unwrap())
        .checker()
        .spawn_bfs()
        .join()
}

#[test]
fn smoke() {
    let c = check("v6.5.1", Bounds::default());
    println!("{} {}", c.unique_state_count(), c.state_count());
    for (n, p) in c.discoveries() {
        println!("{n}: {:#?}", p.into_actions());
    }
}
