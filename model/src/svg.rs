//! The Explorer picture of a path (to be written).

use crate::{Action, State, Warmup};

pub fn timeline(_model: &Warmup, _path: &[(State, Option<Action>)]) -> String {
    String::from("<svg xmlns='http://www.w3.org/2000/svg'></svg>")
}
