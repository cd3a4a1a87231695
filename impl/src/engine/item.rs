//! An item: the mutation at one seqno (kv_engine's `Item`, `item.h`).

use super::ItemView;

/// What a mutation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ItemOp {
    Set,
    Delete,
    /// The deletion of an expired item (a new seqno).
    Expire,
}

impl ItemOp {
    pub fn name(self) -> &'static str {
        match self {
            ItemOp::Set => "set",
            ItemOp::Delete => "delete",
            ItemOp::Expire => "expire",
        }
    }
}

/// The mutation at one seqno.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub seqno: u64,
    pub key: String,
    pub op: ItemOp,
    /// The client's value; `None` for deletes and expiries.
    pub value: Option<String>,
    /// Absolute expiry time in seconds on the engine's clock.
    pub expiry: Option<u64>,
    pub cas: u64,
}

impl Item {
    pub(super) fn view(&self) -> ItemView {
        ItemView {
            seqno: self.seqno,
            key: std::borrow::Cow::Owned(self.key.clone()),
            op: std::borrow::Cow::Borrowed(self.op.name()),
            value: self.value.clone().map(std::borrow::Cow::Owned),
        }
    }

    /// Whether this is a set whose expiry time has passed at `now`.
    pub(super) fn is_expired_set(&self, now: u64) -> bool {
        self.op == ItemOp::Set && self.expiry.is_some_and(|e| e <= now)
    }

    /// `set k@2`-style, for divergence reports.
    pub fn describe(&self) -> String {
        match &self.value {
            Some(v) => format!("{} {}={v}", self.op.name(), self.key),
            None => format!("{} {}", self.op.name(), self.key),
        }
    }

    /// Two nodes hold "the same mutation" when key, op and value agree.
    pub fn same_content(&self, other: &Item) -> bool {
        self.key == other.key && self.op == other.op && self.value == other.value
    }
}
