//! The worked example of `docs/extending.md`: a property added outside the model, by wrapping
//! it, and checked exhaustively. Kept compiling and passing so that the doc stays true.

use stateright::{Checker, Model, Property};
use warmcheck_model::{Action, Bounds, State, Variant, Warmup};

/// `Warmup` with one more property. Everything else is delegated.
struct WithMine(Warmup);

impl Model for WithMine {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        self.0.init_states()
    }
    fn actions(&self, s: &State, out: &mut Vec<Action>) {
        self.0.actions(s, out)
    }
    fn next_state(&self, s: &State, a: Action) -> Option<State> {
        self.0.next_state(s, a)
    }
    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            // An invariant: the model never counts more crashes than its bound allows.
            Property::always(
                "crashes stay within the bound",
                |m: &WithMine, s: &State| s.crashes <= m.0.bounds.crashes,
            ),
            // A reachability check: the checker must find a state where the clean flag is set
            // while some vb's disk holds no mutation at all.
            Property::sometimes(
                "the clean flag is set over an empty disk",
                |_, s: &State| s.clean_flag && s.vbs.iter().any(|vb| vb.disk.history.is_empty()),
            ),
        ]
    }
}

#[test]
fn a_property_added_by_wrapping_the_model_is_checked() {
    let bounds = Bounds {
        keys: 1,
        writes: 1,
        crashes: 1,
        shutdowns: 1,
        ..Bounds::default()
    };
    let model = WithMine(bounds.into_model(Variant::preset("proposed").unwrap()));
    let checker = model.checker().threads(1).spawn_bfs().join();
    assert!(checker.is_done());
    assert!(
        checker.discovery("crashes stay within the bound").is_none(),
        "the invariant holds"
    );
    let witness = checker
        .discovery("the clean flag is set over an empty disk")
        .expect("reached");
    assert!(witness.last_state().clean_flag);
}
